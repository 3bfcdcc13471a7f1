/**
 * The AIWorker controller: resolves the worker's policy, checks it, the runtime class and the
 * deployment model against the active Manifest, applies the Deployment and Service it owns
 * (server-side apply; held at 0 replicas while the worker breaks the Manifest: fail closed) and
 * reports replicas, attested replicas (pods holding a current workload certificate; for
 * confidential-node also on an attested node) and conditions. Deleting the AIWorker
 * garbage-collects what it owns (owner references).
 */

import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import type * as x509 from '@peculiar/x509';
import { selectActiveManifest } from '../../api/active-manifest.ts';
import { AIWORKER_KIND, AIWORKER_PLURAL } from '../../api/aiworker.ts';
import { ownerName } from '../../api/aiworker-labels.ts';
import { API_VERSION } from '../../api/common.ts';
import { findCondition } from '../../api/conditions.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';
import type { Informers } from '../informers.ts';
import { hasOwnedFields, withAppliedHash } from '../owned-fields.ts';
import { Controller } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { keyOf } from '../runtime/informer.ts';
import { patchStatus } from '../status-writer.ts';
import { certifiedPods } from './certified.ts';
import { checkCompliance } from './compliance.ts';
import { namespaceMarker } from './namespace-mark.ts';
import { admittedPort, desiredNetworkPolicy } from './network-policy.ts';
import { resolvePolicy } from './policy.ts';
import { desiredAIWorkerStatus } from './status.ts';
import { desiredDeployment, desiredService, type WorkloadPodSettings } from './workload.ts';

export const FIELD_MANAGER = 'attestor';
/** ConfigMaps are not watched (that would cache every ConfigMap in the cluster): re-read them this often. */
export const POLICY_RESYNC_MS = 5 * 60 * 1000;
/**
 * An AIWorker's status is written at most this often: a burst of pod events (created, scheduled,
 * ready, certified, one replica after another) becomes one write of where they ended, not one per
 * step. The first status is written at once.
 */
export const STATUS_WRITE_INTERVAL_MS = 1000;

export interface AIWorkerControllerDeps {
  kubeConfig: k8s.KubeConfig;
  informers: Pick<
    Informers,
    'aiWorkers' | 'manifests' | 'deployments' | 'services' | 'networkPolicies' | 'pods' | 'nodes' | 'namespaces'
  >;
  events: EventRecorder;
  log: Logger;
  metrics?: OperatorMetrics;
  now?: () => Date;
  /** What pod-CVM pods need (`attestor init`'s image, the Coordinator's URL and CA). */
  workload?: WorkloadPodSettings;
  /** The current mesh CA (the Coordinator identity's): pod-CVM pods count as attested with a current certificate from it. */
  meshCa?: () => x509.X509Certificate | undefined;
}

