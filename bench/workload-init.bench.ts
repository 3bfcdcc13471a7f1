/**
 * Time from `attestor init` start to the workload certificate written (node
 * bench/workload-init.bench.ts), on the real local control plane with the operator and the
 * Coordinator in this process, against the simulated evidence collection alone.
 *
 * - baseline: collecting the simulated evidence alone (an SEV-SNP pod VM report and one GPU
 *   report per GPU, fresh sources, fresh REPORT_DATA), the part real hardware does in firmware;
 * - init: a fresh `attestor init` for a new pod-CVM pod (GPUS simulated GPUs): P-256 key, key
 *   written, nonce, the same evidence collection, appraisal against the pod entries (SNP + GPU
 *   reports), grant, its check against the workload JWKS, activation, signed read-back,
 *   certificate issued and recorded on the pod, checked and written (mesh-ca.pem, cert.pem).
 *
 * Env: WORKLOAD_BENCH_PODS (samples, default 8), WORKLOAD_BENCH_GPUS (per pod, default 1).
 */

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { CoordinatorClient } from '../src/agent/coordinator-client.ts';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_POD_MEASUREMENT,
  SimulatedCvmSource,
  SimulatedGpuControl,
} from '../src/agent/evidence/simulated.ts';
import { WorkloadInit } from '../src/agent/workload-init.ts';
import { ControlPlane } from '../src/dev/control-plane.ts';
import { installCrds } from '../src/dev/install.ts';
import { localCoordinatorOptions } from '../src/dev/local-coordinator.ts';
import { waitFor } from '../src/dev/wait.ts';
import { silentLogger } from '../src/observability/log.ts';
import { startOperator } from '../src/operator/operator.ts';
import { WORKLOAD_AUDIENCE } from '../src/protocol/workload.ts';
import { issueCertificate } from '../src/tls/certificates.ts';
import { timeSimulation } from './lib/simulation-time.ts';

const SAMPLES = Number(process.env.WORKLOAD_BENCH_PODS ?? 8);
const GPUS = Number(process.env.WORKLOAD_BENCH_GPUS ?? 1);
const NS = 'bench';
const POLICY = 'package agent_policy\n# bench\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };

