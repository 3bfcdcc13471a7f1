// The admission webhook on the real API server: the server runs in this process on 127.0.0.1
// with a serving certificate from the control plane's CA, registered with its caBundle, and
// answers only the API server (client certificate from the control plane's AdmissionConfiguration).
// Pods that break the active Manifest are refused with the field paths (any pod an AIWorker's
// Service selects, also when labelled later or through pods/status), GPU pods get the attested
// nodeSelector and may name only attested nodes, bindings of GPU pods in AIWorker and enforced
// namespaces need a current NodeAttestation, and with the server gone everything in scope is
// refused (fail closed) while plain pods still schedule. Who opens nodes is the API server's own
// ValidatingAdmissionPolicy: only the operator's identity, through nodes and nodes/status alike,
// and it holds with the webhook server gone, while nodes still register.
// The configurations are confined to this file's namespaces and nodes and deleted afterwards.
// Every test sets up the pods and node states it needs, so that any one runs alone (--grep) or
// in any order; what all share (namespaces, Manifest, operator, server, configurations) is made
// once, and the server stopped only inside the suite that needs it down.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { AIWorker } from '../../src/api/aiworker.ts';
import { KATA_POLICY_ANNOTATION, POLICY_HASH_ANNOTATION } from '../../src/api/aiworker-labels.ts';
import { policyHash } from '../../src/controllers/aiworker/policy.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import {
  deleteWebhookConfigurations,
  installWebhookConfigurations,
} from '../../src/webhook/configuration-installer.ts';
import { requestsGpus } from '../../src/webhook/gpu-requests.ts';
import { WebhookMetrics } from '../../src/webhook/metrics.ts';
import { deleteNodeGatingPolicy, installNodeGatingPolicy } from '../../src/webhook/node-policy.ts';
import { startWebhookServer, type WebhookServer } from '../../src/webhook/server.ts';
import { activeManifestHash, apiError, sharedControlPlane, startTestOperator, uniqueName } from '../harness/cluster.ts';
import { gatingManifest } from '../harness/gating.ts';

const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
const ROGUE_POLICY = 'package agent_policy\ndefault ExecProcessRequest := true\n';
const IMAGE = `registry.example/vllm@sha256:${'c3'.repeat(32)}`;
const OPERATOR = 'system:serviceaccount:attestor-system:attestor-operator';
const SCOPE_LABEL = 'test.attestor.dev/webhook';
const GROUP = { group: 'attestor.dev', version: 'v1alpha1' };
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

