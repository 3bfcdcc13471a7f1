// A Manifest change on a fleet: every GPU node is closed until it is current for the new Manifest,
// and the Coordinator settles nodes one after another. A node still waiting its turn keeps its GPU
// pods while other nodes keep becoming current: its pending grace counts from the last node that
// did (eviction.ts, rollout-progress.ts), on the real control plane with kwok nodes. The Manifest is
// edited in place, as users do: the grace counts from the edit, not from the Manifest's activation.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../src/api/manifest.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { isNotFound } from '../../src/errors.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { sharedControlPlane, startTestOperator, uniqueName, writeCurrentAttestation } from '../harness/cluster.ts';
import { gatingManifest, gpuWorkerDeployment, isOpen } from '../harness/gating.ts';

const GROUP = { group: 'attestor.dev', version: 'v1alpha1' };
const PENDING_GRACE_MS = 8_000;
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

describe('node gating during a Manifest rollout: stragglers keep their GPU pods while the fleet settles', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: RunningOperator;
  const run = uniqueName('rollout');
  const operatorNamespace = `${run}-system`;
  const workloads = `${run}-ai`;
  const manifestName = `${run}-manifest`;
  const nodes = [`${run}-settled`, `${run}-straggler`];

  /** The active hash other than `previous`, and when it took effect (an edit in place: when the previous one was replaced). */
  const activeHash = (previous?: string) =>
    waitFor(
      () => {
        const m = operator.informers.manifests.get(manifestName) as Manifest | undefined;
        const active = m?.status?.conditions?.some((c) => c.type === 'Active' && c.status === 'True');
        const hash = m?.status?.hash;
        if (!active || !hash || hash === previous) return undefined;
        const replacedAt = m.status?.history?.[0]?.replacedAt;
        return { hash, since: previous && replacedAt ? new Date(replacedAt).getTime() : NaN };
      },
      { description: `Manifest ${manifestName} active${previous ? ' with a new hash' : ''}` },
    );
  const open = async (name: string) => isOpen(await core.readNode({ name }));

  before(async function () {
    cp = await sharedControlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    for (const name of [operatorNamespace, workloads]) await core.createNamespace({ body: { metadata: { name } } });
    await custom.createClusterCustomObject({
      ...GROUP,
      plural: 'manifests',
      body: gatingManifest(manifestName),
    });
    operator = await startTestOperator(kc, {
      namespace: operatorNamespace,
      eviction: { pendingGraceMs: PENDING_GRACE_MS },
    });
  });

  after(async function () {
    await operator?.stop();
    await custom
      .deleteClusterCustomObject({ ...GROUP, plural: 'manifests', name: manifestName })
      .catch(() => undefined);
    for (const name of nodes) {
      await core.deleteNode({ name }).catch(() => undefined);
      await custom.deleteClusterCustomObject({ ...GROUP, plural: 'nodeattestations', name }).catch(() => undefined);
    }
    for (const name of [workloads, operatorNamespace]) await core.deleteNamespace({ name }).catch(() => undefined);
  });

  it('evicts a straggler only once no node has become current for the pending grace', async function () {
    const old = await activeHash();
    for (const name of nodes) {
      await cp.createGpuNode(name, { gpus: 4 });
      await writeCurrentAttestation(kc, name, old.hash, 4);
      await waitFor(() => open(name), { description: `${name} open` });
    }
    await apps.createNamespacedDeployment({ namespace: workloads, body: gpuWorkerDeployment('llama', nodes[1]!) });
    const pod = await waitFor(
      async () =>
        (await core.listNamespacedPod({ namespace: workloads })).items.find(
          (p) => p.status?.phase === 'Running' && p.spec?.nodeName === nodes[1],
        ),
      { timeoutMs: 60_000, description: 'the worker pod Running on the straggler' },
    );

    // The active Manifest edited in place (its Active condition does not change): both nodes close.
    // The first settles 3 s into the rollout; the straggler never does.
    await custom.patchClusterCustomObject(
      {
        ...GROUP,
        plural: 'manifests',
        name: manifestName,
        body: { spec: gatingManifest(manifestName, { measurement: 'ef'.repeat(48) }).spec },
      },
      merge,
    );
    const rollout = await activeHash(old.hash);
    await waitFor(async () => !(await open(nodes[0]!)) || undefined, { description: `${nodes[0]} closed` });
    await waitFor(() => Date.now() >= rollout.since + 3_000 || undefined, { timeoutMs: 10_000 });
    await writeCurrentAttestation(kc, nodes[0]!, rollout.hash, 4);
    await waitFor(() => open(nodes[0]!), { description: `${nodes[0]} current again` });
    const settled = Date.now();

    await waitFor(
      async () => {
        try {
          const current = await core.readNamespacedPod({ namespace: workloads, name: pod.metadata!.name! });
          return current.metadata!.uid !== pod.metadata!.uid || current.metadata?.deletionTimestamp !== undefined;
        } catch (err) {
          return isNotFound(err);
        }
      },
      { timeoutMs: 60_000, description: 'the straggler pod evicted' },
    );
    const evicted = Date.now();
    // Not after the plain grace from the change, but a grace after the other node settled.
    assert.ok(
      evicted - settled >= PENDING_GRACE_MS - 1_000,
      `evicted ${evicted - settled} ms after the other node settled, before the grace`,
    );
    assert.ok(evicted - rollout.since >= PENDING_GRACE_MS + 2_000, 'the rollout extended the grace');
    const event = await waitFor(
      async () =>
        (
          await core.listNamespacedEvent({
            namespace: workloads,
            fieldSelector: `involvedObject.uid=${pod.metadata!.uid},reason=EvictedUnattestedNode`,
          })
        ).items[0],
      { timeoutMs: 30_000, description: 'EvictedUnattestedNode event' },
    );
    assert.match(
      event.message!,
      new RegExp(
        `^node ${nodes[1]} lost its GPU attestation \\(ManifestChanged: .*\\(unresolved for \\d+ s; no node became current under the new Manifest for \\d+ s\\)\\): evicted$`,
      ),
    );
  });
});
