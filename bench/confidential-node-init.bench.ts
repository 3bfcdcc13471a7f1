/**
 * Time from `attestor init --confidential-node` start to the workload certificate written (node
 * bench/confidential-node-init.bench.ts), on the real local control plane (with the scheduler and
 * kwok) with the operator and the Coordinator in this process, a node agent on simulated evidence
 * serving its countersigning endpoint, against one authenticated Coordinator round trip.
 *
 * - baseline: `POST /v1/workload/nonce` with the pod's token (HTTPS, a TokenReview, a nonce);
 * - init: a fresh `attestor init --confidential-node` for a new pod: P-256 key, key written, nonce,
 *   proof of possession, the agent's countersignature (HTTP, a TokenReview, the pod read, the
 *   proof checked, a JWS), the Coordinator's decision (a TokenReview, the pod read, the node's
 *   attestation and accepted evidence, the countersignature and proof verified), certificate
 *   issued and recorded on the pod, checked and written (mesh-ca.pem, cert.pem).
 *
 * Env: CNODE_BENCH_PODS (samples, default 8).
 */

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent } from '../src/agent/agent.ts';
import { CoordinatorClient } from '../src/agent/coordinator-client.ts';
import { startCountersignServer } from '../src/agent/countersign-server.ts';
import { Countersigner } from '../src/agent/countersigner.ts';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_SNP_MEASUREMENT,
  SimulatedCvmSource,
  SimulatedGpuControl,
} from '../src/agent/evidence/simulated.ts';
import { WorkloadInit } from '../src/agent/workload-init.ts';
import { GPU_ATTESTED_LABEL } from '../src/api/node-gating.ts';
import { TokenReviewWorkloadAuthenticator } from '../src/coordinator/workload-auth.ts';
import { ApiWorkloadPods } from '../src/coordinator/workload-pods.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../src/dev/agent-identity.ts';
import { ControlPlane } from '../src/dev/control-plane.ts';
import { installCrds } from '../src/dev/install.ts';
import { localCoordinatorOptions } from '../src/dev/local-coordinator.ts';
import { waitFor } from '../src/dev/wait.ts';
import { silentLogger } from '../src/observability/log.ts';
import { startOperator } from '../src/operator/operator.ts';
import { NODE_AGENT_AUDIENCE } from '../src/protocol/countersignature.ts';
import { WORKLOAD_AUDIENCE, WORKLOAD_NONCE_PATH } from '../src/protocol/workload.ts';
import { issueCertificate } from '../src/tls/certificates.ts';

const SAMPLES = Number(process.env.CNODE_BENCH_PODS ?? 8);
const NS = 'bench';
const SYSTEM = 'attestor-system';
const NODE = 'bench-gpu';
const POLICY = 'package agent_policy\n# bench\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };

