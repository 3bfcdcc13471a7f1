// A reconcile that changes nothing writes nothing. The operator runs as its own service account, so
// the API server's audit log (src/dev/control-plane-pki.ts) records each call it makes: AIWorkers
// converge with one Deployment and one Service apply, one namespace mark and a status write per
// state they pass through (Events excluded), and reconciles that find nothing to
// change (pod events, AIWorker metadata edits) make no write at all.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../src/api/aiworker.ts';
import { GPU_ATTESTED_LABEL } from '../../src/api/aiworker-labels.ts';
import { policyHash } from '../../src/controllers/aiworker/policy.ts';
import { type AuditEvent, auditedWrites } from '../../src/dev/audit-log.ts';
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
const IMAGE = `registry.example/vllm@sha256:${'c4'.repeat(32)}`;
const WORKERS = 3;

/**
 * The operator's writes (Events excluded) of stored objects in `namespace` (and to that namespace itself) since
 * byte `from` of the audit log. Other namespaces are left out: the operator watches the whole
 * shared control plane, where other tests leave AIWorkers of their own.
 */
function writesSince(cp: ControlPlane, from: number, username: string, namespace: string): AuditEvent[] {
  return auditedWrites(cp.auditLogPath, from, statSync(cp.auditLogPath).size, username).filter(
    (e) =>
      e.objectRef?.namespace === namespace ||
      (e.objectRef?.resource === 'namespaces' && e.objectRef.name === namespace),
  );
}

const describeWrite = (e: AuditEvent) =>
  `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''} ${e.objectRef?.namespace ?? ''}/${e.objectRef?.name ?? ''}`;

