/**
 * What the operator's informers keep of each object: the fields its controllers, the Coordinator,
 * the webhook and `attestor dev` read, and nothing else (issue 12: at fleet size, a pod's
 * managedFields, container specs and statuses, or a node's images and conditions, are most of what
 * a cache would hold). One pure function per resource, applied by the Informer
 * (runtime/informer.ts) before an object enters the cache. Every kept field names its reader: a
 * new reader of a field that is not kept here must add it (the cluster test
 * test/cluster/informer-fields.test.ts shows what each cache holds).
 *
 * Every cached object keeps metadata.name, namespace, uid and resourceVersion (the cache's keys,
 * ListWatch's version check, optimistic-concurrency patches such as the node gating's).
 */
import type * as k8s from '@kubernetes/client-node';
import { WORKLOAD_CERTIFICATE_ANNOTATION } from '../api/aiworker-labels.ts';
import { FIELD_MANAGER } from './aiworker/controller.ts';

/** The identity every cached object keeps (see the file comment). */
function identity(metadata: k8s.V1ObjectMeta | undefined): k8s.V1ObjectMeta {
  return defined({
    name: metadata?.name,
    namespace: metadata?.namespace,
    uid: metadata?.uid,
    resourceVersion: metadata?.resourceVersion,
    // A pod or namespace on its way out: AIWorker status, certified.ts, namespace-mark.ts, dev pod-init.
    deletionTimestamp: metadata?.deletionTimestamp,
  });
}

/**
 * Any object without its managedFields (nobody reads other managers' fields of Manifests,
 * AIWorkers, NodeAttestations, Deployments, NetworkPolicies, namespaces or ResourceSlices).
 * Everything else is kept: those objects are the operator's own and their readers read most of them.
 */
export function withoutManagedFields<T extends k8s.KubernetesObject>(obj: T): T {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

/**
 * A pod: only what is read of it.
 * - metadata.labels: the owning AIWorker (ownerName: AIWorker controller, Coordinator, benches),
 *   the pod-CVM worker labels (dev pod-init).
 * - metadata.annotations: the workload certificate only (certified.ts). The Kata policy, tens of
 *   kilobytes in a real cluster, is not kept: dev pod-init reads the pod from the API server once.
 * - spec.nodeName: attested replicas (AIWorker status), pods to requeue when a node's label
 *   changes, dev pod-init (a pod is scheduled).
 * - status.conditions (type, status, reason): Unschedulable replicas (AIWorker status);
 *   status.phase for logs and tests.
 * Dropped: managedFields, ownerReferences, every other annotation, the containers and every other
 * spec field, container statuses, IPs.
 */
// The type requires containers: every cached pod shares this one empty, frozen list.
const NO_CONTAINERS = Object.freeze([]) as unknown as k8s.V1Container[];

export function podFields(pod: k8s.V1Pod): k8s.V1Pod {
  const certificate = pod.metadata?.annotations?.[WORKLOAD_CERTIFICATE_ANNOTATION];
  return {
    metadata: defined({
      ...identity(pod.metadata),
      labels: pod.metadata?.labels,
      annotations: certificate === undefined ? undefined : { [WORKLOAD_CERTIFICATE_ANNOTATION]: certificate },
    }),
    spec: defined({ nodeName: pod.spec?.nodeName, containers: NO_CONTAINERS }),
    status: defined({
      phase: pod.status?.phase,
      conditions: pod.status?.conditions?.map((c) => defined({ type: c.type, status: c.status, reason: c.reason })),
    }),
  };
}

/**
 * A node: only what is read of it.
 * - metadata.labels: the gpu-attested label (node gating, AIWorker status, Coordinator, metrics)
 *   and the GPU labels (api/gpu-node.ts: nvidia.com/gpu.present, nvidia.com/gpu.count).
 * - spec.taints: node gating (gating.ts), dev narrator, benches.
 * - status.capacity and status.allocatable: whether it is a GPU node and how many GPUs it has
 *   (api/gpu-node.ts: node gating, Coordinator, metrics).
 * Dropped: managedFields, annotations, podCIDRs, providerID, status.images, conditions,
 * addresses, nodeInfo, daemonEndpoints, volumes.
 */
export function nodeFields(node: k8s.V1Node): k8s.V1Node {
  return {
    metadata: defined({ ...identity(node.metadata), labels: node.metadata?.labels }),
    spec: defined({ taints: node.spec?.taints }),
    status: defined({ capacity: node.status?.capacity, allocatable: node.status?.allocatable }),
  };
}

/**
 * A Deployment the operator applies: everything but managedFields and status.conditions.
 * - apiVersion, kind (set where a list's item lacks them), metadata and spec whole:
 *   compare-before-write (owned-fields.ts
 *   hasOwnedFields covers every field the desired Deployment sets, the applied-hash annotation
 *   among them).
 * - status.replicas, readyReplicas: AIWorker status.
 */
export function deploymentFields(deployment: k8s.V1Deployment): k8s.V1Deployment {
  const { managedFields: _, ...metadata } = deployment.metadata ?? {};
  return {
    // A list's items carry no apiVersion and kind; the desired object does, so the compare needs them.
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    ...deployment,
    metadata,
    status: defined({ replicas: deployment.status?.replicas, readyReplicas: deployment.status?.readyReplicas }),
  };
}

/**
 * A Service the operator applies: everything but status, and of managedFields only this
 * operator's Apply entry: the AIWorker controller reads which annotations it applied
 * (appliedAnnotationKeys) to leave others' annotations alone. metadata and spec: sameService
 * (ports, type, annotations) and ownerName (labels).
 */
export function serviceFields(service: k8s.V1Service): k8s.V1Service {
  const ours = service.metadata?.managedFields?.filter((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply');
  const { status: _, ...rest } = service;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    ...rest,
    metadata: defined({ ...service.metadata, managedFields: ours?.length ? ours : undefined }),
  };
}

/**
 * A namespace: its identity and labels (the AIWorker namespaces' mark: namespace-mark.ts).
 * Dropped: managedFields, annotations, spec.finalizers, status.
 */
export function namespaceFields(namespace: k8s.V1Namespace): k8s.V1Namespace {
  return { metadata: defined({ ...identity(namespace.metadata), labels: namespace.metadata?.labels }) };
}

/** The object without its undefined keys (a cached object holds no empty slots). */
function defined<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}
