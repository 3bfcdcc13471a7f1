/**
 * One real control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) shared by
 * the cluster tests of a mocha run, started on first use and stopped by the root hook. Tests
 * that break the control plane on purpose start their own.
 */
import * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../src/api/manifest.ts';
import type { NodeAttestation, NodeAttestationStatus } from '../../src/api/node-attestation.ts';
import { withNodeReadiness } from '../../src/api/node-attestation-readiness.ts';
import { ControlPlane } from '../../src/dev/control-plane.ts';
import { installCrds } from '../../src/dev/install.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { type OperatorOptions, type RunningOperator, startOperator } from '../../src/operator/operator.ts';

let shared: Promise<ControlPlane> | undefined;

export function sharedControlPlane(): Promise<ControlPlane> {
  shared ??= (async () => {
    const cp = await ControlPlane.start();
    await installCrds(cp.kubeConfig());
    return cp;
  })();
  return shared;
}

export async function stopSharedControlPlane(): Promise<void> {
  if (!shared) return;
  const cp = await shared.catch(() => undefined);
  shared = undefined;
  await cp?.stop();
}

/** An operator in this process, leader of nothing (no election), with a probe server on a free port. */
export async function startTestOperator(
  kubeConfig: k8s.KubeConfig,
  options: Partial<OperatorOptions> = {},
): Promise<RunningOperator> {
  const operator = startOperator({
    kubeConfig,
    log: silentLogger,
    namespace: 'default',
    leaderElect: false,
    probe: { host: '127.0.0.1', port: 0 },
    ...options,
  });
  await waitFor(() => operator.manager.isLeader, {
    timeoutMs: 30_000,
    description: 'operator caches synced and controllers started',
  });
  return operator;
}

/**
 * The hash of Manifest `name` once it is Active with one: as the operator's informer sees it, or as
 * the API server serves it (a custom objects client).
 */
export function activeManifestHash(
  source: RunningOperator | k8s.CustomObjectsApi,
  name: string,
  options: { timeoutMs?: number; description?: string } = {},
): Promise<string> {
  const read = async () =>
    'informers' in source
      ? source.informers.manifests.get(name)
      : ((await source.getClusterCustomObject({
          group: 'attestor.dev',
          version: 'v1alpha1',
          plural: 'manifests',
          name,
        })) as Manifest);
  return waitFor(
    async () => {
      const m = await read();
      const active = m?.status?.conditions?.some((c) => c.type === 'Active' && c.status === 'True');
      return active ? m?.status?.hash : undefined;
    },
    { timeoutMs: options.timeoutMs ?? 30_000, description: options.description ?? `Manifest ${name} active` },
  );
}

let counter = 0;
/** A name no other test uses (cluster-scoped objects are shared by the whole run). */
export function uniqueName(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}`;
}

/**
 * The Events with `reason` about the pod named `pod` in `namespace`, once there is at least one:
 * the operator's Events are written after the fact (its recorder's queue).
 */
export function podEventsEventually(
  core: k8s.CoreV1Api,
  namespace: string,
  pod: string,
  reason: string,
): Promise<k8s.CoreV1Event[]> {
  return waitFor(
    async () => {
      const found = (await core.listNamespacedEvent({ namespace })).items.filter(
        (e) => e.involvedObject.name === pod && e.reason === reason,
      );
      return found.length > 0 ? found : undefined;
    },
    { timeoutMs: 30_000, description: `${reason} event on ${pod}` },
  );
}

/** The parsed Status of a refused API call. */
export function apiError(err: unknown): { code: number; message: string } {
  const e = err as { code?: number; body?: unknown };
  let message = '';
  try {
    message = (typeof e.body === 'string' ? JSON.parse(e.body) : e.body)?.message ?? '';
  } catch {
    message = String(e.body);
  }
  return { code: e.code ?? 0, message };
}

/**
 * Writes a current NodeAttestation for a node (verified and activated against the given Manifest
 * hash), as the Coordinator would after a successful attestation: for tests of what follows
 * attestation (scheduling, status) that do not run agents.
 */
export async function writeCurrentAttestation(
  kubeConfig: k8s.KubeConfig,
  node: string,
  manifestHash: string,
  gpus = 1,
  validForMs = 3_600_000,
): Promise<void> {
  const custom = kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const target = { group: 'attestor.dev', version: 'v1alpha1', plural: 'nodeattestations' };
  let current: NodeAttestation;
  try {
    current = (await custom.getClusterCustomObject({ ...target, name: node })) as NodeAttestation;
  } catch {
    current = (await custom.createClusterCustomObject({
      ...target,
      body: { apiVersion: 'attestor.dev/v1alpha1', kind: 'NodeAttestation', metadata: { name: node } },
    })) as NodeAttestation;
  }
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const written: NodeAttestationStatus = {
    manifestHash,
    attestedAt: now,
    expiresAt: new Date(Date.now() + validForMs).toISOString().replace(/\.\d+Z$/, 'Z'),
    cvm: { platform: 'snp', verified: true },
    gpus: Array.from({ length: gpus }, (_, i) => ({ uuid: `GPU-${node}-${i}`, verified: true, activated: true })),
    conditions: [
      {
        type: 'Attested',
        status: 'True',
        reason: 'Verified',
        message: 'written by the test harness',
        lastTransitionTime: now,
      },
      {
        type: 'GPUsActivated',
        status: 'True',
        reason: 'Activated',
        message: 'written by the test harness',
        lastTransitionTime: now,
      },
    ],
  };
  // With Ready as the Coordinator would write it, so the node gating controller has no summary to add.
  const status = withNodeReadiness(written, new Date());
  for (let attempt = 0; ; attempt++) {
    try {
      await custom.replaceClusterCustomObjectStatus({ ...target, name: node, body: { ...current, status } });
      return;
    } catch (err) {
      // The operator wrote the status meanwhile (resourceVersion changed): write over what it wrote.
      if ((err as { code?: number }).code !== 409 || attempt >= 5) throw err;
      current = (await custom.getClusterCustomObject({ ...target, name: node })) as NodeAttestation;
    }
  }
}
