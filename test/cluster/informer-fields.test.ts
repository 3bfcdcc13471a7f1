// The operator's caches hold only what its readers use (src/controllers/cache-fields.ts): on the
// real control plane, each cached kind lacks the fields the API server's copy has and nobody
// reads (managedFields, container specs and statuses, node images and conditions, annotations),
// keeps the ones its readers use, and the controllers that read them still do their job.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { AI_WORKER_NAMESPACE_LABEL, type AIWorker } from '../../src/api/aiworker.ts';
import {
  GPU_ATTESTED_LABEL,
  KATA_POLICY_ANNOTATION,
  WORKLOAD_CERTIFICATE_ANNOTATION,
} from '../../src/api/aiworker-labels.ts';
import { FIELD_MANAGER } from '../../src/controllers/aiworker/controller.ts';
import { policyHash } from '../../src/controllers/aiworker/policy.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import {
  activeManifestHash,
  sharedControlPlane,
  startTestOperator,
  uniqueName,
  writeCurrentAttestation,
} from '../harness/cluster.ts';
import { gatingManifest } from '../harness/gating.ts';

const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
const IMAGE = `registry.example/vllm@sha256:${'c5'.repeat(32)}`;

describe('informer caches hold only the fields their readers use', function () {
  let cp: ControlPlane;
  let admin: k8s.KubeConfig;
  let custom: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let operator: RunningOperator;
  const namespace = uniqueName('fields');
  const manifestName = uniqueName('fields-manifest');
  const runtimeClass = uniqueName('kata-fields');
  const node = `${namespace}-gpu`;
  const name = 'llm';

  before(async function () {
    this.timeout(180_000);
    cp = await sharedControlPlane();
    admin = cp.kubeConfig();
    custom = admin.makeApiClient(k8s.CustomObjectsApi);
    core = admin.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace, annotations: { 'test/unread': 'x' } } } });
    await admin
      .makeApiClient(k8s.NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'kata' } });
    await cp.createGpuNode(node, { gpus: 2 });
    await custom.createClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'manifests',
      body: gatingManifest(manifestName, { policy: { name: 'llama', hash: policyHash(POLICY) }, runtimeClass }),
    });
    operator = await startTestOperator(admin);
    const hash = await activeManifestHash(operator, manifestName, { description: 'test Manifest active' });
    await writeCurrentAttestation(admin, node, hash!, 2);
    const worker: AIWorker = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name, namespace },
      spec: {
        image: IMAGE,
        model: 'meta-llama/Llama-3.1-8B-Instruct',
        replicas: 1,
        gpusPerReplica: 1,
        runtimeClassName: runtimeClass,
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
      body: worker,
    });
  });
  after(async () => {
    await operator?.stop();
    await custom
      ?.deleteClusterCustomObject({
        group: 'attestor.dev',
        version: 'v1alpha1',
        plural: 'manifests',
        name: manifestName,
      })
      .catch(() => undefined);
    await core?.deleteNode({ name: node }).catch(() => undefined);
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('the controllers still do their job: the node opens, the AIWorker runs its replica on it', async function () {
    this.timeout(120_000);
    await waitFor(
      () => {
        const n = operator.informers.nodes.get(node);
        return n?.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true' && (n.spec?.taints ?? []).length === 0;
      },
      { timeoutMs: 60_000, description: 'node opened by node gating' },
    );
    await waitFor(
      () => {
        const w = operator.informers.aiWorkers.get(name, namespace);
        return w?.status?.readyReplicas === 1 && w.status.replicas === 1;
      },
      { timeoutMs: 90_000, description: 'AIWorker replica ready' },
    );
    const pod = operator.informers.pods.list(namespace)[0];
    assert.equal(pod?.spec?.nodeName, node, 'the replica runs on the attested node');
    assert.equal(
      operator.informers.namespaces.get(namespace)?.metadata?.labels?.[AI_WORKER_NAMESPACE_LABEL],
      'true',
      'the namespace is marked',
    );
  });

  it('a cached node keeps labels, taints and capacity, and lacks managedFields, annotations, images and conditions', async () => {
    const server = await core.readNode({ name: node });
    assert.ok(server.metadata?.managedFields?.length, 'the API server has managedFields');
    assert.ok(server.status?.conditions?.length, 'the API server has conditions');
    const cached = operator.informers.nodes.get(node)!;
    assert.equal(cached.metadata?.managedFields, undefined);
    assert.equal(cached.metadata?.annotations, undefined);
    assert.equal(cached.status?.conditions, undefined);
    assert.equal(cached.status?.images, undefined);
    assert.equal(cached.status?.nodeInfo, undefined);
    assert.equal(cached.status?.addresses, undefined);
    assert.deepEqual(cached.metadata?.labels, server.metadata?.labels);
    assert.equal(cached.metadata?.uid, server.metadata?.uid);
    assert.equal(cached.status?.capacity?.['nvidia.com/gpu'], '2');
    assert.deepEqual(
      Object.keys(cached).sort(),
      ['metadata', 'spec', 'status'],
      'no other top-level field (apiVersion, kind)',
    );
  });

  it('a cached pod keeps labels, the workload certificate, its node and conditions, and nothing else (no Kata policy, no containers)', async () => {
    const pod = operator.informers.pods.list(namespace)[0]!;
    const podName = pod.metadata!.name!;
    // One annotation a reader uses (its value is no certificate: certified.ts ignores it) and one nobody reads.
    await core.patchNamespacedPod(
      {
        name: podName,
        namespace,
        body: { metadata: { annotations: { [WORKLOAD_CERTIFICATE_ANNOTATION]: 'not a pem', 'test/unread': 'x' } } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    const cached = await waitFor(
      () => {
        const p = operator.informers.pods.get(podName, namespace);
        return p?.metadata?.annotations?.[WORKLOAD_CERTIFICATE_ANNOTATION] ? p : undefined;
      },
      { description: 'the annotated pod in the cache' },
    );
    const server = await core.readNamespacedPod({ name: podName, namespace });
    assert.ok(server.metadata?.managedFields?.length, 'the API server has managedFields');
    assert.ok(server.status?.containerStatuses?.length, 'the API server has container statuses');
    assert.ok(server.metadata?.annotations?.[KATA_POLICY_ANNOTATION], 'the pod runs under a Kata policy');
    assert.deepEqual(
      cached.metadata?.annotations,
      { [WORKLOAD_CERTIFICATE_ANNOTATION]: 'not a pem' },
      'the workload certificate only: not the Kata policy, not the unread annotation',
    );
    assert.equal(cached.metadata?.managedFields, undefined);
    assert.equal(cached.metadata?.ownerReferences, undefined);
    assert.deepEqual(cached.metadata?.labels, server.metadata?.labels);
    assert.equal(cached.metadata?.uid, server.metadata?.uid);
    assert.deepEqual(cached.spec, { nodeName: node, containers: [] }, 'no container specs');
    assert.deepEqual(Object.keys(cached.status!).sort(), ['conditions', 'phase']);
    assert.ok(cached.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True'));
  });

  it('a cached Deployment, Service and NetworkPolicy keep what the compare-before-write reads', async () => {
    const apps = admin.makeApiClient(k8s.AppsV1Api);
    const deployment = operator.informers.deployments.get(name, namespace)!;
    const serverDeployment = await apps.readNamespacedDeployment({ name, namespace });
    assert.ok(serverDeployment.metadata?.managedFields?.length);
    assert.ok(serverDeployment.status?.conditions?.length);
    assert.equal(deployment.metadata?.managedFields, undefined);
    assert.equal(deployment.status?.conditions, undefined);
    assert.equal(deployment.status?.readyReplicas, 1);
    assert.deepEqual(deployment.metadata?.annotations, serverDeployment.metadata?.annotations);
    assert.equal(
      deployment.spec?.template.spec?.containers.length,
      serverDeployment.spec?.template.spec?.containers.length,
    );

    const service = operator.informers.services.get(name, namespace)!;
    const serverService = await core.readNamespacedService({ name, namespace });
    assert.deepEqual(
      service.metadata?.managedFields?.map((f) => `${f.manager}/${f.operation}`),
      [`${FIELD_MANAGER}/Apply`],
      "only this operator's apply entry (appliedAnnotationKeys reads it)",
    );
    assert.ok(
      (serverService.metadata?.managedFields?.length ?? 0) >= 1,
      'the API server has the managedFields the cache filters',
    );
    assert.deepEqual(
      service.spec?.ports?.map((p) => p.port),
      serverService.spec?.ports?.map((p) => p.port),
    );
    assert.equal(service.status, undefined);

    const policy = operator.informers.networkPolicies.get(name, namespace)!;
    assert.equal(policy.metadata?.managedFields, undefined);
    assert.ok(policy.spec?.ingress?.length, 'the NetworkPolicy spec the controller compares');
  });

  it('cached namespaces, Manifests, AIWorkers and NodeAttestations lack managedFields', () => {
    const ns = operator.informers.namespaces.get(namespace)!;
    assert.deepEqual(Object.keys(ns), ['metadata']);
    assert.equal(ns.metadata?.annotations, undefined);
    assert.equal(ns.metadata?.managedFields, undefined);
    for (const obj of [
      operator.informers.manifests.get(manifestName),
      operator.informers.aiWorkers.get(name, namespace),
      operator.informers.nodeAttestations.get(node),
    ]) {
      assert.ok(obj?.metadata?.name, 'cached');
      assert.equal(obj.metadata.managedFields, undefined, obj.metadata.name);
    }
  });

  it('update handlers still see the version an update replaces', async () => {
    const seen: Array<{ now?: string; old?: string }> = [];
    operator.informers.nodes.onUpdate((n, old) => {
      if (n.metadata?.name === node)
        seen.push({ now: n.metadata?.labels?.['test/step'], old: old?.metadata?.labels?.['test/step'] });
    });
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    for (const step of ['1', '2'])
      await core.patchNode({ name: node, body: { metadata: { labels: { 'test/step': step } } } }, merge);
    await waitFor(() => seen.some((s) => s.now === '2'), { description: 'second label seen' });
    assert.deepEqual(
      seen.find((s) => s.now === '2'),
      { now: '2', old: '1' },
    );
  });
});
