// An AIWorker on the real control plane: the operator creates its Deployment and Service,
// the scheduler places the pods on kwok GPU nodes where they run, status reports it, a worker
// that breaks the Manifest is held at zero replicas, and deleting it garbage-collects the rest.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../src/api/aiworker.ts';
import { GPU_ATTESTED_LABEL, KATA_POLICY_ANNOTATION, POLICY_HASH_ANNOTATION } from '../../src/api/aiworker-labels.ts';
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
import { buildKstatus, kstatus } from '../harness/kstatus.ts';
import { buildLuaHealth, LUA_HEALTH_BUILD_TIMEOUT_MS, luaHealth } from '../harness/lua-health.ts';

const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
const IMAGE = `registry.example/vllm@sha256:${'c3'.repeat(32)}`;

describe('AIWorker controller', function () {
  let cp: ControlPlane;
  let custom: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let operator: RunningOperator;
  const namespace = uniqueName('workers');
  const manifestName = uniqueName('aiw-manifest');
  const runtimeClass = uniqueName('kata-snp');

  before(async function () {
    // Argo CD's health checks (gopher-lua) and kstatus (cli-utils): built on first use (minutes when cold).
    this.timeout(2 * LUA_HEALTH_BUILD_TIMEOUT_MS);
    await buildLuaHealth();
    await buildKstatus();
    cp = await sharedControlPlane();
    const kc = cp.kubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    core = kc.makeApiClient(k8s.CoreV1Api);
    apps = kc.makeApiClient(k8s.AppsV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await kc
      .makeApiClient(k8s.NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'kata' } });
    for (const node of ['a', 'b']) await cp.createGpuNode(`${namespace}-gpu-${node}`, { gpus: 4 });
    await custom.createClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'manifests',
      body: gatingManifest(manifestName, { policy: { name: 'llama', hash: policyHash(POLICY) }, runtimeClass }),
    });
    operator = await startTestOperator(kc);
    const hash = await activeManifestHash(operator, manifestName, { description: 'test Manifest active' });
    // The nodes' attestation is the Coordinator's business (attestation-flow.test.ts): here it is given.
    for (const node of ['a', 'b']) await writeCurrentAttestation(kc, `${namespace}-gpu-${node}`, hash!, 4);
    for (const node of ['a', 'b']) {
      await waitFor(
        async () =>
          (await core.readNode({ name: `${namespace}-gpu-${node}` })).metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true',
        { description: `node ${node} opened` },
      );
    }
  });
  after(async () => {
    await operator?.stop();
    await custom
      .deleteClusterCustomObject({
        group: 'attestor.dev',
        version: 'v1alpha1',
        plural: 'manifests',
        name: manifestName,
      })
      .catch(() => undefined);
  });

  const worker = (name: string, policy: AIWorker['spec']['policy'], replicas = 2): AIWorker => ({
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name, namespace },
    spec: {
      image: IMAGE,
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      replicas,
      gpusPerReplica: 2,
      runtimeClassName: runtimeClass,
      policy,
      // Node CVMs attested by the agent: the model this test is about (pod-cvm is the default).
      deploymentModel: 'confidential-node',
      port: 8000,
    },
  });
  const getWorker = async (name: string) =>
    (await custom.getNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace,
      name,
    })) as AIWorker;
  const pods = async (name: string) =>
    (await core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/instance=${name}` })).items;

  it('runs an AIWorker as a Deployment whose pods are Running on the GPU nodes, with status', async () => {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'llama-policy' }, data: { 'policy.rego': POLICY } },
    });
    const created = (await custom.createNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace,
      body: worker('llama', { configMapRef: { name: 'llama-policy' } }),
    })) as AIWorker;

    const deployment = await waitFor(() => apps.readNamespacedDeployment({ name: 'llama', namespace }), {
      description: 'Deployment',
    });
    assert.deepEqual(
      deployment.metadata!.ownerReferences!.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [['AIWorker', 'llama', created.metadata.uid, true]],
    );
    const template = deployment.spec!.template;
    assert.equal(template.spec!.runtimeClassName, runtimeClass);
    assert.equal(Buffer.from(template.metadata!.annotations![KATA_POLICY_ANNOTATION]!, 'base64').toString(), POLICY);
    assert.equal(template.metadata!.annotations![POLICY_HASH_ANNOTATION], policyHash(POLICY));
    assert.equal(template.spec!.containers[0]!.resources!.limits!['nvidia.com/gpu'], '2');
    assert.deepEqual(template.spec!.containers[0]!.args, [
      '--model',
      'meta-llama/Llama-3.1-8B-Instruct',
      '--port',
      '8000',
    ]);
    // The Service is applied after the Deployment: wait for it rather than race the controller.
    const service = await waitFor(() => core.readNamespacedService({ name: 'llama', namespace }), {
      description: 'Service',
    });
    assert.equal(service.spec!.ports![0]!.port, 8000);
    assert.equal(service.metadata!.ownerReferences![0]!.uid, created.metadata.uid);

    const running = await waitFor(
      async () => {
        const list = await pods('llama');
        return list.length === 2 && list.every((p) => p.status?.phase === 'Running') ? list : undefined;
      },
      { timeoutMs: 60_000, description: 'two pods Running' },
    );
    for (const pod of running) {
      assert.match(pod.spec!.nodeName!, new RegExp(`^${namespace}-gpu-`));
      assert.equal(pod.metadata!.labels!['app.kubernetes.io/managed-by'], 'attestor');
      assert.equal(pod.metadata!.labels!['app.kubernetes.io/name'], 'ai-worker');
      assert.equal(pod.metadata!.labels!['app.kubernetes.io/instance'], 'llama');
    }
    for (const obj of [deployment, service])
      assert.equal(obj.metadata!.labels!['app.kubernetes.io/managed-by'], 'attestor');

    // Ready pods on attested nodes, but without a workload certificate (no attestor init here:
    // confidential-node-workloads.test.ts certifies them): not attested, so the worker is not Ready.
    const status = await waitFor(
      async () => {
        const w = await getWorker('llama');
        return w.status?.readyReplicas === 2 &&
          w.status.conditions?.some((c) => c.type === 'Ready' && c.reason === 'AwaitingAttestation')
          ? w.status
          : undefined;
      },
      { timeoutMs: 60_000, description: 'AIWorker with 2 ready replicas, awaiting attestation' },
    );
    assert.equal(status.attestedReplicas, 0);
    const ready = status.conditions!.find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /2\/2 replicas ready, but only 0 run on attested GPU nodes/);
    assert.equal(status.conditions!.find((c) => c.type === 'Reconciling')?.status, 'True');
    assert.equal(ready.observedGeneration, created.metadata.generation);
    // Argo CD's health check, in gopher-lua, on the worker as the controller wrote it.
    const health = await luaHealth('charts/attestor/health/aiworker.lua', await getWorker('llama'));
    assert.equal(health.status, 'Progressing');
    assert.match(health.message, /^AwaitingAttestation: /);
    assert.equal(status.policyHash, policyHash(POLICY));
    assert.equal(status.selector, 'app.kubernetes.io/name=ai-worker,app.kubernetes.io/instance=llama');
    assert.equal(status.observedGeneration, created.metadata.generation);
  });

  it('holds a worker whose policy the Manifest does not allow at zero replicas and says why', async () => {
    await custom.createNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace,
      body: worker('rogue', { inline: 'package agent_policy\ndefault ExecProcessRequest := true\n' }),
    });
    const w = await waitFor(
      async () => {
        const current = await getWorker('rogue');
        return current.status?.conditions?.some((c) => c.type === 'PolicyCompliant' && c.status === 'False')
          ? current
          : undefined;
      },
      { description: 'PolicyCompliant=False' },
    );
    const compliant = w.status!.conditions!.find((c) => c.type === 'PolicyCompliant')!;
    assert.equal(compliant.reason, 'PolicyNotAllowed');
    assert.match(compliant.message, /spec\.policy/);
    assert.equal(w.status!.conditions!.find((c) => c.type === 'Ready')!.reason, 'ManifestViolation');
    // Breaking the Manifest is terminal until someone changes the worker or the Manifest (kstatus).
    assert.equal(w.status!.conditions!.find((c) => c.type === 'Stalled')?.status, 'True');
    assert.equal(
      w.status!.conditions!.find((c) => c.type === 'Reconciling'),
      undefined,
    );
    const health = await luaHealth('charts/attestor/health/aiworker.lua', w);
    assert.equal(health.status, 'Degraded');
    assert.match(health.message, /^ManifestViolation: .*spec\.policy/);
    assert.equal((await kstatus(w)).status, 'Failed', 'kstatus (cli-utils): Stalled is Failed');
    const deployment = await apps.readNamespacedDeployment({ name: 'rogue', namespace });
    assert.equal(deployment.spec!.replicas, 0);
    assert.equal((await pods('rogue')).length, 0);
    const events = await waitFor(
      async () => {
        const list = await core.listNamespacedEvent({
          namespace,
          fieldSelector: 'involvedObject.name=rogue,reason=PolicyNotAllowed',
        });
        return list.items.length > 0 ? list.items : undefined;
      },
      { description: 'Warning event' },
    );
    assert.equal(events[0]!.type, 'Warning');
  });

  it('reports a missing policy ConfigMap by name', async () => {
    await custom.createNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace,
      body: worker('orphan', { configMapRef: { name: 'nowhere' } }),
    });
    const w = await waitFor(
      async () => {
        const current = await getWorker('orphan');
        return current.status?.conditions?.some((c) => c.reason === 'PolicyNotFound') ? current : undefined;
      },
      { description: 'PolicyNotFound' },
    );
    assert.match(
      w.status!.conditions!.find((c) => c.type === 'PolicyCompliant')!.message,
      new RegExp(`ConfigMap ${namespace}/nowhere not found`),
    );
  });

  it('restores a Service that someone deleted', async () => {
    await core.deleteNamespacedService({ name: 'llama', namespace });
    await waitFor(
      async () =>
        (await core.readNamespacedService({ name: 'llama', namespace })).metadata?.deletionTimestamp === undefined,
      { description: 'Service back' },
    );
  });

  it('garbage-collects the Deployment, Service and pods when the AIWorker is deleted', async () => {
    await custom.deleteNamespacedCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'aiworkers',
      namespace,
      name: 'llama',
    });
    await waitFor(
      async () => {
        const [deployments, services, podList] = await Promise.all([
          apps.listNamespacedDeployment({ namespace, labelSelector: 'app.kubernetes.io/instance=llama' }),
          core.listNamespacedService({ namespace, labelSelector: 'app.kubernetes.io/instance=llama' }),
          pods('llama'),
        ]);
        return deployments.items.length === 0 && services.items.length === 0 && podList.length === 0;
      },
      { timeoutMs: 60_000, description: 'owned objects garbage-collected' },
    );
  });

  it('marks the namespace while it holds AIWorkers, puts a removed mark back, and unmarks it after the last one (item 16)', async () => {
    const label = 'attestor.dev/ai-workers';
    const marked = async (name: string) => (await core.readNamespace({ name })).metadata?.labels?.[label];
    assert.equal(await marked(namespace), 'true', 'marked since the first AIWorker');
    await core.patchNamespace(
      { name: namespace, body: { metadata: { labels: { [label]: null } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitFor(async () => (await marked(namespace)) === 'true', { description: 'the removed mark back' });
    for (const name of ['rogue', 'orphan'])
      await custom.deleteNamespacedCustomObject({
        group: 'attestor.dev',
        version: 'v1alpha1',
        plural: 'aiworkers',
        namespace,
        name,
      });
    await waitFor(async () => (await marked(namespace)) === undefined, {
      description: 'the mark gone with the last AIWorker',
    });
  });
});