describe('admission webhook (real API server)', function () {
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: RunningOperator;
  let server: WebhookServer | undefined;
  let certDir: string;
  const registry = new Registry();
  const metrics = new WebhookMetrics(registry);
  const run = uniqueName('wh');
  const enforced = `${run}-enforced`;
  const plain = `${run}-plain`;
  const workers = `${run}-workers`;
  const workerName = 'llama';
  let serviceSelector: Record<string, string>;
  const runtimeClass = `${run}-kata`;
  const otherRuntimeClass = `${run}-runc`;
  const manifestName = `${run}-manifest`;
  const policyName = `${run}.node-gating.attestor.dev`;
  let manifestHash: string;

  before(async function () {
    cp = await sharedControlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await core.createNamespace({
      body: { metadata: { name: enforced, labels: { 'attestor.dev/enforce': 'true', [SCOPE_LABEL]: run } } },
    });
    await core.createNamespace({ body: { metadata: { name: plain, labels: { [SCOPE_LABEL]: run } } } });
    await core.createNamespace({ body: { metadata: { name: workers, labels: { [SCOPE_LABEL]: run } } } });
    // Both classes exist, so that the RuntimeClass admission plugin lets the pods reach the webhook.
    const node = kc.makeApiClient(k8s.NodeV1Api);
    for (const name of [runtimeClass, otherRuntimeClass])
      await node.createRuntimeClass({ body: { metadata: { name }, handler: 'kata' } });
    await custom.createClusterCustomObject({
      ...GROUP,
      plural: 'manifests',
      body: gatingManifest(manifestName, { policy: { name: 'llama', hash: policyHash(POLICY) }, runtimeClass }),
    });
    // The Manifest controller writes status.hash, which the binding rule compares against.
    operator = await startTestOperator(kc);
    manifestHash = await activeManifestHash(operator, manifestName, {
      description: 'test Manifest active with a hash',
    });

    const serving = await issueCertificate(cp.certificateAuthority, {
      commonName: 'attestor-webhook',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    certDir = mkdtempSync(join(tmpdir(), 'attestor-webhook-'));
    writeFileSync(join(certDir, 'tls.crt'), serving.certificatePem);
    writeFileSync(join(certDir, 'tls.key'), serving.privateKeyPem, { mode: 0o600 });
    server = await startServer(0);
    await installWebhookConfigurations(kc, {
      name: run,
      endpoint: { url: `https://127.0.0.1:${server.port}` },
      caBundlePem: cp.caPem,
      scope: { namespaceSelector: { matchLabels: { [SCOPE_LABEL]: run } } },
    });
    await installNodeGatingPolicy(kc, {
      name: policyName,
      operatorUsernames: [OPERATOR],
      nodeSelector: { matchLabels: { [SCOPE_LABEL]: run } },
    });
    // The API server picks configurations up asynchronously: wait until both are in force.
    await waitFor(
      async () => {
        try {
          await core.createNamespacedPod({
            namespace: enforced,
            body: pod('probe', { image: 'busybox' }),
            dryRun: 'All',
          });
          return false;
        } catch (err) {
          return /attestor\.dev" denied the request/.test(apiError(err).message);
        }
      },
      { timeoutMs: 30_000, description: 'validating webhook in force' },
    );
    await waitFor(
      async () =>
        (await core.createNamespacedPod({ namespace: enforced, body: pod('probe', { gpus: 1 }), dryRun: 'All' })).spec
          ?.nodeSelector?.['attestor.dev/gpu-attested'] === 'true',
      { timeoutMs: 30_000, description: 'mutating webhook in force' },
    );

    // An AIWorker (no replicas): the operator marks its namespace and gives it a Service.
    const aiWorker: AIWorker = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name: workerName, namespace: workers },
      spec: {
        image: IMAGE,
        model: 'meta-llama/Llama-3.1-8B-Instruct',
        replicas: 0,
        runtimeClassName: runtimeClass,
        policy: { inline: POLICY },
        // Node CVMs attested by the agent: the model this test is about (pod-cvm is the default).
        deploymentModel: 'confidential-node',
      },
    };
    await custom.createNamespacedCustomObject({ ...GROUP, plural: 'aiworkers', namespace: workers, body: aiWorker });
    serviceSelector = await waitFor(
      async () => {
        const service = await core
          .readNamespacedService({ name: workerName, namespace: workers })
          .catch(() => undefined);
        return service?.spec?.selector;
      },
      { description: "the AIWorker's Service" },
    );
    await waitFor(
      async () =>
        (await core.readNamespace({ name: workers })).metadata?.labels?.['attestor.dev/ai-workers'] === 'true',
      { description: 'the AIWorker namespace marked' },
    );
  });

  after(async function () {
    // First of all: configurations left behind would refuse other test files' requests.
    await deleteWebhookConfigurations(kc, run).catch(() => undefined);
    await deleteNodeGatingPolicy(kc, policyName).catch(() => undefined);
    await server?.close();
    await operator?.stop();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
    await custom
      .deleteClusterCustomObject({ ...GROUP, plural: 'manifests', name: manifestName })
      .catch(() => undefined);
    for (const name of nodeNames) {
      await core.deleteNode({ name }).catch(() => undefined);
      await custom.deleteClusterCustomObject({ ...GROUP, plural: 'nodeattestations', name }).catch(() => undefined);
    }
    for (const name of [enforced, plain, workers]) await core.deleteNamespace({ name }).catch(() => undefined);
    const node = kc.makeApiClient(k8s.NodeV1Api);
    for (const name of [runtimeClass, otherRuntimeClass])
      await node.deleteRuntimeClass({ name }).catch(() => undefined);
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await rbac.deleteClusterRoleBinding({ name: run }).catch(() => undefined);
    await rbac.deleteClusterRole({ name: run }).catch(() => undefined);
  });

  const nodeNames: string[] = [];

  /** The webhook server in this process (port 0: any free one). */
  function startServer(port: number): Promise<WebhookServer> {
    return startWebhookServer({
      host: '127.0.0.1',
      port,
      tls: { certFile: join(certDir, 'tls.crt'), keyFile: join(certDir, 'tls.key') },
      // Only the API server holds a certificate from this CA: every request below came through it.
      clientAuth: { caFile: cp.webhookClientCaFile },
      manifests: operator.informers.manifests,
      nodeAttestations: operator.informers.nodeAttestations,
      pods: core,
      log: silentLogger,
      metrics,
    });
  }

  // RBAC that lets alice and the operator's service account edit nodes, so that only the node
  // gating policy stands between them and the attested label. Made once, by the first suite that
  // needs it, and in force when it resolves.
  let nodeRbac: Promise<void> | undefined;
  function grantNodeRbac(): Promise<void> {
    nodeRbac ??= (async () => {
      const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
      await rbac.createClusterRole({
        body: {
          metadata: { name: run },
          rules: [
            {
              apiGroups: [''],
              resources: ['nodes', 'nodes/status'],
              verbs: ['get', 'list', 'create', 'patch', 'update'],
            },
          ],
        },
      });
      await rbac.createClusterRoleBinding({
        body: {
          metadata: { name: run },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: run },
          subjects: [
            { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice' },
            { kind: 'ServiceAccount', name: 'attestor-operator', namespace: 'attestor-system' },
          ],
        },
      });
      for (const user of ['alice', OPERATOR]) {
        const client = cp.kubeConfigAs(user).makeApiClient(k8s.CoreV1Api);
        await waitFor(
          () =>
            client.readNode({ name: `${run}-no-such-node` }).then(
              () => true,
              (err) => apiError(err).code === 404, // allowed to look: not 403
            ),
          { description: `RBAC on nodes for ${user}` },
        );
      }
    })();
    return nodeRbac;
  }

  /** A pod that meets the Manifest, created in the enforced namespace: for tests that change one. */
  async function compliantPod(name: string): Promise<void> {
    await core.createNamespacedPod({ namespace: enforced, body: pod(name) });
  }

  // GPU nodes for bindings: one without a NodeAttestation, one attested against another Manifest,
  // one attested against the active one (in the operator's cache). Made once, by the first suite
  // that needs them.
  const unattested = `${run}-unattested`;
  const stale = `${run}-stale`;
  const attested = `${run}-attested`;
  let bindingNodes: Promise<void> | undefined;
  function createBindingNodes(): Promise<void> {
    bindingNodes ??= (async () => {
      for (const name of [unattested, stale, attested]) {
        await cp.createGpuNode(name, { gpus: 8 });
        nodeNames.push(name);
      }
      const now = Date.now();
      const writeAttestation = async (name: string, hash: string) => {
        await custom.createClusterCustomObject({
          ...GROUP,
          plural: 'nodeattestations',
          body: { apiVersion: 'attestor.dev/v1alpha1', kind: 'NodeAttestation', metadata: { name } },
        });
        const condition = (type: string) => ({
          type,
          status: 'True',
          reason: 'Verified',
          message: 'verified',
          lastTransitionTime: new Date(now).toISOString(),
        });
        await custom.patchClusterCustomObjectStatus(
          {
            ...GROUP,
            plural: 'nodeattestations',
            name,
            body: {
              status: {
                manifestHash: hash,
                cvm: { platform: 'snp', verified: true, simulated: true },
                gpus: [{ uuid: `GPU-${name}`, architecture: 'HOPPER', verified: true, activated: true }],
                attestedAt: new Date(now).toISOString(),
                expiresAt: new Date(now + 3_600_000).toISOString(),
                conditions: [condition('Attested'), condition('GPUsActivated')],
              },
            },
          },
          merge,
        );
      };
      await writeAttestation(attested, manifestHash);
      await writeAttestation(stale, 'ee'.repeat(32));
      await waitFor(
        () =>
          operator.informers.nodeAttestations.get(attested)?.status?.manifestHash === manifestHash &&
          operator.informers.nodeAttestations.get(stale)?.status !== undefined,
        { description: 'NodeAttestations in the cache' },
      );
    })();
    return bindingNodes;
  }

  /** A pod that meets the Manifest; the scheduler leaves it alone (the tests bind it themselves). */
  function pod(
    name: string,
    options: {
      gpus?: number;
      aiWorker?: boolean;
      labels?: Record<string, string>;
      image?: string;
      runtimeClass?: string | null;
      policy?: string;
      tolerations?: k8s.V1Toleration[];
      nodeName?: string;
    } = {},
  ): k8s.V1Pod {
    const policy = options.policy ?? POLICY;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels:
          options.labels ??
          (options.aiWorker
            ? {
                'app.kubernetes.io/managed-by': 'attestor',
                'app.kubernetes.io/name': 'ai-worker',
                'app.kubernetes.io/instance': name,
              }
            : { app: name }),
        annotations: {
          [KATA_POLICY_ANNOTATION]: Buffer.from(policy).toString('base64'),
          [POLICY_HASH_ANNOTATION]: policyHash(policy),
        },
      },
      spec: {
        schedulerName: 'nonexistent',
        ...(options.runtimeClass === null ? {} : { runtimeClassName: options.runtimeClass ?? runtimeClass }),
        containers: [
          {
            name: 'server',
            image: options.image ?? IMAGE,
            ...(options.gpus ? { resources: { limits: { 'nvidia.com/gpu': String(options.gpus) } } } : {}),
          },
        ],
        tolerations: options.tolerations,
        ...(options.nodeName ? { nodeName: options.nodeName } : {}),
      },
    };
  }
  const validatePodsRequests = async () =>
    (await registry.getSingleMetric('attestor_webhook_requests_total')!.get()).values
      .filter((v) => v.labels.webhook === 'validate-pods')
      .reduce((sum, v) => sum + v.value, 0);

  async function refusal(namespace: string, body: k8s.V1Pod): Promise<string> {
    try {
      await core.createNamespacedPod({ namespace, body });
    } catch (err) {
      const e = apiError(err);
      assert.equal(e.code, 403, e.message);
      return e.message;
    }
    assert.fail(`pod ${body.metadata!.name} was admitted`);
  }

  describe('pods', function () {
    const refused: Array<{ name: string; pod: () => k8s.V1Pod; message: () => string }> = [
      {
        name: 'a runtime class the Manifest does not allow',
        pod: () => pod('wrong-class', { runtimeClass: otherRuntimeClass }),
        message: () =>
          `spec.runtimeClassName: "${otherRuntimeClass}" is not allowed by Manifest ${manifestName} (allowed: ${runtimeClass})`,
      },
      {
        name: 'a policy the Manifest does not list',
        pod: () => pod('rogue-policy', { policy: ROGUE_POLICY }),
        message: () =>
          `metadata.annotations[${KATA_POLICY_ANNOTATION}]: policy with SHA-256 ${policyHash(ROGUE_POLICY)} is not allowed by Manifest ${manifestName}`,
      },
      {
        name: 'an image not pinned by digest',
        pod: () => pod('unpinned', { image: 'registry.example/vllm:latest' }),
        message: () => 'spec.containers[0].image: "registry.example/vllm:latest" is not pinned by digest',
      },
      {
        name: 'a toleration of the unattested taint',
        pod: () =>
          pod('tolerant', {
            tolerations: [{ key: 'attestor.dev/unattested', operator: 'Exists', effect: 'NoSchedule' }],
          }),
        message: () => 'spec.tolerations[0]: tolerates the attestor.dev/unattested taint',
      },
    ];
    for (const c of refused) {
      it(`refuses a pod in an enforced namespace with ${c.name}`, async function () {
        const message = await refusal(enforced, c.pod());
        assert.match(message, /^admission webhook "enforced-pods\.validate\.attestor\.dev" denied the request: /);
        assert.ok(message.includes(c.message()), message);
        await assert.rejects(
          core.readNamespacedPod({ namespace: enforced, name: c.pod().metadata!.name! }),
          (err) => apiError(err).code === 404,
        );
      });
    }

    it('lists every broken rule of a pod in one refusal', async function () {
      const message = await refusal(
        enforced,
        pod('everything-wrong', {
          runtimeClass: otherRuntimeClass,
          image: 'x:latest',
          tolerations: [{ operator: 'Exists' }],
        }),
      );
      for (const field of [
        'spec.runtimeClassName:',
        'spec.containers[0].image: "x:latest" is not pinned by digest',
        'spec.tolerations[0]: tolerates every taint',
      ])
        assert.ok(message.includes(field), `${field} in ${message}`);
    });

    it('admits the same pod when it meets the Manifest', async function () {
      const created = await core.createNamespacedPod({ namespace: enforced, body: pod('compliant') });
      assert.equal(created.spec!.runtimeClassName, runtimeClass);
      assert.equal(created.spec!.nodeSelector, undefined, 'no GPUs, no nodeSelector');
    });

    it('judges AI worker pods in any namespace, and leaves other pods there alone but for the GPU nodeSelector', async function () {
      const message = await refusal(plain, pod('worker-unpinned', { aiWorker: true, image: 'vllm:latest' }));
      assert.match(
        message,
        /^admission webhook "ai-worker-pods\.validate\.attestor\.dev" denied the request: spec\.containers\[0\]\.image: "vllm:latest" is not pinned by digest$/,
      );
      await core.createNamespacedPod({ namespace: plain, body: pod('worker-ok', { aiWorker: true }) });
      const outside = await core.createNamespacedPod({
        namespace: plain,
        body: pod('not-a-worker', { image: 'busybox', runtimeClass: otherRuntimeClass }),
      });
      assert.equal(outside.spec!.nodeSelector, undefined, 'pods out of scope are not judged or mutated');
      // A GPU pod out of scope is not judged either, but it selects attested nodes (item 16: the
      // nodeSelector set at CREATE keeps it off other nodes where no binding webhook looks).
      const gpu = await core.createNamespacedPod({
        namespace: plain,
        body: pod('not-a-worker-gpu', { image: 'busybox', runtimeClass: otherRuntimeClass, gpus: 1 }),
      });
      assert.deepEqual(gpu.spec!.nodeSelector, { 'attestor.dev/gpu-attested': 'true' });
    });

    it("refuses a pod that carries only an AIWorker Service's selector labels (item 11)", async function () {
      assert.deepEqual(serviceSelector, {
        'app.kubernetes.io/name': 'ai-worker',
        'app.kubernetes.io/instance': workerName,
      });
      const message = await refusal(
        workers,
        pod('impostor', { labels: { ...serviceSelector }, runtimeClass: null, image: 'registry.example/vllm:latest' }),
      );
      assert.match(message, /^admission webhook "ai-worker-pods\.validate\.attestor\.dev" denied the request: /);
      for (const field of [
        'spec.runtimeClassName: is not set',
        'spec.containers[0].image: "registry.example/vllm:latest" is not pinned by digest',
      ])
        assert.ok(message.includes(field), `${field} in ${message}`);
      const endpoints = await core.listNamespacedPod({
        namespace: workers,
        labelSelector: Object.entries(serviceSelector)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      });
      assert.deepEqual(
        endpoints.items.map((p) => p.metadata!.name),
        [],
        'nothing the Service selects',
      );
    });

    it("judges in full an update that gives a pod an AIWorker's selector labels, through the pod or pods/status (items 11, 17)", async function () {
      // Out of scope when created: no runtime class, an unpinned image, admitted.
      const created = await core.createNamespacedPod({
        namespace: workers,
        body: pod('relabelled', { runtimeClass: null, image: 'registry.example/vllm:latest' }),
      });
      assert.equal(created.spec!.runtimeClassName, undefined);
      const expectRefused = async (promise: Promise<unknown>) => {
        try {
          await promise;
        } catch (err) {
          const e = apiError(err);
          assert.equal(e.code, 403, e.message);
          assert.match(
            e.message,
            /^admission webhook "ai-worker-pods\.validate\.attestor\.dev" denied the request: .*spec\.runtimeClassName: is not set/,
          );
          return;
        }
        assert.fail('the relabelling was admitted');
      };
      const labels = { metadata: { labels: { 'app.kubernetes.io/managed-by': 'attestor', ...serviceSelector } } };
      await expectRefused(core.patchNamespacedPod({ namespace: workers, name: 'relabelled', body: labels }, merge));
      await expectRefused(
        core.patchNamespacedPodStatus(
          { namespace: workers, name: 'relabelled', body: { metadata: { labels: serviceSelector } } },
          merge,
        ),
      );
      assert.deepEqual((await core.readNamespacedPod({ namespace: workers, name: 'relabelled' })).metadata!.labels, {
        app: 'relabelled',
      });
    });

    it('refuses a Kata policy swap through pods/status (item 17)', async function () {
      await compliantPod('swap-target');
      const rogue = {
        metadata: {
          annotations: {
            [KATA_POLICY_ANNOTATION]: Buffer.from(ROGUE_POLICY).toString('base64'),
            [POLICY_HASH_ANNOTATION]: policyHash(ROGUE_POLICY),
          },
        },
      };
      await assert.rejects(
        core.patchNamespacedPodStatus({ namespace: enforced, name: 'swap-target', body: rogue }, merge),
        (err) => {
          const e = apiError(err);
          assert.equal(e.code, 403, e.message);
          assert.match(e.message, /^admission webhook "enforced-pods\.validate\.attestor\.dev" denied the request: /);
          assert.ok(
            e.message.includes(
              `metadata.annotations[${KATA_POLICY_ANNOTATION}]: policy with SHA-256 ${policyHash(ROGUE_POLICY)} is not allowed by Manifest ${manifestName}`,
            ),
            e.message,
          );
          return true;
        },
      );
      const { [POLICY_HASH_ANNOTATION]: _hash, ...withoutHash } = rogue.metadata.annotations;
      await assert.rejects(
        core.patchNamespacedPodStatus(
          { namespace: enforced, name: 'swap-target', body: { metadata: { annotations: withoutHash } } },
          merge,
        ),
        (err) => apiError(err).code === 403,
      );
      assert.equal(
        (await core.readNamespacedPod({ namespace: enforced, name: 'swap-target' })).metadata!.annotations![
          POLICY_HASH_ANNOTATION
        ],
        policyHash(POLICY),
      );
    });

    it("keeps ordinary status updates (the kubelet's and the scheduler's) off the webhook (item 17)", async function () {
      await compliantPod('status-target');
      const before = await validatePodsRequests();
      const condition = { type: 'attestor.dev/TestProbe', status: 'True', lastTransitionTime: new Date() };
      const updated = await core.patchNamespacedPodStatus(
        { namespace: enforced, name: 'status-target', body: { status: { conditions: [condition] } } },
        merge,
      );
      assert.ok(updated.status!.conditions!.some((c) => c.type === 'attestor.dev/TestProbe'));
      // And an unrelated label through pods/status: not a selector label, not judged either.
      await core.patchNamespacedPodStatus(
        { namespace: enforced, name: 'status-target', body: { metadata: { labels: { tier: 'gold' } } } },
        merge,
      );
      assert.equal(await validatePodsRequests(), before, 'no pods/status request reached /validate-pods');
    });

    it('gives every GPU pod the attested nodeSelector, whole GPUs, MIG slices or DRA claims, as requestsGpus says (item 15)', async function () {
      const variants: Array<[string, (p: k8s.V1Pod) => void]> = [
        [
          'gpu',
          (p) => {
            p.spec!.containers[0]!.resources = { limits: { 'nvidia.com/gpu': '1' } };
          },
        ],
        [
          'mig',
          (p) => {
            p.spec!.containers[0]!.resources = { limits: { 'nvidia.com/mig-1g.10gb': '1' } };
          },
        ],
        [
          'init-mig',
          (p) => {
            p.spec!.initContainers = [
              {
                name: 'init',
                image: IMAGE,
                resources: { requests: { 'nvidia.com/mig-3g.40gb': '1' }, limits: { 'nvidia.com/mig-3g.40gb': '1' } },
              },
            ];
          },
        ],
        [
          'claim',
          (p) => {
            p.spec!.resourceClaims = [{ name: 'gpu', resourceClaimTemplateName: 'single-gpu' }];
            p.spec!.containers[0]!.resources = { claims: [{ name: 'gpu' }] };
          },
        ],
        [
          'zero',
          (p) => {
            p.spec!.containers[0]!.resources = { limits: { 'nvidia.com/gpu': '0' } };
          },
        ],
        [
          'cpu',
          (p) => {
            p.spec!.containers[0]!.resources = { limits: { cpu: '1', 'example.com/fpga': '1' } };
          },
        ],
      ];
      const seen: Array<[string, boolean]> = [];
      for (const [name, change] of variants) {
        const body = pod(`variant-${name}`, { image: 'busybox', runtimeClass: otherRuntimeClass });
        change(body);
        const created = await core.createNamespacedPod({ namespace: plain, body, dryRun: 'All' });
        const selected = created.spec!.nodeSelector?.['attestor.dev/gpu-attested'] === 'true';
        assert.equal(selected, requestsGpus(body), name);
        seen.push([name, selected]);
      }
      assert.deepEqual(seen, [
        ['gpu', true],
        ['mig', true],
        ['init-mig', true],
        ['claim', true],
        ['zero', false],
        ['cpu', false],
      ]);
    });

    it('refuses an update that swaps in an unpinned image', async function () {
      await core.createNamespacedPod({ namespace: enforced, body: pod('to-update') });
      const current = await core.readNamespacedPod({ namespace: enforced, name: 'to-update' });
      current.spec!.containers[0]!.image = 'registry.example/vllm:latest';
      await assert.rejects(
        core.replaceNamespacedPod({ namespace: enforced, name: 'to-update', body: current }),
        (err) => {
          assert.match(
            apiError(err).message,
            /denied the request: spec\.containers\[0\]\.image: "registry\.example\/vllm:latest" is not pinned by digest/,
          );
          return true;
        },
      );
      const labelled = await core.patchNamespacedPod(
        { namespace: enforced, name: 'to-update', body: { metadata: { labels: { stage: 'two' } } } },
        merge,
      );
      assert.equal(labelled.metadata!.labels!.stage, 'two');
    });

    it('refuses an unpinned ephemeral container', async function () {
      await compliantPod('ephemeral-target');
      const current = await core.readNamespacedPod({ namespace: enforced, name: 'ephemeral-target' });
      current.spec!.ephemeralContainers = [{ name: 'debug', image: 'busybox' }];
      await assert.rejects(
        core.replaceNamespacedPodEphemeralcontainers({ namespace: enforced, name: 'ephemeral-target', body: current }),
        (err) => {
          assert.match(
            apiError(err).message,
            /denied the request: spec\.ephemeralContainers\[0\]\.image: "busybox" is not pinned by digest/,
          );
          return true;
        },
      );
    });

    it('makes GPU pods select attested nodes, once even when both pod webhooks match', async function () {
      const body = pod('gpu', { gpus: 2 });
      body.spec!.nodeSelector = { 'topology.kubernetes.io/zone': 'a' };
      const gpu = await core.createNamespacedPod({ namespace: enforced, body });
      assert.deepEqual(gpu.spec!.nodeSelector, {
        'topology.kubernetes.io/zone': 'a',
        'attestor.dev/gpu-attested': 'true',
      });
      // An AI worker pod in an enforced namespace goes through both entries of each configuration.
      const both = await core.createNamespacedPod({
        namespace: enforced,
        body: pod('gpu-worker', { aiWorker: true, gpus: 1 }),
      });
      assert.deepEqual(both.spec!.nodeSelector, { 'attestor.dev/gpu-attested': 'true' });
      const worker = await core.createNamespacedPod({
        namespace: plain,
        body: pod('gpu-worker', { aiWorker: true, gpus: 1 }),
      });
      assert.deepEqual(worker.spec!.nodeSelector, { 'attestor.dev/gpu-attested': 'true' });
    });
  });

  describe('bindings', function () {
    before(createBindingNodes);

    /** A GPU pod (or, with gpus 0, a plain one) for the scheduler's binding, created by the test that binds it. */
    async function podToBind(name: string, namespace = enforced, gpus = 1): Promise<void> {
      const body =
        namespace === enforced
          ? pod(name, { gpus })
          : pod(name, { gpus, image: 'busybox', runtimeClass: otherRuntimeClass });
      await core.createNamespacedPod({ namespace, body });
    }

    const bindingTo = (podName: string, node: string): k8s.V1Binding => ({
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: podName },
      target: { apiVersion: 'v1', kind: 'Node', name: node },
    });
    const refusedBinding = async (promise: Promise<unknown>): Promise<string> => {
      try {
        await promise;
      } catch (err) {
        const e = apiError(err);
        assert.equal(e.code, 403, e.message);
        return e.message;
      }
      assert.fail('binding was admitted');
    };

    it('refuses to bind a GPU pod to a node without a NodeAttestation', async function () {
      await podToBind('bind-gpu');
      const message = await refusedBinding(
        core.createNamespacedPodBinding({
          name: 'bind-gpu',
          namespace: enforced,
          body: bindingTo('bind-gpu', unattested),
        }),
      );
      assert.equal(
        message,
        `admission webhook "enforced-bindings.validate.attestor.dev" denied the request: target.name: node "${unattested}" has no current attestation for GPU pods (NoAttestation: the node has not submitted evidence)`,
      );
      assert.equal((await core.readNamespacedPod({ name: 'bind-gpu', namespace: enforced })).spec!.nodeName, undefined);
    });

    it('refuses to bind a GPU pod to a node attested against another Manifest', async function () {
      await podToBind('bind-stale');
      const message = await refusedBinding(
        core.createNamespacedPodBinding({
          name: 'bind-stale',
          namespace: enforced,
          body: bindingTo('bind-stale', stale),
        }),
      );
      assert.ok(
        message.includes(
          `target.name: node "${stale}" has no current attestation for GPU pods (ManifestChanged: attested against Manifest ${'ee'.repeat(32)}, but ${manifestHash} is active)`,
        ),
        message,
      );
      assert.equal(
        (await core.readNamespacedPod({ name: 'bind-stale', namespace: enforced })).spec!.nodeName,
        undefined,
      );
    });

    it('refuses the same through the legacy bindings resource', async function () {
      await podToBind('bind-legacy');
      const message = await refusedBinding(
        core.createNamespacedBinding({ namespace: enforced, body: bindingTo('bind-legacy', unattested) }),
      );
      assert.match(
        message,
        /enforced-bindings\.validate\.attestor\.dev" denied the request: target\.name: node .* \(NoAttestation/,
      );
    });

    it('binds a GPU pod to a node whose attestation is current', async function () {
      await podToBind('bind-current');
      await podToBind('bind-current-legacy');
      await core.createNamespacedPodBinding({
        name: 'bind-current',
        namespace: enforced,
        body: bindingTo('bind-current', attested),
      });
      assert.equal(
        (await core.readNamespacedPod({ name: 'bind-current', namespace: enforced })).spec!.nodeName,
        attested,
      );
      await core.createNamespacedBinding({ namespace: enforced, body: bindingTo('bind-current-legacy', attested) });
      assert.equal(
        (await core.readNamespacedPod({ name: 'bind-current-legacy', namespace: enforced })).spec!.nodeName,
        attested,
      );
    });

    it('refuses to bind a GPU pod in a namespace that holds an AIWorker to an unattested node (item 16)', async function () {
      // Not an AI worker pod and not an enforced namespace: the namespace's mark alone brings the check.
      await podToBind('bind-gpu', workers);
      const message = await refusedBinding(
        core.createNamespacedPodBinding({
          name: 'bind-gpu',
          namespace: workers,
          body: bindingTo('bind-gpu', unattested),
        }),
      );
      assert.equal(
        message,
        `admission webhook "ai-worker-bindings.validate.attestor.dev" denied the request: target.name: node "${unattested}" has no current attestation for GPU pods (NoAttestation: the node has not submitted evidence)`,
      );
    });

    it('refuses a GPU pod created with spec.nodeName of an unattested node, in any namespace (item 12)', async function () {
      for (const namespace of [plain, workers, enforced]) {
        const message = await refusal(
          namespace,
          pod('placed-gpu', {
            gpus: 1,
            nodeName: unattested,
            ...(namespace === enforced ? {} : { image: 'busybox', runtimeClass: otherRuntimeClass }),
          }),
        );
        assert.equal(
          message,
          `admission webhook "gpu-pods.validate.attestor.dev" denied the request: spec.nodeName: node "${unattested}" has no current attestation for GPU pods (NoAttestation: the node has not submitted evidence)`,
        );
      }
      const message = await refusal(
        plain,
        pod('placed-gpu', { gpus: 1, nodeName: stale, image: 'busybox', runtimeClass: otherRuntimeClass }),
      );
      assert.ok(
        message.includes(`spec.nodeName: node "${stale}" has no current attestation for GPU pods (ManifestChanged: `),
        message,
      );
      // The same pod on an attested node, and a pod without GPUs on the unattested one, are admitted.
      const placed = await core.createNamespacedPod({
        namespace: plain,
        body: pod('placed-gpu', { gpus: 1, nodeName: attested, image: 'busybox', runtimeClass: otherRuntimeClass }),
      });
      assert.equal(placed.spec!.nodeName, attested);
      assert.deepEqual(placed.spec!.nodeSelector, { 'attestor.dev/gpu-attested': 'true' });
      const cpu = await core.createNamespacedPod({
        namespace: plain,
        body: pod('placed-cpu', { nodeName: unattested, image: 'busybox', runtimeClass: otherRuntimeClass }),
      });
      assert.equal(cpu.spec!.nodeName, unattested);
    });

    it('lets a pod without GPUs bind to any node', async function () {
      await podToBind('bind-cpu', enforced, 0);
      await core.createNamespacedPodBinding({
        name: 'bind-cpu',
        namespace: enforced,
        body: bindingTo('bind-cpu', unattested),
      });
      assert.equal(
        (await core.readNamespacedPod({ name: 'bind-cpu', namespace: enforced })).spec!.nodeName,
        unattested,
      );
    });
  });

  describe('nodes (ValidatingAdmissionPolicy, no webhook)', function () {
    const gated = `${run}-gated`;
    const nodeName = `${run}-kubelet`;
    let alice: k8s.CoreV1Api;
    let kubelet: k8s.CoreV1Api;
    let operatorClient: k8s.CoreV1Api;
    const taint = { key: 'attestor.dev/unattested', value: 'true', effect: 'NoSchedule' };

    before(async function () {
      await grantNodeRbac();
      alice = cp.kubeConfigAs('alice').makeApiClient(k8s.CoreV1Api);
      operatorClient = cp.kubeConfigAs(OPERATOR).makeApiClient(k8s.CoreV1Api);
      // A node's own identity (client certificate, group system:nodes): the Node authorizer lets
      // it update nodes and nodes/status, as a kubelet does.
      kubelet = (await cp.clientKubeConfig(`system:node:${nodeName}`, ['system:nodes'])).makeApiClient(k8s.CoreV1Api);
      // No GPU capacity: the test operator's node gating controller leaves these nodes to us.
      for (const name of [gated, nodeName]) {
        await cp.createGpuNode(name, { gpus: 0, labels: { [SCOPE_LABEL]: run }, taints: [taint] });
        nodeNames.push(name);
      }
      await waitFor(
        async () => {
          try {
            await alice.patchNode({ name: gated, body: label('true'), dryRun: 'All' }, merge);
            return false;
          } catch (err) {
            return /ValidatingAdmissionPolicy .* denied request/.test(apiError(err).message);
          }
        },
        { description: 'node gating policy in force (and alice has RBAC on nodes)' },
      );
    });

    const refusedByPolicy = async (promise: Promise<unknown>): Promise<string> => {
      try {
        await promise;
      } catch (err) {
        const e = apiError(err);
        assert.equal(e.code, 403, e.message);
        assert.match(
          e.message,
          new RegExp(
            `ValidatingAdmissionPolicy '${policyName.replaceAll('.', '\\.')}' with binding '${policyName.replaceAll('.', '\\.')}' denied request: `,
          ),
          'refused by the policy, not by RBAC',
        );
        return e.message;
      }
      assert.fail('node change was admitted');
    };
    const label = (value: string | null) => ({ metadata: { labels: { 'attestor.dev/gpu-attested': value } } });
    const attestedLabel = async (name: string) =>
      (await core.readNode({ name })).metadata!.labels!['attestor.dev/gpu-attested'];

    // Each test starts from both nodes closed (tainted, no label): closing is anyone's right.
    beforeEach(async function () {
      for (const name of [gated, nodeName])
        await core.patchNode({ name, body: { ...label(null), spec: { taints: [taint] } } }, merge);
    });
    /** The operator opens a node: what a test of a labelled node starts from. */
    const openedByOperator = (name: string) =>
      operatorClient.patchNode({ name, body: { ...label('true'), spec: { taints: [] } } }, merge);

    it('refuses a node identity that sets the attested label on itself through nodes/status (issue 7 item 13)', async function () {
      const message = await refusedByPolicy(kubelet.patchNodeStatus({ name: nodeName, body: label('true') }, merge));
      assert.ok(
        message.endsWith(
          `metadata.labels[attestor.dev/gpu-attested]: only the attestor operator may set this label (set to "true" by system:node:${nodeName})`,
        ),
        message,
      );
      assert.equal(await attestedLabel(nodeName), undefined);
    });

    it('refuses a node identity that sets the attested label through nodes', async function () {
      await refusedByPolicy(kubelet.patchNode({ name: nodeName, body: label('true') }, merge));
      assert.equal(await attestedLabel(nodeName), undefined);
    });

    it('refuses a node identity that registers itself already labelled', async function () {
      const name = `${run}-forged`;
      const forger = (await cp.clientKubeConfig(`system:node:${name}`, ['system:nodes'])).makeApiClient(k8s.CoreV1Api);
      const message = await refusedByPolicy(
        forger.createNode({
          body: { metadata: { name, labels: { [SCOPE_LABEL]: run, 'attestor.dev/gpu-attested': 'true' } } },
        }),
      );
      assert.ok(message.includes(`set to "true" by system:node:${name}`), message);
      await assert.rejects(core.readNode({ name }), (err) => apiError(err).code === 404);
    });

    it('refuses a user who is not the operator the attested label', async function () {
      const message = await refusedByPolicy(alice.patchNode({ name: gated, body: label('true') }, merge));
      assert.ok(
        message.endsWith(
          'metadata.labels[attestor.dev/gpu-attested]: only the attestor operator may set this label (set to "true" by alice)',
        ),
        message,
      );
    });

    it('refuses a user who is not the operator lifting the unattested taint', async function () {
      const message = await refusedByPolicy(alice.patchNode({ name: gated, body: { spec: { taints: [] } } }, merge));
      assert.ok(
        message.endsWith(
          'spec.taints: only the attestor operator may lift the attestor.dev/unattested taint (lifted by alice)',
        ),
        message,
      );
      assert.ok(
        (await core.readNode({ name: gated })).spec!.taints!.some((t) => t.key === 'attestor.dev/unattested'),
        'taint still there',
      );
    });

    it("lets the operator's identity label the node and lift the taint", async function () {
      const node = await operatorClient.patchNode(
        { name: gated, body: { ...label('true'), spec: { taints: [] } } },
        merge,
      );
      assert.equal(node.metadata!.labels!['attestor.dev/gpu-attested'], 'true');
      assert.deepEqual(node.spec!.taints ?? [], []);
      const kubeletNode = await operatorClient.patchNode({ name: nodeName, body: label('true') }, merge);
      assert.equal(kubeletNode.metadata!.labels!['attestor.dev/gpu-attested'], 'true');
    });

    it("refuses a node identity that changes the attested label's value through nodes/status", async function () {
      await openedByOperator(nodeName);
      await refusedByPolicy(kubelet.patchNodeStatus({ name: nodeName, body: label('yes') }, merge));
      assert.equal(await attestedLabel(nodeName), 'true');
    });

    it('lets a labelled node update its status and its other labels', async function () {
      await openedByOperator(nodeName);
      const status = await kubelet.patchNodeStatus(
        {
          name: nodeName,
          body: {
            metadata: { labels: { 'example.com/zone': 'a' } },
            status: {
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'KubeletReady',
                  message: 'ready',
                  lastHeartbeatTime: new Date(),
                  lastTransitionTime: new Date(),
                },
              ],
            },
          },
        },
        merge,
      );
      assert.equal(status.metadata!.labels!['example.com/zone'], 'a');
      assert.equal(status.metadata!.labels!['attestor.dev/gpu-attested'], 'true');
    });

    it('lets anyone close the node again: taint it and remove the label', async function () {
      await openedByOperator(gated);
      await openedByOperator(nodeName);
      const node = await alice.patchNode({ name: gated, body: { ...label(null), spec: { taints: [taint] } } }, merge);
      assert.equal(node.metadata!.labels!['attestor.dev/gpu-attested'], undefined);
      assert.equal(node.spec!.taints![0]!.key, 'attestor.dev/unattested');
      const closed = await kubelet.patchNodeStatus({ name: nodeName, body: label(null) }, merge);
      assert.equal(closed.metadata!.labels!['attestor.dev/gpu-attested'], undefined);
    });
  });

  describe('metrics', function () {
    it('counts verdicts per webhook in its metrics', async function () {
      const counted = async (webhook: string, verdict: string) =>
        (await registry.getSingleMetric('attestor_webhook_requests_total')!.get()).values.find(
          (v) => v.labels.webhook === webhook && v.labels.verdict === verdict,
        )?.value ?? 0;
      const bindingsTimed = async () =>
        (await registry.getSingleMetric('attestor_webhook_request_duration_seconds')!.get()).values.find(
          (v) =>
            v.labels.webhook === 'validate-bindings' &&
            (v as { metricName?: string }).metricName === 'attestor_webhook_request_duration_seconds_count',
        )?.value ?? 0;
      const counters = async () => ({
        podsDenied: await counted('validate-pods', 'denied'),
        podsAllowed: await counted('validate-pods', 'allowed'),
        mutated: await counted('mutate-pods', 'allowed'),
        bindingsDenied: await counted('validate-bindings', 'denied'),
        bindingsTimed: await bindingsTimed(),
      });
      const before = await counters();
      // One request of each kind: a pod refused, pods admitted (the GPU one mutated), a binding refused.
      await refusal(enforced, pod('metrics-refused', { image: 'registry.example/vllm:latest' }));
      await compliantPod('metrics-admitted');
      await core.createNamespacedPod({ namespace: enforced, body: pod('metrics-gpu-pod', { gpus: 1 }) });
      await assert.rejects(
        core.createNamespacedPodBinding({
          name: 'metrics-gpu-pod',
          namespace: enforced,
          body: {
            apiVersion: 'v1',
            kind: 'Binding',
            metadata: { name: 'metrics-gpu-pod' },
            target: { apiVersion: 'v1', kind: 'Node', name: `${run}-no-such-node` },
          },
        }),
        (err) => apiError(err).code === 403,
      );
      const after = await counters();
      assert.ok(after.podsDenied >= before.podsDenied + 1, 'validate-pods denied');
      assert.ok(after.podsAllowed >= before.podsAllowed + 2, 'validate-pods allowed');
      assert.ok(after.mutated >= before.mutated + 1, 'mutate-pods allowed (the GPU pod)');
      assert.ok(after.bindingsDenied >= before.bindingsDenied + 1, 'validate-bindings denied');
      assert.ok(after.bindingsTimed >= before.bindingsTimed + 1, 'validate-bindings timed');
      assert.equal(await counted('validate-pods', 'error'), 0);
      const inFlight = (await registry.getSingleMetric('attestor_webhook_requests_in_flight')!.get()).values;
      assert.ok(inFlight.length > 0 && inFlight.every((v) => v.value === 0));
    });
  });

  // The server stops for this suite only, and comes back on the same port afterwards.
  describe('with the webhook server stopped', function () {
    let port: number;
    before(async function () {
      await createBindingNodes();
      await grantNodeRbac();
      // A node for plain pods (no GPUs, never gated), and a GPU pod created while the webhook
      // served (so it has the attested nodeSelector) that waits behind a scheduling gate.
      await cp.createGpuNode(`${run}-cpu`, { gpus: 0 });
      nodeNames.push(`${run}-cpu`);
      const gated = pod('gated-gpu', { gpus: 1, image: 'busybox', runtimeClass: null });
      gated.spec!.schedulerName = undefined;
      gated.spec!.nodeSelector = { 'kubernetes.io/hostname': attested };
      gated.spec!.schedulingGates = [{ name: 'test.attestor.dev/hold' }];
      await core.createNamespacedPod({ namespace: workers, body: gated });
      port = server!.port;
      await server!.close();
      server = undefined;
    });
    after(async function () {
      server = await startServer(port);
    });

    it('fails closed: with the webhook server stopped, nothing in scope is admitted', async function () {
      assert.equal(server, undefined, 'stopped by the suite');
      await assert.rejects(core.createNamespacedPod({ namespace: enforced, body: pod('while-down') }), (err) => {
        const e = apiError(err);
        assert.equal(e.code, 500, e.message);
        assert.match(
          e.message,
          /failed calling webhook "(enforced-pods|ai-worker-pods)\.(mutate|validate)\.attestor\.dev"/,
        );
        return true;
      });
      await assert.rejects(
        core.readNamespacedPod({ namespace: enforced, name: 'while-down' }),
        (err) => apiError(err).code === 404,
      );
      // Out of scope stays unaffected.
      const elsewhere = uniqueName('wh-free');
      await core.createNamespace({ body: { metadata: { name: elsewhere } } });
      await core.createNamespacedPod({ namespace: elsewhere, body: pod('free', { image: 'busybox' }) });
      await core.deleteNamespace({ name: elsewhere });
    });

    it('with the webhook server stopped, a plain pod in a plain namespace still schedules and a GPU pod in an AIWorker namespace does not (item 16)', async function () {
      assert.equal(server, undefined, 'stopped by the suite');
      // The GPU pod was created while the webhook served (it got the attested nodeSelector) and
      // waited behind a scheduling gate; the scheduler may place it on the attested node only.
      const gated = await waitFor(
        () => core.readNamespacedPod({ namespace: workers, name: 'gated-gpu' }).catch(() => undefined),
        { description: 'the gated GPU pod' },
      );
      assert.deepEqual(gated.spec!.nodeSelector, {
        'kubernetes.io/hostname': attested,
        'attestor.dev/gpu-attested': 'true',
      });
      await waitFor(
        async () => {
          const node = await core.readNode({ name: attested });
          return (
            node.metadata!.labels?.['attestor.dev/gpu-attested'] === 'true' &&
            !(node.spec!.taints ?? []).some((t) => t.key === 'attestor.dev/unattested')
          );
        },
        { description: 'the attested node open for GPU pods' },
      );
      await core.patchNamespacedPod(
        { namespace: workers, name: 'gated-gpu', body: { spec: { schedulingGates: null } } },
        merge,
      );
      const plainPod = pod('schedules', { image: 'busybox', runtimeClass: null });
      plainPod.spec!.schedulerName = undefined;
      plainPod.spec!.nodeSelector = { 'kubernetes.io/hostname': `${run}-cpu` };
      await core.createNamespacedPod({ namespace: plain, body: plainPod });
      const placed = await waitFor(
        async () => (await core.readNamespacedPod({ namespace: plain, name: 'schedules' })).spec!.nodeName,
        { timeoutMs: 60_000, description: 'the plain pod bound by the scheduler' },
      );
      assert.equal(placed, `${run}-cpu`);
      // The scheduler tried the GPU pod and the API server refused the binding: nobody judges it.
      const refused = await waitFor(
        async () => {
          const p = await core.readNamespacedPod({ namespace: workers, name: 'gated-gpu' });
          const condition = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
          return condition?.status === 'False' && condition.reason === 'SchedulerError'
            ? { nodeName: p.spec!.nodeName, message: condition.message ?? '' }
            : undefined;
        },
        { timeoutMs: 60_000, description: "the GPU pod's binding refused" },
      );
      assert.equal(refused.nodeName, undefined);
      assert.match(refused.message, /failed calling webhook "ai-worker-bindings\.validate\.attestor\.dev"/);
      // And no new GPU pod is admitted anywhere in scope while nobody can check it.
      await assert.rejects(
        core.createNamespacedPod({
          namespace: plain,
          body: pod('gpu-while-down', { gpus: 1, image: 'busybox', runtimeClass: otherRuntimeClass }),
        }),
        (err) => /failed calling webhook "gpu-pods\.mutate\.attestor\.dev"/.test(apiError(err).message),
      );
    });

    it("keeps nodes registering and relabelling with the webhook server stopped, and the attested label still the operator's (issue 7 item 16)", async function () {
      assert.equal(server, undefined, 'stopped by the suite');
      const name = `${run}-late`;
      const kubelet = (await cp.clientKubeConfig(`system:node:${name}`, ['system:nodes'])).makeApiClient(k8s.CoreV1Api);
      // A kubelet registering: in the policy's scope, with the operator down.
      const registered = await kubelet.createNode({
        body: {
          metadata: { name, labels: { [SCOPE_LABEL]: run, 'kubernetes.io/hostname': name } },
          spec: { taints: [{ key: 'attestor.dev/unattested', value: 'true', effect: 'NoSchedule' }] },
        },
      });
      nodeNames.push(name);
      assert.equal(registered.metadata!.name, name);
      const relabelled = await kubelet.patchNode(
        { name, body: { metadata: { labels: { 'example.com/rack': '7' } } } },
        merge,
      );
      assert.equal(relabelled.metadata!.labels!['example.com/rack'], '7');
      await assert.rejects(
        kubelet.patchNodeStatus(
          { name, body: { metadata: { labels: { 'attestor.dev/gpu-attested': 'true' } } } },
          merge,
        ),
        (err) => {
          assert.equal(apiError(err).code, 403);
          assert.match(
            apiError(err).message,
            /ValidatingAdmissionPolicy .* denied request: metadata\.labels\[attestor\.dev\/gpu-attested\]: only the attestor operator may set this label/,
          );
          return true;
        },
      );
      // The operator still opens nodes without its webhook: nothing waits for a replica to serve it.
      const opened = await cp
        .kubeConfigAs(OPERATOR)
        .makeApiClient(k8s.CoreV1Api)
        .patchNode(
          { name, body: { metadata: { labels: { 'attestor.dev/gpu-attested': 'true' } }, spec: { taints: [] } } },
          merge,
        );
      assert.equal(opened.metadata!.labels!['attestor.dev/gpu-attested'], 'true');
    });
  });
});
