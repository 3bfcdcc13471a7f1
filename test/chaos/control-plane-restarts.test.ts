// Issue 12, fault 2 (npm run test:chaos): the cluster's kube-apiserver, and then its etcd,
// restarted in the middle of the flows, on a control plane of this file's own (it breaks it on
// purpose). Agents wait in their simulated hardware at two points of an attestation (between
// nonce and evidence: collecting the GPU reports; between grant and activation: setting the GPUs
// ready) when the component goes down; they go on, their rounds fail, and they retry as the
// agent's loop does. An AIWorker's rollout (a new image) is under way when the component
// restarts. Afterwards the informers have recovered, the work queues are empty, and no status is
// stale: every NodeAttestation is Ready for its evidence with its observedGeneration current,
// every node is open for GPU pods, and the AIWorker reports its new generation with every replica
// ready on the new image.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent } from '../../src/agent/agent.ts';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import {
  createSimulatedPlatform,
  SimulatedCvmSource,
  SimulatedGpuControl,
} from '../../src/agent/evidence/simulated.ts';
import type { GpuControl, GpuEvidence } from '../../src/agent/evidence/source.ts';
import type { AIWorker } from '../../src/api/aiworker.ts';
import type { NodeAttestation } from '../../src/api/node-attestation.ts';
import { GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../../src/api/node-gating.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../../src/dev/agent-identity.ts';
import { ControlPlane } from '../../src/dev/control-plane.ts';
import { installCrds } from '../../src/dev/install.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { activeManifestHash, startTestOperator } from '../harness/cluster.ts';
import { simulatedManifestSpec } from '../harness/simulated-manifest.ts';

const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
const NS = 'attestor-system';
const RUNTIME_CLASS = 'kata-snp';
const group = { group: 'attestor.dev', version: 'v1alpha1' };
const image = (tag: string) => `registry.example/vllm@sha256:${createHash('sha256').update(tag).digest('hex')}`;

/** A gate the simulated hardware waits at: `reached` once an agent got there, `open()` lets it go on. */
class Gate {
  reached = false;
  #open: () => void = () => {};
  readonly #opened = new Promise<void>((resolve) => {
    this.#open = resolve;
  });
  async pass(): Promise<void> {
    this.reached = true;
    await this.#opened;
  }
  open(): void {
    this.#open();
  }
}

