/**
 * The operator at fleet size (npm run bench -- scale), on the real local control plane with
 * kube-scheduler, kube-controller-manager and kwok running the pods:
 *
 * 1. nodes: SCALE_NODES kwok GPU nodes (8 GPUs each), each attested by its own simulated agent
 *    running its real loop (all agents in this process, SCALE_CONCURRENCY starting at a time; their
 *    evidence sources made and warmed beforehand, so that what is timed is the protocol, the
 *    appraisal and the gating), until every node is open (labelled, untainted);
 * 2. aiworkers: SCALE_AIWORKERS AIWorkers (1 replica, 2 GPUs, confidential-node) across
 *    SCALE_NAMESPACES namespaces, until each reports its replica ready on an attested node; the
 *    validating and mutating webhooks judge every pod and binding meanwhile;
 * 3. certifying: each pod's `attestor init --confidential-node`, run here (bench/lib/pod-inits.ts)
 *    with tokens bound to the pod that the driver makes as the kubelet would, against its node's
 *    agent's countersigning endpoint (one server per simulated agent) and the Coordinator, until
 *    every AIWorker is Ready (kstatus) with reason Available: its replica attested;
 * 4. idle: SCALE_IDLE_SECONDS (default 60) after convergence, counting the operator's writes;
 * 5. re-appraisal: a Manifest change, until every node is current for the new Manifest again
 *    (on retained evidence, or, where it is older than the Manifest's evidenceMaxAge, on the
 *    fresh evidence its agent sends when the watch tells it).
 *
 * The operator runs in its own process (bench/lib/operator-process.ts), as its own service account
 * (cluster-admin) so that the API server's audit log counts exactly its writes (Events excluded);
 * the API server's apiserver_request_total gives every client's requests by verb and resource.
 * It holds no simulator key: it gets the simulated platform's public roots and collateral, a
 * collateral cache directory with OCSP answers for every simulated GPU certificate signed before
 * the clock starts (read with fetching off, as in an air-gapped cluster), and its own pod VM's
 * evidence from the driver on request (bench/lib/operator-child.ts). RSS (VmHWM) and CPU
 * (utime + stime) are that process's, read from /proc; the driver's (agents, pod inits, its
 * informers) are reported apart. The driver waits on its own informers, not the operator's.
 * kube-controller-manager and kube-scheduler run with client QPS raised (CLIENT_QPS below), and
 * kube-controller-manager with a longer node grace period (NODE_MONITOR_GRACE).
 *
 * Last line: `scale: <nodes> nodes <aiworkers> aiworkers converged in <s> s, rss <MB> MB, <n> writes per aiworker`.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent } from '../src/agent/agent.ts';
import { CoordinatorClient } from '../src/agent/coordinator-client.ts';
import { type RunningCountersignServer, startCountersignServer } from '../src/agent/countersign-server.ts';
import { Countersigner } from '../src/agent/countersigner.ts';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_SNP_MEASUREMENT,
  SimulatedCvmSource,
  SimulatedGpuControl,
} from '../src/agent/evidence/simulated.ts';
import { AIWORKER_PLURAL, type AIWorker } from '../src/api/aiworker.ts';
import { AI_WORKER_POD_SELECTOR } from '../src/api/aiworker-labels.ts';
import { GROUP, VERSION } from '../src/api/common.ts';
import { MANIFEST_PLURAL, type Manifest } from '../src/api/manifest.ts';
import { NODE_ATTESTATION_PLURAL, type NodeAttestation } from '../src/api/node-attestation.ts';
import { GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../src/api/node-gating.ts';
import { policyHash } from '../src/controllers/aiworker/policy.ts';
import { Informer } from '../src/controllers/runtime/informer.ts';
import { TokenReviewWorkloadAuthenticator } from '../src/coordinator/workload-auth.ts';
import { ApiWorkloadPods } from '../src/coordinator/workload-pods.ts';
import { agentTokenSource, agentUsername, ensureAgentServiceAccount } from '../src/dev/agent-identity.ts';
import { type AuditEvent, auditedWrites } from '../src/dev/audit-log.ts';
import { ControlPlane } from '../src/dev/control-plane.ts';
import { installCrds } from '../src/dev/install.ts';
import { simulatedCoordinatorEvidence } from '../src/dev/local-coordinator.ts';
import { waitFor } from '../src/dev/wait.ts';
import { silentLogger } from '../src/observability/log.ts';
import { NODE_AGENT_AUDIENCE } from '../src/protocol/countersignature.ts';
import { issueCertificate } from '../src/tls/certificates.ts';
import { installWebhookConfigurations } from '../src/webhook/configuration-installer.ts';
import { OperatorChild, type OperatorUsage, writeOcspAnswers } from './lib/operator-child.ts';
import { PodInits } from './lib/pod-inits.ts';
import { timeSimulation } from './lib/simulation-time.ts';

const NODES = Number(process.env.SCALE_NODES ?? 500);
const AIWORKERS = Number(process.env.SCALE_AIWORKERS ?? 1000);
const NAMESPACES = Math.max(1, Math.min(AIWORKERS, Number(process.env.SCALE_NAMESPACES ?? 50)));
const CONCURRENCY = Number(process.env.SCALE_CONCURRENCY ?? 32);
const IDLE_SECONDS = Number(process.env.SCALE_IDLE_SECONDS ?? 60);
const PHASE_TIMEOUT_MS = Number(process.env.SCALE_TIMEOUT_SECONDS ?? 1800) * 1000;
const GPUS = 8;
const GPUS_PER_WORKER = 2;
const NS = 'attestor-system';
const OPERATOR_SA = 'attestor-scale-operator';
const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
const POLICY_HASH = createHash('sha256').update('bench').digest('hex');
const IMAGE = `registry.example/vllm@sha256:${'c5'.repeat(32)}`;
const INIT_IMAGE = `registry.example/attestor@sha256:${'c6'.repeat(32)}`;
/** Client QPS and burst of kube-controller-manager and kube-scheduler (defaults 20/30 and 50/100). */
const CLIENT_QPS = { qps: 500, burst: 1000 };
/** kube-controller-manager's --node-monitor-grace-period (default 50s): see below. */
const NODE_MONITOR_GRACE = '10m';

