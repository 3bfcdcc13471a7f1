/**
 * Time from agent start to a schedulable GPU node (node bench/attestation.bench.ts), on the real
 * local control plane with the operator, the Coordinator and a simulated agent in this process.
 *
 * - baseline: the same path without attestation: patch a node label and wait until the
 *   operator's informer sees it (API server write + watch delivery): the floor of any gating;
 * - attest: a fresh agent on a new tainted GPU node (8 simulated GPUs): nonce, evidence, appraisal
 *   (SNP + 8 GPU reports), NodeAttestation status, grant, activation, read-back, and the node
 *   controller's label and untaint, until the informer sees the node schedulable.
 *
 * Env: ATTEST_BENCH_NODES (samples, default 8).
 */

import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent } from '../src/agent/agent.ts';
import { CoordinatorClient } from '../src/agent/coordinator-client.ts';
import {
  createSimulatedPlatform,
  SIMULATED_SNP_MEASUREMENT,
  SimulatedCvmSource,
  SimulatedGpuControl,
} from '../src/agent/evidence/simulated.ts';
import { GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../src/api/node-gating.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../src/dev/agent-identity.ts';
import { ControlPlane } from '../src/dev/control-plane.ts';
import { installCrds } from '../src/dev/install.ts';
import { localCoordinatorOptions } from '../src/dev/local-coordinator.ts';
import { waitFor } from '../src/dev/wait.ts';
import { silentLogger } from '../src/observability/log.ts';
import { startOperator } from '../src/operator/operator.ts';
import { issueCertificate } from '../src/tls/certificates.ts';
import { timeSimulation } from './lib/simulation-time.ts';

const SAMPLES = Number(process.env.ATTEST_BENCH_NODES ?? 8);
const GPUS = 8;
const NS = 'attestor-system';
const POLICY_HASH = createHash('sha256').update('bench').digest('hex');

const cp = await ControlPlane.start({ scheduler: false });
try {
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await ensureAgentServiceAccount(kc, NS);
  const platform = await createSimulatedPlatform();
  await kc.makeApiClient(k8s.CustomObjectsApi).createClusterCustomObject({
    group: 'attestor.dev',
    version: 'v1alpha1',
    plural: 'manifests',
    body: {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'bench' },
      spec: {
        referenceValues: {
          snp: [
            { measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } },
          ],
          gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
        },
        policies: [{ name: 'bench', hash: POLICY_HASH }],
        runtimeClasses: ['kata'],
        development: { acceptSimulatedEvidence: true },
      },
    },
  });
  const serving = await issueCertificate(cp.certificateAuthority, {
    commonName: 'coordinator',
    usage: 'server',
    ipAddresses: ['127.0.0.1'],
  });
  const operator = startOperator({
    kubeConfig: kc,
    log: silentLogger,
    namespace: NS,
    leaderElect: false,
    coordinator: localCoordinatorOptions(serving, platform, NS),
  });
  await waitFor(() => operator.manager.isLeader && operator.informers.manifests.get('bench')?.status?.hash, {
    timeoutMs: 30_000,
  });
  const url = `https://127.0.0.1:${await operator.coordinatorPort}`;
  const seen = (name: string, check: (n: k8s.V1Node) => boolean) =>
    waitFor(
      () => {
        const n = operator.informers.nodes.get(name);
        return n && check(n);
      },
      { timeoutMs: 60_000, intervalMs: 2 },
    );

  const baseline: number[] = [];
  const attest: number[] = [];
  const simulation: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const name = `bench-${i}`;
    await cp.createGpuNode(name, { gpus: GPUS });
    await seen(name, (n) => (n.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key));
    const tokens = await agentTokenSource(kc, NS, name);
    await tokens();

    // baseline: one label round trip through the API server to the informer
    const b0 = performance.now();
    await core.patchNode(
      { name, body: { metadata: { labels: { 'bench/round-trip': String(i) } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await seen(name, (n) => n.metadata?.labels?.['bench/round-trip'] === String(i));
    baseline.push(performance.now() - b0);

    const client = new CoordinatorClient(url, cp.caPem, tokens);
    const gpus = new SimulatedGpuControl(platform, {
      uuids: Array.from({ length: GPUS }, (_, g) => `GPU-${name}-${g}`),
    });
    const cvm = new SimulatedCvmSource(platform, { platform: 'snp', policyHash: POLICY_HASH });
    // Time spent making simulated evidence (real hardware does this in firmware) is measured apart.
    const simulated = timeSimulation(cvm, gpus);
    const agent = new NodeAgent({ nodeName: name, client, cvm, gpus, log: silentLogger });
    const a0 = performance.now();
    const outcome = await agent.attestOnce();
    if (!outcome.accepted || !outcome.activated) throw new Error(`attestation failed: ${JSON.stringify(outcome)}`);
    await seen(
      name,
      (n) =>
        n.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true' &&
        !(n.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key),
    );
    attest.push(performance.now() - a0);
    simulation.push(simulated());
    await client.close();
  }
  await operator.stop();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const max = (xs: number[]) => Math.max(...xs);
  const b = median(baseline);
  console.log(`samples: ${SAMPLES} nodes, ${GPUS} simulated GPUs each, SNP CVM`);
  console.log('| path | median ms | max ms | ratio to baseline |');
  console.log('|---|---:|---:|---:|');
  console.log(`| baseline: label patch -> informer | ${b.toFixed(1)} | ${max(baseline).toFixed(1)} | 1.0 |`);
  console.log(
    `| agent start -> node schedulable | ${median(attest).toFixed(1)} | ${max(attest).toFixed(1)} | ${(median(attest) / b).toFixed(1)} |`,
  );
  console.log(
    `| of which: making the simulated evidence | ${median(simulation).toFixed(1)} | ${max(simulation).toFixed(1)} | ${(median(simulation) / b).toFixed(1)} |`,
  );
  const rest = attest.map((a, i) => a - simulation[i]!);
  console.log(
    `| without the simulation (protocol, appraisal, status, gating) | ${median(rest).toFixed(1)} | ${max(rest).toFixed(1)} | ${(median(rest) / b).toFixed(1)} |`,
  );
} finally {
  await cp.stop();
}
