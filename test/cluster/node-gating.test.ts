// Node gating on the real control plane (API server, scheduler, controller-manager, kwok nodes):
// GPU pods leave a node that loses its attestation (refused re-attestation, expiry, a Manifest
// roll-forward it is not re-appraised under), through the Eviction API with an Event naming the
// reason, and a pod a PodDisruptionBudget protects is deleted once the grace runs out; CPU pods
// stay. Nodes that only publish NVIDIA DRA ResourceSlices or MIG resources are closed until they attest too.
// The graces are parameters: 2 s pending, 3 s for budgets, instead of a minute each.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { isNotFound } from '../../src/errors.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import {
  activeManifestHash,
  sharedControlPlane,
  startTestOperator,
  uniqueName,
  writeCurrentAttestation,
} from '../harness/cluster.ts';
import { gatingManifest, gpuWorkerDeployment, isClosed, isOpen } from '../harness/gating.ts';

const GROUP = { group: 'attestor.dev', version: 'v1alpha1' };
const PENDING_GRACE_MS = 2_000;
const PDB_GRACE_MS = 3_000;
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

describe('node gating: GPU pods leave nodes that lose their attestation; DRA and MIG nodes are closed until they attest', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: RunningOperator;
  let hash: string;
  const run = uniqueName('gating');
  const operatorNamespace = `${run}-system`;
  const workloads = `${run}-ai`;
  const manifestName = `${run}-manifest`;
  const nodeNames: string[] = [];

  before(async function () {
    cp = await sharedControlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    for (const name of [operatorNamespace, workloads]) await core.createNamespace({ body: { metadata: { name } } });
    await custom.createClusterCustomObject({ ...GROUP, plural: 'manifests', body: gatingManifest(manifestName) });
    operator = await startTestOperator(kc, {
      namespace: operatorNamespace,
      eviction: { pendingGraceMs: PENDING_GRACE_MS, pdbGraceMs: PDB_GRACE_MS },
    });
    hash = await activeManifestHash(operator, manifestName, { description: 'test Manifest active' });
  });

  after(async function () {
    await operator?.stop();
    await custom
      .deleteClusterCustomObject({ ...GROUP, plural: 'manifests', name: manifestName })
      .catch(() => undefined);
    for (const name of nodeNames) {
      await core.deleteNode({ name }).catch(() => undefined);
      await custom.deleteClusterCustomObject({ ...GROUP, plural: 'nodeattestations', name }).catch(() => undefined);
    }
    await kc
      .makeApiClient(k8s.ResourceV1Api)
      .deleteResourceSlice({ name: `${run}-dra-gpus` })
      .catch(() => undefined);
    for (const name of [workloads, operatorNamespace]) await core.deleteNamespace({ name }).catch(() => undefined);
  });

  const readNode = (name: string) => core.readNode({ name });
  const open = isOpen;
  const closed = isClosed;

  /** A kwok GPU node, attested against the test Manifest and opened by the operator. */
  async function attestedNode(suffix: string, validForMs = 3_600_000): Promise<string> {
    const name = `${run}-${suffix}`;
    await cp.createGpuNode(name, { gpus: 4 });
    nodeNames.push(name);
    await waitFor(async () => closed(await readNode(name)), { description: `${name} tainted as a new GPU node` });
    await writeCurrentAttestation(kc, name, hash, 4, validForMs);
    await waitFor(async () => open(await readNode(name)), { description: `${name} opened by the operator` });
    return name;
  }

  /** An AI worker's Deployment pinned to one node, and its pod once it runs there. */
  async function aiWorker(name: string, node: string, gpus = 1): Promise<k8s.V1Pod> {
    await apps.createNamespacedDeployment({ namespace: workloads, body: gpuWorkerDeployment(name, node, gpus) });
    return runningPod(`app.kubernetes.io/instance=${name}`, node);
  }

  async function runningPod(labelSelector: string, node: string): Promise<k8s.V1Pod> {
    return waitFor(
      async () =>
        (await core.listNamespacedPod({ namespace: workloads, labelSelector })).items.find(
          (p) => p.status?.phase === 'Running' && p.spec?.nodeName === node,
        ),
      { timeoutMs: 60_000, description: `${labelSelector} Running on ${node}` },
    );
  }

  const gone = (pod: k8s.V1Pod) =>
    waitFor(
      async () => {
        try {
          const current = await core.readNamespacedPod({ namespace: workloads, name: pod.metadata!.name! });
          return current.metadata!.uid !== pod.metadata!.uid;
        } catch (err) {
          return isNotFound(err);
        }
      },
      { timeoutMs: 60_000, description: `pod ${pod.metadata!.name} gone` },
    );

  const podEvent = (pod: k8s.V1Pod, reason: string) =>
    waitFor(
      async () =>
        (
          await core.listNamespacedEvent({
            namespace: workloads,
            fieldSelector: `involvedObject.uid=${pod.metadata!.uid},reason=${reason}`,
          })
        ).items[0],
      { timeoutMs: 30_000, description: `${reason} event on ${pod.metadata!.name}` },
    );

  async function refuse(node: string): Promise<void> {
    const na = (await custom.getClusterCustomObject({ ...GROUP, plural: 'nodeattestations', name: node })) as {
      status: { conditions: Array<Record<string, string>> };
    };
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const conditions = na.status.conditions.map((c) =>
      c.type === 'Attested'
        ? {
            ...c,
            status: 'False',
            reason: 'EvidenceRefused',
            message: '[snp.tcb] reported TCB below the minimum',
            lastTransitionTime: now,
          }
        : {
            ...c,
            status: 'False',
            reason: 'NotAttested',
            message: 'no grant: the evidence was refused',
            lastTransitionTime: now,
          },
    );
    await custom.patchClusterCustomObjectStatus(
      { ...GROUP, plural: 'nodeattestations', name: node, body: { status: { conditions } } },
      merge,
    );
  }

  it('evicts a running AI worker pod from a node whose re-attestation is refused, with an Event naming the reason, and leaves CPU pods (issue 7 item 14)', async function () {
    const node = await attestedNode('refused');
    const worker = await aiWorker('refused', node);
    const cpu = await core.createNamespacedPod({
      namespace: workloads,
      body: {
        metadata: { name: 'cpu-only', labels: { app: 'cpu' } },
        spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox' }] },
      },
    });
    await runningPod('app=cpu', node);
    await refuse(node);
    await gone(worker);
    const event = await podEvent(worker, 'EvictedUnattestedNode');
    assert.equal(event.type, 'Warning');
    assert.equal(
      event.message,
      `node ${node} lost its GPU attestation (NotAttested: [snp.tcb] reported TCB below the minimum): evicted`,
    );
    assert.ok(closed(await readNode(node)), 'and the node is closed again');
    // The Deployment replaces the pod, and the replacement waits: the node is not attested.
    const replacement = await waitFor(
      async () =>
        (
          await core.listNamespacedPod({ namespace: workloads, labelSelector: 'app.kubernetes.io/instance=refused' })
        ).items.find((p) => p.metadata!.uid !== worker.metadata!.uid),
      { description: 'replacement pod' },
    );
    assert.equal(replacement.spec!.nodeName, undefined);
    const stillThere = await core.readNamespacedPod({ namespace: workloads, name: 'cpu-only' });
    assert.equal(stillThere.metadata!.uid, cpu.metadata!.uid);
    assert.equal(stillThere.metadata!.deletionTimestamp, undefined, 'a pod without GPUs is not evicted');
  });

  it('deletes a GPU pod that a PodDisruptionBudget protects once the grace runs out, after its attestation expired', async function () {
    const node = await attestedNode('pdb', 20_000);
    const worker = await aiWorker('guarded', node);
    await kc.makeApiClient(k8s.PolicyV1Api).createNamespacedPodDisruptionBudget({
      namespace: workloads,
      body: {
        metadata: { name: 'guarded' },
        spec: { maxUnavailable: 0, selector: { matchLabels: { 'app.kubernetes.io/instance': 'guarded' } } },
      },
    });
    const na = (await custom.getClusterCustomObject({ ...GROUP, plural: 'nodeattestations', name: node })) as {
      status: { expiresAt: string };
    };
    const expiry = new Date(na.status.expiresAt).getTime();
    await gone(worker);
    assert.ok(
      Date.now() >= expiry + PDB_GRACE_MS,
      `deleted ${Date.now() - expiry} ms after the expiry: not before the ${PDB_GRACE_MS} ms grace`,
    );
    const event = await podEvent(worker, 'DeletedUnattestedNode');
    assert.match(
      event.message!,
      new RegExp(
        `^node ${node} lost its GPU attestation \\(Expired: the attestation expired at .*\\): evictions refused for [3-9] s \\(HTTP 429: .*disruption budget.*\\), deleted$`,
      ),
    );
  });

  it('gives a node the pending grace to be re-appraised after a Manifest roll-forward, then evicts its GPU pods', async function () {
    const node = await attestedNode('rollforward');
    const worker = await aiWorker('rollforward', node);
    const newer = `${run}-newer`;
    // A newer Manifest: the node was attested against the old one and nothing re-appraises it here.
    await waitFor(
      () =>
        Date.now() - new Date(operator.informers.manifests.get(manifestName)!.metadata.creationTimestamp!).getTime() >
          1000 || undefined,
      { timeoutMs: 5000 },
    );
    await custom.createClusterCustomObject({
      ...GROUP,
      plural: 'manifests',
      body: gatingManifest(newer, { measurement: 'ef'.repeat(48) }),
    });
    try {
      const switched = Date.now();
      await gone(worker);
      assert.ok(Date.now() - switched >= PENDING_GRACE_MS - 1000, 'not before the pending grace');
      const event = await podEvent(worker, 'EvictedUnattestedNode');
      assert.match(
        event.message!,
        new RegExp(
          `^node ${node} lost its GPU attestation \\(ManifestChanged: attested against Manifest ${hash}, but [0-9a-f]{64} is active \\(unresolved for \\d+ s\\)\\): evicted$`,
        ),
      );
    } finally {
      await custom.deleteClusterCustomObject({ ...GROUP, plural: 'manifests', name: newer });
      await waitFor(() => operator.informers.manifests.get(newer) === undefined, {
        description: 'newer Manifest gone',
      });
    }
  });

  it('closes a DRA-only node that publishes NVIDIA GPU ResourceSlices, and a node with MIG resources only (issue 7 item 15)', async function () {
    const dra = `${run}-dra`;
    const mig = `${run}-mig`;
    // Neither has nvidia.com/gpu capacity.
    await cp.createGpuNode(dra, { gpus: 0 });
    nodeNames.push(dra);
    await cp.createGpuNode(mig, { gpus: 0 });
    nodeNames.push(mig);
    await core.patchNodeStatus(
      {
        name: mig,
        body: {
          status: { capacity: { 'nvidia.com/mig-1g.10gb': '7' }, allocatable: { 'nvidia.com/mig-1g.10gb': '7' } },
        },
      },
      merge,
    );
    await waitFor(async () => closed(await readNode(mig)), { description: 'MIG node tainted' });
    assert.ok(!closed(await readNode(dra)), 'not a GPU node before it publishes GPUs');
    // resource.k8s.io/v1, as kube-apiserver v1.37 serves it; the slice the NVIDIA DRA driver publishes.
    await kc.makeApiClient(k8s.ResourceV1Api).createResourceSlice({
      body: {
        apiVersion: 'resource.k8s.io/v1',
        kind: 'ResourceSlice',
        metadata: { name: `${run}-dra-gpus` },
        spec: {
          driver: 'gpu.nvidia.com',
          nodeName: dra,
          pool: { name: dra, generation: 1, resourceSliceCount: 1 },
          devices: [0, 1].map((i) => ({
            name: `gpu-${i}`,
            attributes: { type: { string: 'gpu' }, uuid: { string: `GPU-${dra}-${i}` } },
          })),
        },
      },
    });
    await waitFor(async () => closed(await readNode(dra)), { description: 'DRA node tainted once it publishes GPUs' });
    const text = await (await fetch(`http://127.0.0.1:${operator.manager.probePort}/metrics`)).text();
    assert.match(text, /attestor_gpu_nodes\{state="NoAttestation"\} [1-9]/);
  });
});