if (NODES * GPUS < AIWORKERS * GPUS_PER_WORKER)
  throw new Error(`${NODES} nodes of ${GPUS} GPUs cannot hold ${AIWORKERS} workers of ${GPUS_PER_WORKER} GPUs`);

/** Runs `work` over `items`, `limit` at a time. */
/** Progress on stderr (the report goes to stdout). */
const progress = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);

async function pool<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
}

const qps = ['--kube-api-qps', String(CLIENT_QPS.qps), '--kube-api-burst', String(CLIENT_QPS.burst)];
// kwok posts a node's status every 20-45 s (bin/kwok-stages.yaml); on a loaded machine that can
// pass kube-controller-manager's default grace of 50 s, and then it marks the node's pods not
// Ready, which kwok never reverts for a running pod: the AIWorkers would never converge. The
// bench's nodes never fail, so the grace is raised (NODE_MONITOR_GRACE below).
const cp = await ControlPlane.start({
  extraArgs: {
    'kube-controller-manager': [...qps, '--node-monitor-grace-period', NODE_MONITOR_GRACE],
    'kube-scheduler': qps,
  },
});
const certDir = mkdtempSync(join(tmpdir(), 'attestor-scale-'));
let operator: OperatorChild | undefined;
try {
  const admin = cp.kubeConfig();
  await installCrds(admin);
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const custom = admin.makeApiClient(k8s.CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await ensureAgentServiceAccount(admin, NS);
  await admin
    .makeApiClient(k8s.NodeV1Api)
    .createRuntimeClass({ body: { metadata: { name: 'kata' }, handler: 'kata' } });

  // The operator as its own service account: the audit log (service accounts only) records its calls.
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: OPERATOR_SA } } });
  await admin.makeApiClient(k8s.RbacAuthorizationV1Api).createClusterRoleBinding({
    body: {
      metadata: { name: OPERATOR_SA },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_SA, namespace: NS }],
    },
  });
  const token = (
    await core.createNamespacedServiceAccountToken({
      name: OPERATOR_SA,
      namespace: NS,
      body: { spec: { expirationSeconds: 24 * 3600 } },
    })
  ).status?.token;
  if (!token) throw new Error('TokenRequest returned no token');
  const cluster = admin.getCurrentCluster()!;
  const operatorUser = `system:serviceaccount:${NS}:${OPERATOR_SA}`;

  const platform = await createSimulatedPlatform();
  const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
  // Node CVMs and the Coordinator's own pod VM (whose evidence gets it its mesh CA, which issues
  // the pods' workload certificates).
  const manifestSpec = (policies: string[]) => ({
    referenceValues: {
      snp: [
        { name: 'node-cvm', role: 'node', measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: tcb },
        {
          name: 'coordinator',
          role: 'coordinator',
          measurements: [SIMULATED_COORDINATOR_MEASUREMENT],
          minimumTCB: tcb,
        },
      ],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [
      ...policies.map((hash, i) => ({ name: `bench-${i}`, hash })),
      { name: 'coordinator', role: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH },
    ],
    runtimeClasses: ['kata'],
    development: { acceptSimulatedEvidence: true },
  });
  await custom.createClusterCustomObject({
    group: 'attestor.dev',
    version: 'v1alpha1',
    plural: 'manifests',
    body: {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'Manifest',
      metadata: { name: 'bench' },
      spec: manifestSpec([POLICY_HASH, policyHash(POLICY)]),
    },
  });
  const serving = await issueCertificate(cp.certificateAuthority, {
    commonName: 'attestor',
    usage: 'server',
    ipAddresses: ['127.0.0.1'],
  });
  writeFileSync(join(certDir, 'tls.crt'), serving.certificatePem);
  writeFileSync(join(certDir, 'tls.key'), serving.privateKeyPem, { mode: 0o600 });

  // Evidence sources, agent pods and tokens made beforehand (not what is measured).
  progress(`preparing ${NODES} nodes`);
  const prep0 = performance.now();
  const names = Array.from({ length: NODES }, (_, i) => `gpu-${String(i).padStart(4, '0')}`);
  await pool(names, 16, async (name) => {
    await cp.createGpuNode(name, { gpus: GPUS });
  });
  const agents: Array<{
    name: string;
    tokens: () => Promise<string>;
    cvm: SimulatedCvmSource;
    gpus: SimulatedGpuControl;
  }> = [];
  // Each agent's countersigning endpoint (one server per simulated agent, as one per node), which
  // signs with the agent key of the NodeAgent that phase 1 starts for its node.
  const nodeAgents = new Map<string, NodeAgent>();
  const gpuChains: Array<{ uuid: string; certificateChain: string }> = [];
  const countersignServers = new Map<string, RunningCountersignServer>();
  const agentAuthenticator = new TokenReviewWorkloadAuthenticator(admin, [NODE_AGENT_AUDIENCE]);
  const agentPods = new ApiWorkloadPods(admin);
  await pool(names, 8, async (name) => {
    const cvm = new SimulatedCvmSource(platform, { platform: 'snp', policyHash: POLICY_HASH });
    const gpus = new SimulatedGpuControl(platform, {
      uuids: Array.from({ length: GPUS }, (_, g) => `GPU-${name}-${g}`),
    });
    // Each GPU's device certificates, made once; the operator process gets OCSP answers for them.
    for (const g of await gpus.collect(new Uint8Array(32)))
      gpuChains.push({ uuid: g.uuid, certificateChain: g.certificateChainPem });
    const tokens = await agentTokenSource(admin, NS, name);
    await tokens();
    agents.push({ name, tokens, cvm, gpus });
    const server = await startCountersignServer({
      host: '127.0.0.1',
      port: 0,
      log: silentLogger,
      countersigner: new Countersigner({
        node: name,
        authenticate: (authorization) => agentAuthenticator.authenticate(authorization),
        readPod: (namespace, pod) => agentPods.read(namespace, pod),
        sign: async (pod, now) => {
          const agent = nodeAgents.get(name);
          return agent
            ? agent.countersign(pod, now)
            : { ok: false as const, final: false, reason: 'the agent has not started' };
        },
      }),
    });
    countersignServers.set(name, server);
  });

  // The driver's own view of the cluster (its informers, as its own client): what it waits on.
  const custom0 = admin.makeApiClient(k8s.CustomObjectsApi);
  const listCustom =
    <T extends k8s.KubernetesObject>(plural: string) =>
    async () =>
      (await custom0.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural,
      })) as k8s.KubernetesListObject<T>;
  const workerPodSelector = Object.entries(AI_WORKER_POD_SELECTOR)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const seen = {
    nodes: new Informer<k8s.V1Node>({
      kubeConfig: admin,
      log: silentLogger,
      resource: 'nodes',
      path: '/api/v1/nodes',
      list: () => core.listNode(),
    }),
    manifests: new Informer<Manifest>({
      kubeConfig: admin,
      log: silentLogger,
      resource: MANIFEST_PLURAL,
      path: `/apis/${GROUP}/${VERSION}/${MANIFEST_PLURAL}`,
      list: listCustom<Manifest>(MANIFEST_PLURAL),
    }),
    nodeAttestations: new Informer<NodeAttestation>({
      kubeConfig: admin,
      log: silentLogger,
      resource: NODE_ATTESTATION_PLURAL,
      path: `/apis/${GROUP}/${VERSION}/${NODE_ATTESTATION_PLURAL}`,
      list: listCustom<NodeAttestation>(NODE_ATTESTATION_PLURAL),
    }),
    aiWorkers: new Informer<AIWorker>({
      kubeConfig: admin,
      log: silentLogger,
      resource: AIWORKER_PLURAL,
      path: `/apis/${GROUP}/${VERSION}/${AIWORKER_PLURAL}`,
      list: listCustom<AIWorker>(AIWORKER_PLURAL),
    }),
    // What the kubelets watch: the AI worker pods, to run each one's init once it is scheduled.
    pods: new Informer<k8s.V1Pod>({
      kubeConfig: admin,
      log: silentLogger,
      resource: 'pods',
      path: '/api/v1/pods',
      labelSelector: workerPodSelector,
      list: () => core.listPodForAllNamespaces({ labelSelector: workerPodSelector }),
    }),
  };
  for (const informer of Object.values(seen)) informer.start();
  for (const informer of Object.values(seen)) await informer.waitForSync();

  // OCSP answers for every simulated GPU certificate, signed before the clock starts into the
  // operator's collateral cache, read with fetching off as in an air-gapped cluster (the simulated
  // NVIDIA responder's signing is not the operator's work). They are good for an hour.
  const collateralCache = join(certDir, 'collateral');
  const ocspAnswers = await writeOcspAnswers(platform, gpuChains, collateralCache, new Date());
  const prepSeconds = (performance.now() - prep0) / 1000;

  // The driver process: agents, pod inits and informers (the operator has its own, below).
  const driverRssBefore = process.memoryUsage().rss;
  let driverPeakRss = driverRssBefore;
  const sampler = setInterval(() => {
    driverPeakRss = Math.max(driverPeakRss, process.memoryUsage().rss);
  }, 250);
  const coordinatorEvidence = simulatedCoordinatorEvidence(platform);
  operator = await OperatorChild.start(
    {
      cluster,
      user: { name: OPERATOR_SA, token },
      namespace: NS,
      serving: { cert: serving.certificatePem, key: serving.privateKeyPem },
      agentUsernames: [agentUsername(NS)],
      trust: {
        snp: [platform.snp.rootSet],
        tdx: (platform.trust.tdx ?? []).map((a) => new Uint8Array(a.cert.raw)),
        gpu: platform.trust.gpu ?? {},
      },
      collateral: platform.collateral,
      collateralCache,
      ownEvidenceKind: coordinatorEvidence.kind,
      workload: {
        initImage: INIT_IMAGE,
        coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
        coordinatorCaPem: cp.caPem,
      },
      webhookTls: { certFile: join(certDir, 'tls.crt'), keyFile: join(certDir, 'tls.key') },
    },
    coordinatorEvidence,
  );
  const startupCpu = operator.cpuSeconds();
  await waitFor(() => seen.manifests.get('bench')?.status?.hash, {
    timeoutMs: 60_000,
    description: 'operator leading, Manifest active',
  });
  await installWebhookConfigurations(admin, {
    endpoint: { url: `https://127.0.0.1:${operator.webhookPort}` },
    caBundlePem: cp.caPem,
    excludedNamespaces: ['kube-system', NS],
  });
  const isOpen = (name: string) => {
    const n = seen.nodes.get(name);
    return (
      n?.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true' &&
      !(n.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key)
    );
  };
  await waitFor(
    () => names.every((name) => (seen.nodes.get(name)?.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key)),
    { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 200, description: 'every GPU node closed before attestation' },
  );
  const metrics0 = apiServerMetrics(cp);
  const audit0 = statSync(cp.auditLogPath).size;

  // Phase 1: every node attested by its agent, until every node is open.
  progress('phase 1: nodes');
  /** CPU seconds so far of every process on the machine's two cores: where each phase's time goes. */
  const cpuByProcess = (): Map<string, number> => {
    const own = process.cpuUsage();
    const out = new Map<string, number>([
      ['operator', operator!.cpuSeconds()],
      ['driver (agents, pod inits, simulated hardware)', (own.user + own.system) / 1e6],
    ]);
    for (const name of ['kube-apiserver', 'etcd', 'kube-controller-manager', 'kube-scheduler', 'kwok']) {
      const pid = cp.process(name)?.pid;
      if (pid !== undefined) out.set(name, procCpuSeconds(pid));
    }
    return out;
  };
  const url = `https://127.0.0.1:${operator.coordinatorPort}`;
  // Each agent runs its real loop (attest, then watch the Manifest and attest again when told);
  // CONCURRENCY of them start at a time, the next when one's node is open.
  const stopAgents = new AbortController();
  const running: Array<Promise<void>> = [];
  const clients: CoordinatorClient[] = [];
  const simulatedTotals: Array<() => number> = [];
  const t0 = performance.now();
  const cpuAt = [cpuByProcess()];
  await pool(agents, CONCURRENCY, async ({ name, tokens, cvm, gpus }) => {
    const client = new CoordinatorClient(url, cp.caPem, tokens);
    clients.push(client);
    simulatedTotals.push(timeSimulation(cvm, gpus));
    const agent = new NodeAgent({ nodeName: name, client, cvm, gpus, log: silentLogger });
    nodeAgents.set(name, agent);
    running.push(agent.run(stopAgents.signal));
    await waitFor(() => isOpen(name), { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 50, description: `${name} open` });
  });
  const simulatedMs = simulatedTotals.reduce((sum, f) => sum + f(), 0);
  await waitFor(() => names.every(isOpen), {
    timeoutMs: PHASE_TIMEOUT_MS,
    intervalMs: 200,
    description: 'every GPU node open',
  });
  const nodesSeconds = (performance.now() - t0) / 1000;
  cpuAt.push(cpuByProcess());
  const audit1 = statSync(cp.auditLogPath).size;

  // Phase 2: AIWorkers across namespaces, each with one replica on an attested node.
  progress(`phase 2: ${AIWORKERS} AIWorkers`);
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `team-${String(i).padStart(3, '0')}`);
  for (const ns of namespaces) await core.createNamespace({ body: { metadata: { name: ns } } });
  const workers = Array.from({ length: AIWORKERS }, (_, i) => ({
    name: `worker-${String(i).padStart(4, '0')}`,
    namespace: namespaces[i % NAMESPACES]!,
  }));
  const t1 = performance.now();
  await pool(workers, 16, async ({ name, namespace }) => {
    const body: AIWorker = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name, namespace },
      spec: {
        image: IMAGE,
        model: 'meta-llama/Llama-3.1-8B-Instruct',
        replicas: 1,
        gpusPerReplica: GPUS_PER_WORKER,
        runtimeClassName: 'kata',
        policy: { inline: POLICY },
        deploymentModel: 'confidential-node',
        port: 8000,
      },
    };
    await custom.createNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace,
      body,
    });
  });
  const replicaReady = (w: { name: string; namespace: string }) => {
    const s = seen.aiWorkers.get(w.name, w.namespace)?.status;
    return s?.readyReplicas === 1 && s.replicas === 1;
  };
  await waitFor(() => workers.every(replicaReady), {
    timeoutMs: PHASE_TIMEOUT_MS,
    intervalMs: 200,
    description: 'every AIWorker with its replica ready',
  });
  const workersSeconds = (performance.now() - t1) / 1000;
  cpuAt.push(cpuByProcess());
  const audit2 = statSync(cp.auditLogPath).size;

  // Phase 3: certifying. Each pod's `attestor init --confidential-node` (its node's agent
  // countersigns its key, the Coordinator issues its workload certificate and records it on the
  // pod), until every AIWorker is Ready (kstatus) as Available: its replica ready and attested.
  progress(`phase 3: certifying ${AIWORKERS} pods`);
  const initFailures: string[] = [];
  const inits = new PodInits({
    kubeConfig: admin,
    coordinatorUrl: url,
    coordinatorCaPem: cp.caPem,
    agentUrl: (node) => {
      const server = countersignServers.get(node);
      return server ? `http://127.0.0.1:${server.port}` : undefined;
    },
    dir: join(certDir, 'pods'),
    onFailure: (pod, reason) => initFailures.push(`${pod}: ${reason}`),
  });
  const t2 = performance.now();
  const offer = (pod: k8s.V1Pod) => inits.offer(pod);
  seen.pods.onAdd(offer).onUpdate(offer);
  for (const pod of seen.pods.list()) offer(pod);
  const available = (w: { name: string; namespace: string }) => {
    const worker = seen.aiWorkers.get(w.name, w.namespace);
    const ready = worker?.status?.conditions?.find((c) => c.type === 'Ready');
    return (
      worker?.status?.attestedReplicas === 1 &&
      ready?.status === 'True' &&
      ready.reason === 'Available' &&
      ready.observedGeneration === worker.metadata.generation
    );
  };
  await waitFor(
    () => {
      if (initFailures.length > 0) throw new Error(`pod init failed: ${initFailures.slice(0, 5).join('; ')}`);
      return workers.every(available);
    },
    { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 200, description: 'every AIWorker Ready (Available): replica attested' },
  );
  const certifyingSeconds = (performance.now() - t2) / 1000;
  cpuAt.push(cpuByProcess());
  const audit2c = statSync(cp.auditLogPath).size;
  const converged = { rss: operator.peakRss(), cpu: operator.cpuSeconds(), driverRss: driverPeakRss };
  const convergedHeap = await operator.usage();
  const metrics2 = apiServerMetrics(cp);
  // An AIWorker is Available once the Coordinator has recorded the certificate; the pod's init
  // still checks it and writes its files after that.
  await inits.settled();
  const podsCertified = inits.certified;

  // Phase 4: idle. Nothing changes: the operator should write nothing.
  progress(`phase 4: idle ${IDLE_SECONDS} s`);
  const idleEnd = Date.now() + IDLE_SECONDS * 1000;
  await waitFor(() => Date.now() >= idleEnd, { timeoutMs: IDLE_SECONDS * 1000 + 10_000, intervalMs: 500 });
  const audit3 = statSync(cp.auditLogPath).size;

  // Phase 5: a Manifest change (one more allowed policy): every node re-appraised and current again.
  progress('phase 5: re-appraisal');
  const oldHash = seen.manifests.get('bench')!.status!.hash!;
  const t3 = performance.now();
  cpuAt.push(cpuByProcess());
  const metrics4 = apiServerMetrics(cp);
  await custom.patchClusterCustomObject(
    {
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'manifests',
      name: 'bench',
      body: {
        spec: manifestSpec([POLICY_HASH, policyHash(POLICY), createHash('sha256').update('more').digest('hex')]),
      },
    },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  const newHash = await waitFor(
    () => {
      const h = seen.manifests.get('bench')?.status?.hash;
      return h && h !== oldHash ? h : undefined;
    },
    { timeoutMs: 60_000, description: 'new Manifest hash' },
  );
  await waitFor(
    () => names.every((name) => seen.nodeAttestations.get(name)?.status?.manifestHash === newHash && isOpen(name)),
    { timeoutMs: PHASE_TIMEOUT_MS, intervalMs: 200, description: 'every node current for the new Manifest' },
  );
  const reappraiseSeconds = (performance.now() - t3) / 1000;
  const audit5 = statSync(cp.auditLogPath).size;
  const metrics5 = apiServerMetrics(cp);
  cpuAt.push(cpuByProcess());
  clearInterval(sampler);
  const total = { rss: operator.peakRss(), cpu: operator.cpuSeconds() };
  const totalHeap = await operator.usage();
  stopAgents.abort();
  await inits.stop();
  await Promise.allSettled(running);
  for (const server of countersignServers.values()) await server.close();
  for (const informer of Object.values(seen)) await informer.stop();
  for (const client of clients) await client.close();
  await operator.stop();

  // Report.
  const writes = (from: number, to: number) => auditedWrites(cp.auditLogPath, from, to, operatorUser);
  const nodeWrites = writes(audit0, audit1);
  const workerWrites = writes(audit1, audit2);
  const certifyingAll = writes(audit2, audit2c);
  // The certificate annotation on the pod is the Coordinator's write (it records what it issued);
  // every other write of the operator's in that phase is its controllers' (AIWorker status).
  const isCoordinatorWrite = (e: AuditEvent) =>
    e.verb === 'patch' && e.objectRef?.resource === 'pods' && !e.objectRef.subresource;
  const coordinatorWrites = certifyingAll.filter(isCoordinatorWrite);
  const certifyingWrites = certifyingAll.filter((e) => !isCoordinatorWrite(e));
  const idleWrites = writes(audit2c, audit3);
  const convergedSeconds = nodesSeconds + workersSeconds + certifyingSeconds;
  const controllerWritesPerWorker = (workerWrites.length + certifyingWrites.length) / AIWORKERS;
  const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
  console.log(`sizes: ${NODES} nodes x ${GPUS} GPUs, ${AIWORKERS} AIWorkers in ${NAMESPACES} namespaces`);
  console.log(
    `kube-controller-manager and kube-scheduler: --kube-api-qps=${CLIENT_QPS.qps} --kube-api-burst=${CLIENT_QPS.burst}; kube-controller-manager --node-monitor-grace-period=${NODE_MONITOR_GRACE}; agents ${CONCURRENCY} at a time`,
  );
  console.log(
    `preparation (nodes, evidence sources, agent tokens and countersigning servers, ${ocspAnswers} OCSP answers signed into the operator's collateral cache; not timed): ${prepSeconds.toFixed(1)} s`,
  );
  console.log('| phase | seconds | rate |');
  console.log('|---|---:|---:|');
  console.log(
    `| nodes attested and open | ${nodesSeconds.toFixed(1)} | ${(NODES / nodesSeconds).toFixed(1)} nodes/s (of which simulated evidence ${(simulatedMs / 1000).toFixed(1)} s summed over agents) |`,
  );
  console.log(
    `| AIWorkers with their replica ready on an attested node | ${workersSeconds.toFixed(1)} | ${(AIWORKERS / workersSeconds).toFixed(1)} AIWorkers/s |`,
  );
  console.log(
    `| certifying: every AIWorker Ready (Available), its replica holding a workload certificate | ${certifyingSeconds.toFixed(1)} | ${(AIWORKERS / certifyingSeconds).toFixed(1)} AIWorkers/s (${podsCertified} pod inits certified) |`,
  );
  console.log(
    `| re-appraisal of every node after a Manifest change | ${reappraiseSeconds.toFixed(1)} | ${(NODES / reappraiseSeconds).toFixed(1)} nodes/s |`,
  );
  console.log(
    `operator process (pid ${operator.pid}): peak RSS ${mb(converged.rss)} MB until converged, ${mb(total.rss)} MB in all; CPU ${converged.cpu.toFixed(1)} s until converged (${startupCpu.toFixed(1)} s of it starting up), ${total.cpu.toFixed(1)} s in all`,
  );
  const heap = (u: OperatorUsage) =>
    `heap used ${mb(u.heapUsed)} MB${u.liveHeap !== undefined ? `, ${mb(u.liveHeap)} MB live after a full collection` : ''}, external ${mb(u.external)} MB, RSS ${mb(u.rss)} MB`;
  console.log(
    `operator heap (limit ${mb(totalHeap.heapLimit)} MB${process.env.SCALE_OPERATOR_NODE_OPTIONS ? `; node ${process.env.SCALE_OPERATOR_NODE_OPTIONS}` : ''}): at convergence ${heap(convergedHeap)}; at the end ${heap(totalHeap)}`,
  );
  // cpuAt: start, after nodes, after AIWorkers, converged (after certifying), before and after re-appraisal.
  const phaseCpu = [
    ['nodes', 0, 1],
    ['AIWorkers', 1, 2],
    ['certifying', 2, 3],
    ['converged (all three)', 0, 3],
    ['re-appraisal', 4, 5],
  ] as const;
  console.log(
    `CPU seconds by process and phase (2 cores: ${(2 * convergedSeconds).toFixed(0)} core-seconds until converged)`,
  );
  console.log(`| process | ${phaseCpu.map(([name]) => name).join(' | ')} |`);
  console.log(`|---|${phaseCpu.map(() => '---:').join('|')}|`);
  for (const name of cpuAt[0]!.keys())
    console.log(
      `| ${name} | ${phaseCpu.map(([, a, b]) => ((cpuAt[b]!.get(name) ?? 0) - (cpuAt[a]!.get(name) ?? 0)).toFixed(1)).join(' | ')} |`,
    );
  console.log(
    `driver process (agents, countersigning servers, pod inits, informers): peak RSS ${mb(converged.driverRss)} MB until converged, ${mb(driverPeakRss)} MB in all (${mb(driverRssBefore)} MB before the operator started)`,
  );
  console.log(
    `operator writes (audit log; Events and reviews excluded): nodes phase ${nodeWrites.length} (${(nodeWrites.length / NODES).toFixed(2)} per node), AIWorkers phase ${workerWrites.length}, certifying phase ${certifyingWrites.length} by controllers and ${coordinatorWrites.length} by the Coordinator (certificate annotations), idle ${IDLE_SECONDS} s ${idleWrites.length}`,
  );
  console.log(`  AIWorkers phase by verb and resource: ${breakdown(workerWrites)}`);
  console.log(`  certifying phase by verb and resource: ${breakdown(certifyingAll)}`);
  if (idleWrites.length > 0) console.log(`  idle writes: ${breakdown(idleWrites)}`);
  console.log(`  re-appraisal phase: ${breakdown(writes(audit3, audit5))}`);
  console.log(
    'API requests during nodes, AIWorkers and certifying phases, all clients (apiserver_request_total), per object:',
  );
  console.log('| verb | resource | requests | per node | per AIWorker |');
  console.log('|---|---|---:|---:|---:|');
  for (const [key, count] of [...requestDelta(metrics0, metrics2)].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    const [verb, resource] = key.split(' ');
    console.log(
      `| ${verb} | ${resource} | ${count} | ${(count / NODES).toFixed(2)} | ${(count / AIWORKERS).toFixed(2)} |`,
    );
  }
  console.log(
    `API requests during re-appraisal, all clients, top 10: ${[...requestDelta(metrics4, metrics5)]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
  );
  const webhook = webhookQuantiles(metrics0, metrics2);
  console.log(
    `webhook (API server's apiserver_admission_webhook_admission_duration_seconds, during the storm): ${webhook}`,
  );
  console.log(
    `scale: ${NODES} nodes ${AIWORKERS} aiworkers converged in ${convergedSeconds.toFixed(1)} s, rss ${mb(converged.rss)} MB, ${controllerWritesPerWorker.toFixed(2)} writes per aiworker`,
  );
} finally {
  operator?.kill();
  await cp.stop();
  rmSync(certDir, { recursive: true, force: true });
}

/** Writes by verb and resource; those the API server refused (a 409 on a stale resourceVersion) in brackets. */
function breakdown(events: AuditEvent[]): string {
  const counts = new Map<string, { all: number; refused: Map<number, number> }>();
  for (const e of events) {
    const key = `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}`;
    const count = counts.get(key) ?? { all: 0, refused: new Map<number, number>() };
    count.all++;
    const code = e.responseStatus?.code ?? 0;
    if (code >= 400) count.refused.set(code, (count.refused.get(code) ?? 0) + 1);
    counts.set(key, count);
  }
  return (
    [...counts]
      .map(([k, { all, refused }]) => {
        const codes = [...refused].map(([code, n]) => `${n} refused ${code}`).join(', ');
        return `${k} ${all}${codes ? ` (${codes})` : ''}`;
      })
      .join(', ') || 'none'
  );
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The API server's /metrics, read with kubectl (a client nobody here wrote). */
function apiServerMetrics(plane: ControlPlane): Sample[] {
  const text = execFileSync(
    join(plane.binDir, 'kubectl'),
    ['--kubeconfig', plane.kubeconfigPath, 'get', '--raw', '/metrics'],
    {
      encoding: 'utf8',
      maxBuffer: 256 * 2 ** 20,
    },
  );
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (
      !line.startsWith('apiserver_request_total{') &&
      !line.startsWith('apiserver_admission_webhook_admission_duration_seconds_bucket{')
    )
      continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of m[2]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Requests between two scrapes, by verb and resource (subresource after a slash). */
function requestDelta(before: Sample[], after: Sample[]): Map<string, number> {
  const sum = (samples: Sample[]) => {
    const m = new Map<string, number>();
    for (const s of samples) {
      if (s.name !== 'apiserver_request_total' || !s.labels.resource) continue;
      const key = `${s.labels.verb} ${s.labels.resource}${s.labels.subresource ? `/${s.labels.subresource}` : ''}`;
      m.set(key, (m.get(key) ?? 0) + s.value);
    }
    return m;
  };
  const a = sum(after);
  const b = sum(before);
  const out = new Map<string, number>();
  for (const [k, v] of a) if (v - (b.get(k) ?? 0) > 0) out.set(k, v - (b.get(k) ?? 0));
  return out;
}

/** p50 and p99 of attestor's webhooks from the API server's histogram (upper bucket bounds). */
function webhookQuantiles(before: Sample[], after: Sample[]): string {
  const buckets = (samples: Sample[]) => {
    const m = new Map<number, number>();
    for (const s of samples) {
      if (s.name !== 'apiserver_admission_webhook_admission_duration_seconds_bucket') continue;
      if (!s.labels.name?.endsWith('attestor.dev')) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      m.set(le, (m.get(le) ?? 0) + s.value);
    }
    return m;
  };
  const a = buckets(after);
  const b = buckets(before);
  const cumulative = [...a].map(([le, v]) => [le, v - (b.get(le) ?? 0)] as const).sort((x, y) => x[0] - y[0]);
  const total = cumulative.at(-1)?.[1] ?? 0;
  if (total === 0) return 'no calls';
  const quantile = (q: number) => cumulative.find(([, n]) => n >= q * total)![0];
  const ms = (s: number) => (s === Infinity ? '+Inf' : `<= ${(s * 1000).toFixed(0)} ms`);
  return `${total} calls, p50 ${ms(quantile(0.5))}, p99 ${ms(quantile(0.99))}`;
}

/** A process's CPU time (user + system) from /proc/<pid>/stat, seconds (USER_HZ is 100 on Linux). */
function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN; // it ended
  }
}