describe('operator writes (API server audit log)', function () {
  let cp: ControlPlane;
  let admin: k8s.KubeConfig;
  let custom: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let operator: RunningOperator;
  let operatorKc: k8s.KubeConfig;
  const namespace = uniqueName('writes');
  const manifestName = uniqueName('writes-manifest');
  const runtimeClass = uniqueName('kata-writes');
  const serviceAccount = 'writes-operator';
  const username = `system:serviceaccount:${namespace}:${serviceAccount}`;
  const nodes = ['a', 'b'].map((n) => `${namespace}-gpu-${n}`);

  before(async function () {
    this.timeout(180_000);
    cp = await sharedControlPlane();
    admin = cp.kubeConfig();
    custom = admin.makeApiClient(k8s.CustomObjectsApi);
    core = admin.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
    await admin.makeApiClient(k8s.RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name: namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace }],
      },
    });
    const token = (
      await core.createNamespacedServiceAccountToken({ name: serviceAccount, namespace, body: { spec: {} } })
    ).status?.token;
    assert.ok(token, 'TokenRequest returned a token');
    const cluster = admin.getCurrentCluster()!;
    operatorKc = new k8s.KubeConfig();
    operatorKc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: serviceAccount, token }],
      contexts: [{ name: 'operator', cluster: cluster.name, user: serviceAccount }],
      currentContext: 'operator',
    });
    await admin
      .makeApiClient(k8s.NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'kata' } });
    for (const node of nodes) await cp.createGpuNode(node, { gpus: 4 });
    await custom.createClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'manifests',
      body: gatingManifest(manifestName, { policy: { name: 'llama', hash: policyHash(POLICY) }, runtimeClass }),
    });
    operator = await startTestOperator(operatorKc);
    const hash = await activeManifestHash(operator, manifestName, { description: 'test Manifest active' });
    for (const node of nodes) await writeCurrentAttestation(admin, node, hash!, 4);
    for (const node of nodes)
      await waitFor(
        async () => (await core.readNode({ name: node })).metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true',
        { description: `node ${node} opened` },
      );
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
    await admin
      ?.makeApiClient(k8s.RbacAuthorizationV1Api)
      .deleteClusterRoleBinding({ name: namespace })
      .catch(() => undefined);
    for (const node of nodes) await core?.deleteNode({ name: node }).catch(() => undefined);
  });

  const worker = (name: string): AIWorker => ({
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name, namespace },
    spec: {
      image: IMAGE,
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      replicas: 2,
      gpusPerReplica: 1,
      runtimeClassName: runtimeClass,
      policy: { inline: POLICY },
      deploymentModel: 'confidential-node',
      port: 8000,
      resources: { requests: { memory: '1024Mi', cpu: '1000m' } },
    },
  });
  const names = Array.from({ length: WORKERS }, (_, i) => `worker-${i}`);
  const aiWorkerReconciles = async () =>
    (await operator.metrics.reconcileTotal.get()).values
      .filter((v) => v.labels.controller === 'aiworker')
      .reduce((sum, v) => sum + v.value, 0);

  it('converges each AIWorker with one apply per object and one status write per state, then writes nothing on reconciles that change nothing', async function () {
    this.timeout(240_000);
    const start = statSync(cp.auditLogPath).size;
    for (const name of names)
      await custom.createNamespacedCustomObject({
        group: 'attestor.dev',
        version: 'v1alpha1',
        plural: 'aiworkers',
        namespace,
        body: worker(name),
      });
    // Converged: both replicas ready and the status says so (no workload certificates here, so the
    // worker waits for attestation: that status is final for this test).
    for (const name of names)
      await waitFor(
        () => {
          const w = operator.informers.aiWorkers.get(name, namespace);
          const ready = w?.status?.conditions?.find((c) => c.type === 'Reconciling');
          return w?.status?.readyReplicas === 2 && ready?.reason === 'AwaitingAttestation';
        },
        { timeoutMs: 120_000, description: `AIWorker ${name} converged` },
      );
    const converged = statSync(cp.auditLogPath).size;
    const writes = writesSince(cp, start, username, namespace);
    assert.ok(writes.length > 0, 'the audit log records the operator');
    const count = (resource: string) =>
      writes.filter(
        (e) => `${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ''}` === resource,
      ).length;
    const all = writes.map(describeWrite).join(', ');
    // One apply each for the Deployment, the Service and the NetworkPolicy, one mark for the
    // namespace, and status writes at most once a second (STATUS_WRITE_INTERVAL_MS): created, then
    // where its pods' burst of events ended (pods that become ready in separate seconds can add one).
    assert.equal(count('deployments'), WORKERS, `one Deployment apply per AIWorker: ${all}`);
    assert.equal(count('services'), WORKERS, `one Service apply per AIWorker: ${all}`);
    assert.equal(count('networkpolicies'), WORKERS, `one NetworkPolicy apply per AIWorker: ${all}`);
    assert.equal(count('namespaces'), 1, `the namespace is marked once: ${all}`);
    assert.ok(count('aiworkers/status') <= 3 * WORKERS, `at most 3 status writes per AIWorker: ${all}`);
    assert.equal(
      writes.length,
      ['deployments', 'services', 'networkpolicies', 'namespaces', 'aiworkers/status'].reduce(
        (n, r) => n + count(r),
        0,
      ),
      `no other writes: ${all}`,
    );

    // Reconciles that find nothing to change: every pod and every AIWorker is touched (metadata only).
    const before = await aiWorkerReconciles();
    const pods = (await core.listNamespacedPod({ namespace })).items;
    assert.equal(pods.length, 2 * WORKERS, 'the workers run their pods');
    const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    for (const pod of pods)
      await core.patchNamespacedPod(
        { name: pod.metadata!.name!, namespace, body: { metadata: { annotations: { 'test/touched': 'pod' } } } },
        merge,
      );
    for (const name of names)
      await custom.patchNamespacedCustomObject(
        {
          group: 'attestor.dev',
          version: 'v1alpha1',
          plural: 'aiworkers',
          namespace,
          name,
          body: { metadata: { annotations: { 'test/touched': 'aiworker' } } },
        },
        merge,
      );
    await waitFor(async () => (await aiWorkerReconciles()) >= before + WORKERS * 2, {
      timeoutMs: 60_000,
      description: 'the operator reconciled the touched workers',
    });
    // The idle window this test measures: reconciles still queued run within it.
    const windowEnd = Date.now() + 5_000;
    await waitFor(() => Date.now() >= windowEnd, { timeoutMs: 10_000, description: 'idle window over' });
    const idle = writesSince(cp, converged, username, namespace);
    assert.deepEqual(idle.map(describeWrite), [], 'no writes after convergence');
  });

  it('writes nothing after a restart when every AIWorker is as the last operator left it', async function () {
    this.timeout(120_000);
    await operator.stop();
    const from = statSync(cp.auditLogPath).size;
    operator = await startTestOperator(operatorKc);
    // The new operator lists everything (a list's items carry no apiVersion and kind) and reconciles each worker.
    await waitFor(async () => (await aiWorkerReconciles()) >= WORKERS, {
      timeoutMs: 60_000,
      description: 'the restarted operator reconciled every worker',
    });
    const windowEnd = Date.now() + 5_000;
    await waitFor(() => Date.now() >= windowEnd, { timeoutMs: 10_000, description: 'idle window over' });
    const writes = writesSince(cp, from, username, namespace);
    assert.deepEqual(writes.map(describeWrite), [], 'no writes after the restart');
  });
});