export function createAIWorkerController(deps: AIWorkerControllerDeps): Controller {
  const { informers } = deps;
  const core = deps.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const apps = deps.kubeConfig.makeApiClient(k8s.AppsV1Api);
  const custom = deps.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const networking = deps.kubeConfig.makeApiClient(k8s.NetworkingV1Api);
  const apply = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
  const now = deps.now ?? (() => new Date());
  const markNamespace = namespaceMarker(core, informers);
  /** When each AIWorker's status was last written (performance.now()), by key. */
  const statusWrittenAt = new Map<string, number>();

  const controller = new Controller({
    name: 'aiworker',
    log: deps.log,
    metrics: deps.metrics,
    // Reconciles wait mostly on the API server: several at once keep a fleet's storm moving.
    workers: 8,
    reconcile: async (key) => {
      const [namespace, name] = key.split('/') as [string, string];
      const worker = informers.aiWorkers.get(name, namespace);
      if (!worker || worker.metadata.deletionTimestamp) {
        statusWrittenAt.delete(key);
        return; // owned objects go with it (garbage collection)
      }
      const target = { apiVersion: API_VERSION, kind: AIWORKER_KIND, name, namespace, uid: worker.metadata.uid };

      // Before any pod exists: the binding webhook judges bindings in marked namespaces only.
      await markNamespace(namespace);
      const policy = await resolvePolicy(core, worker);
      const active = selectActiveManifest(informers.manifests.list());
      const violations = 'error' in policy ? [] : checkCompliance(worker, policy.hash, active, deps.workload);
      const blocked = 'error' in policy || violations.length > 0;

      let deployment = informers.deployments.get(name, namespace);
      if (!('error' in policy)) {
        const replicas = blocked ? 0 : (worker.spec.replicas ?? 1);
        const created = !deployment;
        const desired = withAppliedHash(desiredDeployment(worker, policy, replicas, deps.workload));
        // Compare first: a reconcile that changes nothing (a pod's event, a resync) writes nothing.
        if (!deployment || !hasOwnedFields(deployment, desired)) {
          deployment = await apps.patchNamespacedDeployment(
            { name, namespace, body: desired, fieldManager: FIELD_MANAGER, force: true },
            apply,
          );
        }
        // What this reconcile applied, told in one Event (one API call, not one per object).
        const applied: string[] = created ? [`Deployment ${namespace}/${name} with ${replicas} replicas`] : [];
        const service = desiredService(worker, deps.workload);
        const current = informers.services.get(name, namespace);
        // Applied when absent, and when its ports are not the desired ones (a Service of an older
        // operator that targeted the model server: clients must reach only the worker proxy), or
        // its type or the annotations the operator set are not the worker's spec.service.
        if (!current || !sameService(current, service)) {
          await core.patchNamespacedService(
            { name, namespace, body: service, fieldManager: FIELD_MANAGER, force: true },
            apply,
          );
          applied.push(`Service ${namespace}/${name}`);
        }
        const networkPolicy = desiredNetworkPolicy(worker, deps.workload);
        const currentPolicy = informers.networkPolicies.get(name, namespace);
        if (!currentPolicy || !sameJson(currentPolicy.spec, networkPolicy.spec)) {
          await networking.patchNamespacedNetworkPolicy(
            { name, namespace, body: networkPolicy, fieldManager: FIELD_MANAGER, force: true },
            apply,
          );
          applied.push(
            `NetworkPolicy ${namespace}/${name} (ingress on port ${admittedPort(worker, deps.workload)} only)`,
          );
        }
        if (applied.length > 0) await deps.events.record(target, 'Normal', 'Applied', `applied ${applied.join(', ')}`);
      } else if (deployment && (deployment.spec?.replicas ?? 0) > 0) {
        // The policy vanished: stop the pods that run under a policy we can no longer check.
        await apps.patchNamespacedDeploymentScale(
          { name, namespace, body: { spec: { replicas: 0 } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      }

      const pods = informers.pods.list(namespace).filter((p) => ownerName(p.metadata?.labels) === name);
      const at = now();
      const certified = await certifiedPods(pods, deps.meshCa?.(), at);
      const status = desiredAIWorkerStatus(worker, {
        deployment,
        pods,
        nodeLabels: (node) => informers.nodes.get(node)?.metadata?.labels,
        certified: certified.uids,
        policyHash: 'error' in policy ? undefined : policy.hash,
        policyError: 'error' in policy ? policy.error : undefined,
        violations,
        now: at,
      });
      const wasCompliant = findCondition(worker.status?.conditions, 'PolicyCompliant');
      const isCompliant = findCondition(status.conditions, 'PolicyCompliant')!;
      // Look again when the first certificate expires: it stops counting then.
      const untilExpiry = certified.firstExpiry === undefined ? Infinity : certified.firstExpiry - at.getTime() + 500;
      const requeueAfterMs = Math.max(1000, Math.min(POLICY_RESYNC_MS, untilExpiry));
      if (!sameStatus(status, worker.status)) {
        const sinceWrite = performance.now() - (statusWrittenAt.get(key) ?? Number.NEGATIVE_INFINITY);
        if (worker.status && sinceWrite < STATUS_WRITE_INTERVAL_MS)
          return { requeueAfterMs: Math.min(requeueAfterMs, STATUS_WRITE_INTERVAL_MS - sinceWrite) };
        await patchStatus(
          custom,
          { plural: AIWORKER_PLURAL, name, namespace, resourceVersion: worker.metadata.resourceVersion },
          status,
        );
        statusWrittenAt.set(key, performance.now());
      }
      if (
        isCompliant.status === 'False' &&
        (wasCompliant?.status !== 'False' || wasCompliant.message !== isCompliant.message)
      ) {
        await deps.events.record(target, 'Warning', isCompliant.reason, isCompliant.message);
      }
      return { requeueAfterMs };
    },
  });

  informers.aiWorkers.onChange((w) => controller.enqueue(keyOf(w)));
  const enqueueOwner = (obj: k8s.KubernetesObject) => {
    const owner = ownerName(obj.metadata?.labels);
    if (owner && obj.metadata?.namespace) controller.enqueue(`${obj.metadata.namespace}/${owner}`);
  };
  informers.deployments.onChange(enqueueOwner);
  informers.services.onChange(enqueueOwner);
  informers.networkPolicies.onChange(enqueueOwner);
  informers.pods.onChange(enqueueOwner);
  // A new active Manifest can allow or forbid any worker.
  informers.manifests.onChange(() => {
    for (const w of informers.aiWorkers.list()) controller.enqueue(keyOf(w));
  });
  // A node's attested label decides whether its pods count as attested replicas.
  informers.nodes.onUpdate((node, old) => {
    if (isDeepStrictEqual(node.metadata?.labels, old?.metadata?.labels)) return;
    for (const pod of informers.pods.list()) if (pod.spec?.nodeName === node.metadata?.name) enqueueOwner(pod);
  });
  return controller;
}

/**
 * Whether a Service is the desired one: exactly the desired ports (name, port, target port), its
 * type, and the annotations this operator applied (others' annotations, such as a cloud
 * controller's, are theirs).
 */
function sameService(current: k8s.V1Service, desired: k8s.V1Service): boolean {
  const key = (p: k8s.V1ServicePort) => `${p.name}/${p.port}/${String(p.targetPort)}`;
  const samePorts =
    (current.spec?.ports ?? []).map(key).sort().join() === (desired.spec?.ports ?? []).map(key).sort().join();
  const wanted = desired.metadata?.annotations ?? {};
  const applied = Object.fromEntries(
    appliedAnnotationKeys(current).map((k) => [k, current.metadata?.annotations?.[k] ?? '']),
  );
  return samePorts && current.spec?.type === desired.spec?.type && isDeepStrictEqual(applied, wanted);
}

/** Equal as JSON: a typed list's objects carry undefined for absent fields, a watch's do not. */
function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)));
}

/** The annotation keys this operator's server-side apply owns on an object (its managedFields). */
function appliedAnnotationKeys(object: k8s.KubernetesObject): string[] {
  const entry = object.metadata?.managedFields?.find((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply');
  const fields = entry?.fieldsV1 as { 'f:metadata'?: { 'f:annotations'?: Record<string, unknown> } } | undefined;
  return Object.keys(fields?.['f:metadata']?.['f:annotations'] ?? {})
    .filter((k) => k.startsWith('f:'))
    .map((k) => k.slice(2));
}

/** Whether a status is the one written already (in its JSON form: a key set to undefined is no key). */
function sameStatus(desired: unknown, current: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(desired)), JSON.parse(JSON.stringify(current ?? {})));
}