const cp = await ControlPlane.start({ scheduler: false });
const dir = mkdtempSync(join(tmpdir(), 'workload-bench-'));
try {
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  // The API server admits no pod that names a RuntimeClass it does not have.
  await kc.makeApiClient(k8s.NodeV1Api).createRuntimeClass({ body: { metadata: { name: 'kata' }, handler: 'kata' } });
  const platform = await createSimulatedPlatform();
  await custom.createClusterCustomObject({
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
            { role: 'pod', measurements: [SIMULATED_POD_MEASUREMENT], minimumTCB: tcb },
            { role: 'coordinator', measurements: [SIMULATED_COORDINATOR_MEASUREMENT], minimumTCB: tcb },
          ],
          gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
        },
        policies: [
          { name: 'bench', hash: POLICY_HASH },
          { name: 'coordinator', role: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH },
        ],
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
    namespace: 'attestor-system',
    leaderElect: false,
    coordinator: localCoordinatorOptions(serving, platform, 'attestor-system'),
    workload: {
      initImage: `registry.example/attestor@sha256:${'0'.repeat(64)}`,
      coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
      coordinatorCaPem: cp.caPem,
    },
  });
  await waitFor(() => operator.manager.isLeader && operator.identity()?.meshCa, { timeoutMs: 60_000 });
  await custom.createNamespacedCustomObject({
    group: 'attestor.dev',
    version: 'v1alpha1',
    plural: 'aiworkers',
    namespace: NS,
    body: {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name: 'llm', namespace: NS },
      spec: {
        image: `registry.example/vllm@sha256:${'1'.repeat(64)}`,
        model: 'm',
        replicas: SAMPLES,
        gpusPerReplica: GPUS,
        runtimeClassName: 'kata',
        policy: { inline: POLICY },
      },
    },
  });
  // One pod per sample: each is certified once (the per-pod rate stays out of the way).
  const pods = await waitFor(
    () => {
      const list = operator.informers.pods
        .list(NS)
        .filter((p) => p.metadata?.labels?.['app.kubernetes.io/instance'] === 'llm');
      return list.length === SAMPLES ? list : undefined;
    },
    { timeoutMs: 60_000, description: `${SAMPLES} pods` },
  ).catch((err) => {
    throw new Error(
      `${err.message}; AIWorker status: ${JSON.stringify(operator.informers.aiWorkers.get('llm', NS)?.status)}`,
    );
  });
  const url = `https://127.0.0.1:${await operator.coordinatorPort}`;

  const baseline: number[] = [];
  const init: number[] = [];
  const simulation: number[] = [];
  for (const [i, pod] of pods.entries()) {
    const { name, uid } = pod.metadata as { name: string; uid: string };
    const uuids = Array.from({ length: GPUS }, (_, g) => `GPU-${uid}-${g}`);
    // A token as the kubelet projects it, made before the clock starts (the kubelet has it ready).
    const request = await core.createNamespacedServiceAccountToken({
      name: 'default',
      namespace: NS,
      body: { spec: { audiences: [WORKLOAD_AUDIENCE], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid } } },
    });
    const token = request.status?.token;
    if (!token) throw new Error(`TokenRequest for ${name} returned no token`);

    // baseline: the simulated evidence collection alone
    const reportData = new Uint8Array(64).fill(i);
    const b0 = performance.now();
    await new SimulatedCvmSource(platform, {
      platform: 'snp',
      measurement: SIMULATED_POD_MEASUREMENT,
      policyHash: POLICY_HASH,
    }).collect(reportData);
    await new SimulatedGpuControl(platform, { uuids: uuids.map((u) => `${u}-baseline`) }).collect(
      reportData.subarray(0, 32),
    );
    baseline.push(performance.now() - b0);

    const cvm = new SimulatedCvmSource(platform, {
      platform: 'snp',
      measurement: SIMULATED_POD_MEASUREMENT,
      policyHash: POLICY_HASH,
    });
    const gpus = new SimulatedGpuControl(platform, { uuids });
    const simulated = timeSimulation(cvm, gpus);
    const client = new CoordinatorClient(url, cp.caPem, async () => token);
    const out = mkdtempSync(join(dir, `${name}-`));
    const i0 = performance.now();
    const outcome = await new WorkloadInit({
      pod: { namespace: NS, name },
      client,
      cvm,
      gpus,
      out,
      log: silentLogger,
    }).certify();
    const elapsed = performance.now() - i0;
    if (!outcome.certified) throw new Error(`not certified: ${JSON.stringify(outcome)}`);
    init.push(elapsed);
    simulation.push(simulated());
    await client.close();
  }
  await operator.stop();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const max = (xs: number[]) => Math.max(...xs);
  const b = median(baseline);
  console.log(`samples: ${SAMPLES} pods, ${GPUS} simulated GPU(s) each, SEV-SNP pod VM`);
  console.log('| path | median ms | max ms | ratio to baseline |');
  console.log('|---|---:|---:|---:|');
  console.log(
    `| baseline: simulated evidence collection alone | ${b.toFixed(1)} | ${max(baseline).toFixed(1)} | 1.0 |`,
  );
  console.log(
    `| attestor init start -> certificate written | ${median(init).toFixed(1)} | ${max(init).toFixed(1)} | ${(median(init) / b).toFixed(1)} |`,
  );
  console.log(
    `| of which: making the simulated evidence | ${median(simulation).toFixed(1)} | ${max(simulation).toFixed(1)} | ${(median(simulation) / b).toFixed(1)} |`,
  );
  const rest = init.map((a, i) => a - simulation[i]!);
  console.log(
    `| without the simulation (key, protocol, appraisal, grant, activation, certificate, files) | ${median(rest).toFixed(1)} | ${max(rest).toFixed(1)} | ${(median(rest) / b).toFixed(1)} |`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
  await cp.stop();
}