const cp = await ControlPlane.start();
const dir = mkdtempSync(join(tmpdir(), 'cnode-bench-'));
try {
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  for (const name of [NS, SYSTEM]) await core.createNamespace({ body: { metadata: { name } } });
  await ensureAgentServiceAccount(kc, SYSTEM);
  await kc.makeApiClient(k8s.NodeV1Api).createRuntimeClass({ body: { metadata: { name: 'kata' }, handler: 'kata' } });
  await cp.createGpuNode(NODE, { gpus: SAMPLES });
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
            { role: 'node', measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: tcb },
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
    namespace: SYSTEM,
    leaderElect: false,
    coordinator: localCoordinatorOptions(serving, platform, SYSTEM),
    workload: {
      initImage: `registry.example/attestor@sha256:${'0'.repeat(64)}`,
      coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
      coordinatorCaPem: cp.caPem,
    },
  });
  await waitFor(() => operator.manager.isLeader && operator.identity()?.meshCa, { timeoutMs: 60_000 });
  const url = `https://127.0.0.1:${await operator.coordinatorPort}`;

  // The node agent: attests the node (simulated SNP CVM and GPUs) and serves countersigning.
  const agentClient = new CoordinatorClient(url, cp.caPem, await agentTokenSource(kc, SYSTEM, NODE));
  const agent = new NodeAgent({
    nodeName: NODE,
    client: agentClient,
    cvm: new SimulatedCvmSource(platform, { platform: 'snp', policyHash: POLICY_HASH }),
    gpus: new SimulatedGpuControl(platform, { uuids: Array.from({ length: SAMPLES }, (_, g) => `GPU-bench-${g}`) }),
    log: silentLogger,
  });
  const outcome = await agent.attestOnce();
  if (!outcome.accepted || !outcome.activated) throw new Error(`node not attested: ${JSON.stringify(outcome)}`);
  const authenticator = new TokenReviewWorkloadAuthenticator(kc, [NODE_AGENT_AUDIENCE]);
  const podsApi = new ApiWorkloadPods(kc);
  const server = await startCountersignServer({
    host: '127.0.0.1',
    port: 0,
    log: silentLogger,
    countersigner: new Countersigner({
      node: NODE,
      authenticate: (authorization) => authenticator.authenticate(authorization),
      readPod: (namespace, name) => podsApi.read(namespace, name),
      sign: (pod, now) => agent.countersign(pod, now),
    }),
  });
  await waitFor(async () => (await core.readNode({ name: NODE })).metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true', {
    timeoutMs: 60_000,
    description: 'the node open',
  });

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
        gpusPerReplica: 1,
        runtimeClassName: 'kata',
        policy: { inline: POLICY },
        deploymentModel: 'confidential-node',
      },
    },
  });
  const pods = await waitFor(
    () => {
      const list = operator.informers.pods
        .list(NS)
        .filter((p) => p.metadata?.labels?.['app.kubernetes.io/instance'] === 'llm' && p.spec?.nodeName === NODE);
      return list.length === SAMPLES ? list : undefined;
    },
    { timeoutMs: 90_000, description: `${SAMPLES} pods on ${NODE}` },
  );

  const baseline: number[] = [];
  const init: number[] = [];
  for (const pod of pods) {
    const { name, uid } = pod.metadata as { name: string; uid: string };
    // Tokens as the kubelet projects them, made before the clock starts (the kubelet has them ready).
    const token = async (audience: string) => {
      const request = await core.createNamespacedServiceAccountToken({
        name: 'default',
        namespace: NS,
        body: { spec: { audiences: [audience], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid } } },
      });
      const t = request.status?.token;
      if (!t) throw new Error(`TokenRequest for ${name} returned no token`);
      return t;
    };
    const workloadToken = await token(WORKLOAD_AUDIENCE);
    const agentToken = await token(NODE_AGENT_AUDIENCE);
    const client = new CoordinatorClient(url, cp.caPem, async () => workloadToken);

    // baseline: one authenticated Coordinator round trip (the nonce it issues goes unused)
    const b0 = performance.now();
    await client.post(WORKLOAD_NONCE_PATH, {});
    baseline.push(performance.now() - b0);

    const out = mkdtempSync(join(dir, `${name}-`));
    const i0 = performance.now();
    const certified = await new WorkloadInit({
      pod: { namespace: NS, name },
      client,
      node: { url: `http://127.0.0.1:${server.port}`, token: async () => agentToken },
      out,
      log: silentLogger,
    }).certify();
    const elapsed = performance.now() - i0;
    if (!certified.certified) throw new Error(`not certified: ${JSON.stringify(certified)}`);
    init.push(elapsed);
    await client.close();
  }
  await server.close();
  await agentClient.close();
  await operator.stop();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const max = (xs: number[]) => Math.max(...xs);
  const b = median(baseline);
  console.log(`samples: ${SAMPLES} confidential-node pods on one attested node (simulated SEV-SNP CVM)`);
  console.log('| path | median ms | max ms | ratio to baseline |');
  console.log('|---|---:|---:|---:|');
  console.log(
    `| baseline: POST /v1/workload/nonce (HTTPS, TokenReview) | ${b.toFixed(1)} | ${max(baseline).toFixed(1)} | 1.0 |`,
  );
  console.log(
    `| attestor init --confidential-node start -> certificate written | ${median(init).toFixed(1)} | ${max(init).toFixed(1)} | ${(median(init) / b).toFixed(1)} |`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
  await cp.stop();
}
