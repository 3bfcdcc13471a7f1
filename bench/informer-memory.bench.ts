/**
 * Informer memory (npm run bench -- informer-memory): the heap an informer holds per cached pod and
 * per cached node, with the operator's transform (src/controllers/cache-fields.ts) and without it.
 * On the real local control plane with kwok running the pods: INFORMER_BENCH_NODES GPU nodes
 * (default 500) and INFORMER_BENCH_PODS AI worker pods (default 1,000, spread over the nodes, the
 * pod spec the AIWorker controller makes for a confidential-node worker with its sidecars, and an
 * INFORMER_BENCH_POLICY_BYTES Kata policy, default 256). Each informer lists the objects into a
 * fresh cache; the heap is measured after a full garbage collection before it starts and once it
 * is synced, with every informer measured before it still running.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../src/api/aiworker.ts';
import { policyHash } from '../src/controllers/aiworker/policy.ts';
import { desiredDeployment } from '../src/controllers/aiworker/workload.ts';
import { nodeFields, podFields } from '../src/controllers/cache-fields.ts';
import { MANAGED_BY_SELECTOR } from '../src/controllers/informers.ts';
import { Informer, type Transform } from '../src/controllers/runtime/informer.ts';
import { ControlPlane } from '../src/dev/control-plane.ts';
import { waitFor } from '../src/dev/wait.ts';
import { silentLogger } from '../src/observability/log.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const NODES = Number(process.env.INFORMER_BENCH_NODES ?? 500);
const PODS = Number(process.env.INFORMER_BENCH_PODS ?? 1000);
const POLICY_BYTES = Number(process.env.INFORMER_BENCH_POLICY_BYTES ?? 256);
const NS = 'informer-memory';

const heap = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};

const running: Array<{ stop(): Promise<void> }> = [];

async function held<T extends k8s.KubernetesObject>(
  kubeConfig: k8s.KubeConfig,
  options: { path: string; list: () => Promise<k8s.KubernetesListObject<T>>; labelSelector?: string },
  count: number,
  transform: Transform<T> | undefined,
): Promise<{ bytesPerObject: number; jsonPerObject: number }> {
  const before = heap();
  const informer = new Informer<T>({
    kubeConfig,
    resource: options.path,
    log: silentLogger,
    ...options,
    ...(transform ? { transform } : {}),
  });
  informer.start();
  await informer.waitForSync();
  await waitFor(() => informer.list().length === count, { timeoutMs: 60_000, description: `${count} cached` });
  const after = heap();
  const json = informer.list().reduce((n, o) => n + JSON.stringify(o).length, 0);
  // Kept running until the end: a stopped informer's watch lets go of its cache only later.
  running.push(informer);
  return { bytesPerObject: (after - before) / count, jsonPerObject: json / count };
}

const cp = await ControlPlane.start({ controllerManager: false, scheduler: false, kwok: true });
try {
  const kubeConfig = cp.kubeConfig();
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  // No controller-manager here: the namespace's default service account, as it would make.
  await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'default' } } });
  const nodes = Array.from({ length: NODES }, (_, i) => `gpu-${String(i).padStart(4, '0')}`);
  for (let i = 0; i < nodes.length; i += 16) await Promise.all(nodes.slice(i, i + 16).map((n) => cp.createGpuNode(n)));
  const document = `package agent_policy\ndefault CreateContainerRequest := true\n# ${'x'.repeat(Math.max(0, POLICY_BYTES - 60))}\n`;
  const worker: AIWorker = {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name: 'llm', namespace: NS, uid: '00000000-0000-0000-0000-000000000001' },
    spec: {
      image: `registry.example/vllm@sha256:${'c4'.repeat(32)}`,
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      replicas: 1,
      gpusPerReplica: 2,
      runtimeClassName: 'kata',
      policy: { inline: document },
      deploymentModel: 'confidential-node',
      port: 8000,
    },
  };
  const template = desiredDeployment(worker, { document, hash: policyHash(document) }, 1, {
    initImage: `registry.example/attestor@sha256:${'a1'.repeat(32)}`,
    coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
    coordinatorCaPem: cp.caPem,
  }).spec!.template;
  const pods = Array.from({ length: PODS }, (_, i) => `llm-${String(i).padStart(5, '0')}`);
  for (let i = 0; i < pods.length; i += 16)
    await Promise.all(
      pods.slice(i, i + 16).map((name, j) =>
        core.createNamespacedPod({
          namespace: NS,
          body: {
            metadata: { ...template.metadata, name },
            spec: {
              ...template.spec!,
              runtimeClassName: undefined,
              serviceAccountName: 'default',
              nodeName: nodes[(i + j) % nodes.length],
            },
          },
        }),
      ),
    );
  // kwok reports each pod Running (container statuses, IPs), as a kubelet would.
  await waitFor(
    async () =>
      (await core.listNamespacedPod({ namespace: NS })).items.filter((p) => p.status?.phase === 'Running').length ===
      PODS,
    { timeoutMs: 600_000, intervalMs: 2000, description: `${PODS} pods Running` },
  );

  const podSource = {
    path: '/api/v1/pods',
    labelSelector: MANAGED_BY_SELECTOR,
    list: () => core.listPodForAllNamespaces({ labelSelector: MANAGED_BY_SELECTOR }),
  };
  const nodeSource = { path: '/api/v1/nodes', list: () => core.listNode() };
  // A first round warms up what the first list and watch load (client code, connection pools).
  await held<k8s.V1Pod>(kubeConfig, podSource, PODS, podFields);
  await held<k8s.V1Node>(kubeConfig, nodeSource, NODES, undefined);
  const rows = [
    ['pods', 'whole objects', await held<k8s.V1Pod>(kubeConfig, podSource, PODS, undefined)],
    ['pods', 'podFields', await held<k8s.V1Pod>(kubeConfig, podSource, PODS, podFields)],
    ['nodes', 'whole objects', await held<k8s.V1Node>(kubeConfig, nodeSource, NODES, undefined)],
    ['nodes', 'nodeFields', await held<k8s.V1Node>(kubeConfig, nodeSource, NODES, nodeFields)],
  ] as const;
  console.log(`${NODES} kwok GPU nodes, ${PODS} AI worker pods (Kata policy ${POLICY_BYTES} bytes)`);
  console.log('| cache | kept | heap per object (bytes) | JSON per object (bytes) |');
  console.log('|---|---|---:|---:|');
  for (const [kind, kept, r] of rows)
    console.log(`| ${kind} | ${kept} | ${Math.round(r.bytesPerObject)} | ${Math.round(r.jsonPerObject)} |`);
} finally {
  for (const informer of running) await informer.stop();
  await cp.stop();
}
