// How an AIWorker is reached, on the real control plane: its Service is ClusterIP by default and
// becomes a LoadBalancer or NodePort with the annotations of spec.service (and back), always
// serving only the worker proxy's TLS port; its NetworkPolicy, owned by the AIWorker, admits
// ingress to the pods only on that port, follows the port when spec.port moves it, and goes
// with the AIWorker.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../src/api/aiworker.ts';
import { WORKER_PROXY_ALTERNATE_PORT, WORKER_PROXY_PORT } from '../../src/controllers/aiworker/workload.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { apiError, sharedControlPlane, startTestOperator, uniqueName } from '../harness/cluster.ts';

const POLICY = 'package agent_policy\n# exposure test\ndefault CreateContainerRequest := true\n';
const IMAGE = `registry.example/vllm@sha256:${'e1'.repeat(32)}`;
const INIT_IMAGE = `registry.example/attestor@sha256:${'e2'.repeat(32)}`;
const aiWorkers = { group: 'attestor.dev', version: 'v1alpha1', plural: 'aiworkers' };

describe('AIWorker exposure: the Service type and annotations, and the NetworkPolicy per AIWorker', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let core: k8s.CoreV1Api;
  let networking: k8s.NetworkingV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: RunningOperator;
  const namespace = uniqueName('exposure');
  let uid = '';

  before(async () => {
    cp = await sharedControlPlane();
    const kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    networking = kc.makeApiClient(k8s.NetworkingV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // No Manifest allows this worker: it is held at 0 replicas, and still gets its Service and policy.
    operator = await startTestOperator(kc, {
      workload: {
        initImage: INIT_IMAGE,
        coordinatorUrl: 'https://attestor-coordinator.test.svc:8443',
        coordinatorCaPem: cp.caPem,
      },
    });
    const created = (await custom.createNamespacedCustomObject({
      ...aiWorkers,
      namespace,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'AIWorker',
        metadata: { name: 'llm', namespace },
        spec: { image: IMAGE, model: 'm', runtimeClassName: 'kata-snp', policy: { inline: POLICY } },
      },
    })) as AIWorker;
    uid = created.metadata.uid!;
  });
  after(async () => {
    await operator?.stop();
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  const patchWorker = (spec: Record<string, unknown>) =>
    custom.patchNamespacedCustomObject(
      { ...aiWorkers, namespace, name: 'llm', body: { spec } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  const service = () => core.readNamespacedService({ name: 'llm', namespace });
  const networkPolicy = () => networking.readNamespacedNetworkPolicy({ name: 'llm', namespace });
  const admittedPorts = (policy: k8s.V1NetworkPolicy) =>
    (policy.spec?.ingress ?? []).map((rule) => [rule._from, (rule.ports ?? []).map((p) => [p.protocol, p.port])]);

  it('defaults to a ClusterIP Service without annotations that serves only the worker proxy on 443', async () => {
    const svc = await waitFor(service, { description: 'Service' });
    assert.equal(svc.spec?.type, 'ClusterIP');
    assert.deepEqual(svc.metadata?.annotations ?? {}, {});
    assert.deepEqual(
      svc.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
      [['https', 443, 'https']],
    );
  });

  it('makes the Service a LoadBalancer with the annotations of spec.service, a NodePort, and ClusterIP again', async () => {
    const annotations = { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb', 'example.com/team': 'ml' };
    await patchWorker({ service: { type: 'LoadBalancer', annotations } });
    const lb = await waitFor(async () => ((await service()).spec?.type === 'LoadBalancer' ? service() : undefined), {
      description: 'a LoadBalancer Service',
    });
    for (const [key, value] of Object.entries(annotations)) assert.equal(lb.metadata?.annotations?.[key], value);
    assert.deepEqual(
      lb.spec?.ports?.map((p) => [p.name, p.port, p.targetPort]),
      [['https', 443, 'https']],
      'still only the TLS port: a load balancer passes TCP, TLS ends in the worker proxy',
    );
    assert.ok(lb.spec?.ports?.[0]?.nodePort, 'the API server allocated a node port');
    assert.equal(lb.metadata?.ownerReferences?.[0]?.uid, uid);

    // Someone else's annotation (a cloud controller's) stays; one removed from spec.service goes.
    await core.patchNamespacedService(
      { name: 'llm', namespace, body: { metadata: { annotations: { 'cloud.example/lb-id': 'lb-1' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await patchWorker({ service: { type: 'NodePort', annotations: { 'example.com/team': null } } });
    const nodePort = await waitFor(async () => ((await service()).spec?.type === 'NodePort' ? service() : undefined), {
      description: 'a NodePort Service',
    });
    assert.deepEqual(nodePort.metadata?.annotations, {
      'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb',
      'cloud.example/lb-id': 'lb-1',
    });

    await patchWorker({ service: null });
    const back = await waitFor(async () => ((await service()).spec?.type === 'ClusterIP' ? service() : undefined), {
      description: 'a ClusterIP Service again',
    });
    assert.deepEqual(back.metadata?.annotations, { 'cloud.example/lb-id': 'lb-1' });
    assert.equal(back.spec?.ports?.[0]?.nodePort, undefined, 'no node port on a ClusterIP Service');
  });

  it('refuses an annotation key that is not a qualified name when the AIWorker is written, not later on the Service', async () => {
    const refused = await patchWorker({ service: { annotations: { 'not a key!': 'x' } } }).then(
      () => undefined,
      (err: unknown) => apiError(err),
    );
    assert.equal(refused?.code, 422);
    assert.match(refused.message, /annotation keys must be qualified names/);
  });

  it("creates a NetworkPolicy owned by the AIWorker that admits ingress only on the worker proxy's TLS port", async () => {
    const policy = await waitFor(networkPolicy, { description: 'NetworkPolicy' });
    assert.deepEqual(
      policy.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [['AIWorker', 'llm', uid, true]],
    );
    assert.equal(policy.metadata?.labels?.['app.kubernetes.io/managed-by'], 'attestor');
    assert.deepEqual(policy.spec?.podSelector?.matchLabels, {
      'app.kubernetes.io/name': 'ai-worker',
      'app.kubernetes.io/instance': 'llm',
    });
    assert.deepEqual(policy.spec?.policyTypes, ['Ingress']);
    // From anywhere, but only to the proxy: the model server's port 8000 is in no rule.
    assert.deepEqual(admittedPorts(policy), [[undefined, [['TCP', WORKER_PROXY_PORT]]]]);
  });

  it('moves the admitted port when spec.port makes the worker proxy move, and restores an edited or deleted policy', async () => {
    // The model server takes 8443: the proxy moves to 9443, and so does the policy.
    await patchWorker({ port: WORKER_PROXY_PORT });
    const moved = await waitFor(
      async () => {
        const policy = await networkPolicy();
        return policy.spec?.ingress?.[0]?.ports?.[0]?.port === WORKER_PROXY_ALTERNATE_PORT ? policy : undefined;
      },
      { description: `the NetworkPolicy admitting ${WORKER_PROXY_ALTERNATE_PORT}` },
    );
    assert.deepEqual(admittedPorts(moved), [[undefined, [['TCP', WORKER_PROXY_ALTERNATE_PORT]]]]);

    // Someone opens the model server's port: the controller puts the policy back.
    await networking.patchNamespacedNetworkPolicy(
      {
        name: 'llm',
        namespace,
        body: { spec: { ingress: [{ ports: [{ protocol: 'TCP', port: WORKER_PROXY_PORT }] }] } },
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitFor(
      async () => (await networkPolicy()).spec?.ingress?.[0]?.ports?.[0]?.port === WORKER_PROXY_ALTERNATE_PORT,
      { description: 'the edited NetworkPolicy restored' },
    );

    const deleted = (await networkPolicy()).metadata?.uid;
    await networking.deleteNamespacedNetworkPolicy({ name: 'llm', namespace });
    const restored = await waitFor(
      async () => {
        const policy = await networkPolicy().catch(() => undefined);
        return policy && policy.metadata?.uid !== deleted ? policy : undefined;
      },
      { description: 'the deleted NetworkPolicy back' },
    );
    assert.deepEqual(admittedPorts(restored), [[undefined, [['TCP', WORKER_PROXY_ALTERNATE_PORT]]]]);
  });

  it('garbage-collects the NetworkPolicy and the Service with the AIWorker', async () => {
    await custom.deleteNamespacedCustomObject({ ...aiWorkers, namespace, name: 'llm' });
    await waitFor(
      async () => {
        const [policies, services] = await Promise.all([
          networking.listNamespacedNetworkPolicy({ namespace }),
          core.listNamespacedService({ namespace }),
        ]);
        return policies.items.length === 0 && services.items.length === 0;
      },
      { timeoutMs: 90_000, description: 'NetworkPolicy and Service gone' },
    );
  });
});