/** The simulated GPUs, paused once at `point` of the first round (the hardware is the only fake). */
class PausingGpuControl implements GpuControl {
  readonly kind: string;
  readonly #gpus: SimulatedGpuControl;
  readonly #point: 'collect' | 'activate';
  readonly gate = new Gate();
  constructor(gpus: SimulatedGpuControl, point: 'collect' | 'activate') {
    this.#gpus = gpus;
    this.kind = gpus.kind;
    this.#point = point;
  }
  listGpus = () => this.#gpus.listGpus();
  confComputeState = () => this.#gpus.confComputeState();
  gpusReady = () => this.#gpus.gpusReady();
  close = () => this.#gpus.close();
  async collect(nonce: Uint8Array): Promise<GpuEvidence[]> {
    if (this.#point === 'collect' && !this.gate.reached) await this.gate.pass();
    return this.#gpus.collect(nonce);
  }
  async setGpusReady(ready: boolean): Promise<void> {
    if (this.#point === 'activate' && ready && !this.gate.reached) await this.gate.pass();
    return this.#gpus.setGpusReady(ready);
  }
}

describe('control plane restarts mid-flow: kube-apiserver and etcd (issue 12, fault 2)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: RunningOperator;
  let coordinatorUrl: string;
  let platform: Awaited<ReturnType<typeof createSimulatedPlatform>>;
  const clients: CoordinatorClient[] = [];
  const nodes: string[] = [];

  before(async () => {
    cp = await ControlPlane.start();
    kc = cp.kubeConfig();
    await installCrds(kc);
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    platform = await createSimulatedPlatform();
    await core.createNamespace({ body: { metadata: { name: NS } } });
    await ensureAgentServiceAccount(kc, NS);
    await kc
      .makeApiClient(k8s.NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: RUNTIME_CLASS }, handler: 'kata' } });
    await custom.createClusterCustomObject({
      ...group,
      plural: 'manifests',
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: 'restarts' },
        spec: simulatedManifestSpec({ policyHash: POLICY_HASH, runtimeClasses: [RUNTIME_CLASS] }),
      },
    });
    const serving = await issueCertificate(cp.certificateAuthority, {
      commonName: 'attestor-coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    operator = await startTestOperator(kc, {
      namespace: NS,
      coordinator: localCoordinatorOptions(serving, platform, NS),
    });
    coordinatorUrl = `https://127.0.0.1:${await operator.coordinatorPort}`;
    await activeManifestHash(operator, 'restarts', { description: 'the Manifest active' });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await operator?.stop();
    await cp?.stop();
  });

  const schedulable = (node: k8s.V1Node) =>
    node.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true' &&
    !(node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key);
  const attestation = async (name: string) =>
    (await custom.getClusterCustomObject({ ...group, plural: 'nodeattestations', name })) as NodeAttestation;
  const aiWorker = async (namespace: string) =>
    (await custom.getNamespacedCustomObject({ ...group, plural: 'aiworkers', namespace, name: 'llama' })) as AIWorker;

  /** A tainted GPU node (2 GPUs) and its agent, whose simulated GPUs pause at `point` of the first round. */
  async function pausedAgent(name: string, point: 'collect' | 'activate') {
    await cp.createGpuNode(name, { gpus: 2 });
    nodes.push(name);
    const gpus = new PausingGpuControl(
      new SimulatedGpuControl(platform, { uuids: [`${name}-GPU-0`, `${name}-GPU-1`] }),
      point,
    );
    const cvm = new SimulatedCvmSource(platform, { platform: 'snp', policyHash: POLICY_HASH });
    const client = new CoordinatorClient(coordinatorUrl, cp.caPem, await agentTokenSource(kc, NS, name));
    clients.push(client);
    const agent = new NodeAgent({ nodeName: name, client, cvm, gpus, log: silentLogger });
    return { agent, gate: gpus.gate };
  }

  /**
   * The agent's loop: another round after a failed one (a transport error or a refusal), until
   * activated; `failed` counts the failed rounds.
   */
  async function untilActivated(agent: NodeAgent, failed: { rounds: number }): Promise<void> {
    await waitFor(
      async () => {
        const outcome = await agent.attestOnce().catch(() => undefined);
        if (outcome?.accepted === true && outcome.activated) return true;
        failed.rounds++;
        return false;
      },
      { timeoutMs: 180_000, intervalMs: 1000, description: 'the agent to attest and activate' },
    );
  }

  /**
   * Two agents wait in their hardware, one at each point, while `component` goes down; they go on
   * while it is down, and their rounds fail; it comes back, and they finish with new rounds.
   */
  async function attestAcross(component: 'kube-apiserver' | 'etcd', label: string): Promise<void> {
    const a = await pausedAgent(`${label}-nonce`, 'collect');
    const b = await pausedAgent(`${label}-grant`, 'activate');
    const failed = [{ rounds: 0 }, { rounds: 0 }];
    const rounds = [untilActivated(a.agent, failed[0]!), untilActivated(b.agent, failed[1]!)];
    await waitFor(() => a.gate.reached && b.gate.reached, {
      timeoutMs: 60_000,
      description: 'both agents paused in their hardware',
    });
    await (component === 'kube-apiserver' ? cp.stopApiServer() : cp.stopEtcd());
    a.gate.open();
    b.gate.open();
    await waitFor(() => failed.every((f) => f.rounds >= 1), {
      timeoutMs: 120_000,
      description: `both agents to fail a round while ${component} is down`,
    });
    await (component === 'kube-apiserver' ? cp.startApiServer() : cp.startEtcd());
    await Promise.all(rounds);
  }

  async function restart(component: 'kube-apiserver' | 'etcd'): Promise<void> {
    if (component === 'kube-apiserver') {
      await cp.stopApiServer();
      await cp.startApiServer();
    } else {
      await cp.stopEtcd();
      await cp.startEtcd();
    }
  }

  /** Every NodeAttestation and node this file made ends as its evidence deserves, with a current status. */
  async function noStaleAttestation(): Promise<void> {
    for (const name of nodes) {
      await waitFor(async () => schedulable(await core.readNode({ name })), {
        timeoutMs: 60_000,
        description: `${name} open for GPU pods`,
      });
      const na = await attestation(name);
      const ready = na.status?.conditions?.find((c) => c.type === 'Ready');
      assert.equal(ready?.status, 'True', `${name}: ${JSON.stringify(na.status?.conditions)}`);
      assert.equal(na.status?.conditions?.find((c) => c.type === 'GPUsActivated')?.status, 'True', name);
      assert.equal(na.status?.observedGeneration, na.metadata.generation, `${name} observedGeneration`);
      assert.deepEqual(
        na.status?.gpus?.map((g) => [g.uuid, g.verified, g.activated]),
        [
          [`${name}-GPU-0`, true, true],
          [`${name}-GPU-1`, true, true],
        ],
      );
    }
  }

  /** The operator's work queues are empty and its informers ready (its /readyz). */
  async function drained(): Promise<void> {
    const probe = `http://127.0.0.1:${operator.manager.probePort}`;
    await waitFor(async () => (await fetch(`${probe}/readyz`)).status === 200, {
      timeoutMs: 60_000,
      description: 'the operator ready again (informers recovered)',
    });
    await waitFor(
      async () => {
        const metrics = await (await fetch(`${probe}/metrics`)).text();
        const depths = [...metrics.matchAll(/^workqueue_depth\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
        return depths.length > 0 && depths.every((d) => d === 0);
      },
      { timeoutMs: 60_000, description: 'every work queue drained' },
    );
  }

  it('attests nodes whose agents were between nonce and evidence and between grant and activation when kube-apiserver, then etcd, went down: their rounds fail, new rounds after the restart attest them, and nothing is left stale', async () => {
    await attestAcross('kube-apiserver', 'apiserver');
    await attestAcross('etcd', 'etcd');
    await noStaleAttestation();
    await drained();
  });

  it('rolls an AIWorker out to a new image across a kube-apiserver restart, then an etcd restart: it ends at its new generation with every replica ready on the new image', async () => {
    // Its pods run on the nodes the test before attested (2 GPUs each; 2 replicas of 2 GPUs, plus a surge pod).
    assert.ok(nodes.length >= 3, 'runs after the attestation test, on the nodes it attested');
    const namespace = 'rollout';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'policy' }, data: { 'policy.rego': POLICY } },
    });
    const worker: AIWorker = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name: 'llama', namespace },
      spec: {
        image: image('v1'),
        model: 'm',
        replicas: 2,
        gpusPerReplica: 2,
        runtimeClassName: RUNTIME_CLASS,
        deploymentModel: 'confidential-node',
        policy: { configMapRef: { name: 'policy' } },
      },
    };
    await custom.createNamespacedCustomObject({ ...group, plural: 'aiworkers', namespace, body: worker });
    // What these inputs deserve: both replicas ready on the image of the current generation, and
    // (no pod runs attestor init here, so none holds a workload certificate) Ready False for
    // AwaitingAttestation, with the Ready condition of the current generation too.
    let last = '';
    const settled = (tag: string) =>
      waitFor(
        async () => {
          const w = await aiWorker(namespace);
          const pods = (await core.listNamespacedPod({ namespace })).items.filter(
            (p) => !p.metadata?.deletionTimestamp,
          );
          const running = pods.filter(
            (p) => p.status?.phase === 'Running' && p.spec?.containers.some((c) => c.image === image(tag)),
          );
          const ready = w.status?.conditions?.find((c) => c.type === 'Ready');
          last = JSON.stringify({
            status: w.status,
            generation: w.metadata.generation,
            pods: pods.length,
            running: running.length,
          });
          return w.status?.observedGeneration === w.metadata.generation &&
            w.status?.readyReplicas === 2 &&
            running.length === 2 &&
            pods.length === 2 &&
            ready?.observedGeneration === w.metadata.generation &&
            ready?.reason === 'AwaitingAttestation' &&
            ready.message.startsWith('2/2 replicas ready')
            ? w
            : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 500, description: `the AIWorker settled on ${tag}` },
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last seen: ${last}`);
      });
    await settled('v1');
    for (const [component, tag] of [
      ['kube-apiserver', 'v2'],
      ['etcd', 'v3'],
    ] as const) {
      await custom.patchNamespacedCustomObject(
        { ...group, plural: 'aiworkers', namespace, name: 'llama', body: { spec: { image: image(tag) } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
      // The rollout is under way (the operator saw the new generation) when the component goes down.
      await waitFor(
        async () => {
          const deployment = await kc
            .makeApiClient(k8s.AppsV1Api)
            .readNamespacedDeployment({ namespace, name: 'llama' })
            .catch(() => undefined);
          return deployment?.spec?.template.spec?.containers.some((c) => c.image === image(tag));
        },
        { timeoutMs: 30_000, description: `the Deployment on ${tag}` },
      );
      await restart(component);
      const w = await settled(tag);
      assert.equal(w.status?.replicas ?? 2, 2);
    }
    await drained();
    await noStaleAttestation();
  });
});
