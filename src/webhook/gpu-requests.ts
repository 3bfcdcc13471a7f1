/**
 * Whether a pod wants GPUs: the pods attestor keeps off nodes whose GPUs are not attested. One
 * place for the rule, in two forms that must agree: a pure function the webhook server judges
 * with, and a CEL expression the API server evaluates in the webhooks' matchConditions (so that
 * only GPU pods depend on the webhook being up). The CEL form may match more pods, never fewer.
 */
import type * as k8s from '@kubernetes/client-node';

/**
 * Extended resources that are GPUs, by prefix: whole GPUs, MIG slices (nvidia.com/mig-1g.10gb
 * and friends), and DRA device classes requested as extended resources (DRAExtendedResource).
 */
export const DEFAULT_GPU_RESOURCE_PREFIXES: readonly string[] = [
  'nvidia.com/gpu',
  'nvidia.com/mig-',
  'deviceclass.resource.kubernetes.io/',
];

/** A resource-name prefix: a domain and a name start, no quotes or spaces (it goes into CEL verbatim). */
const PREFIX = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[-A-Za-z0-9_.]*$/;

/** Checks prefixes given on the command line; throws on one that is not a resource-name prefix. */
export function parseGpuResourcePrefixes(value: string): string[] {
  const prefixes = value
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (prefixes.length === 0) throw new Error('at least one GPU resource-name prefix is required');
  for (const p of prefixes) {
    if (!PREFIX.test(p) || p.length > 253)
      throw new Error(`${JSON.stringify(p)} is not a resource-name prefix such as nvidia.com/gpu or nvidia.com/mig-`);
  }
  return prefixes;
}

/**
 * True when the pod asks for a GPU: a container (init containers included) or the pod itself
 * requests or limits a resource whose name starts with one of the prefixes, to anything but
 * zero; or the pod uses dynamic resource allocation at all (spec.resourceClaims, or a
 * container's resources.claims). A claim names a ResourceClaim whose device class admission
 * cannot see, so every claim counts: the safe side. A quantity that does not read as a number
 * counts as a request too.
 */
export function requestsGpus(pod: k8s.V1Pod, prefixes: readonly string[] = DEFAULT_GPU_RESOURCE_PREFIXES): boolean {
  const spec = pod.spec;
  if (!spec) return false;
  if ((spec.resourceClaims ?? []).length > 0) return true;
  const isGpu = (name: string) => prefixes.some((p) => name.startsWith(p));
  const asks = (resources: k8s.V1ResourceRequirements | undefined) => {
    if (!resources) return false;
    if ((resources.claims ?? []).length > 0) return true;
    return [resources.requests, resources.limits].some((quantities) =>
      Object.entries(quantities ?? {}).some(([name, q]) => isGpu(name) && nonZero(q)),
    );
  };
  return (
    [...(spec.containers ?? []), ...(spec.initContainers ?? [])].some((c) => asks(c.resources)) || asks(spec.resources)
  );
}

function nonZero(quantity: unknown): boolean {
  if (quantity === undefined || quantity === null) return false;
  const text = String(quantity).trim();
  return !(text !== '' && Number(text) === 0);
}

/**
 * The CEL form of requestsGpus over the admission request's `object` (a Pod), for
 * matchConditions. It counts any quantity (zero included), so it matches a superset. It never
 * fails on a well-formed pod: every optional field is tested with has() before it is read.
 */
export function gpuRequestCel(prefixes: readonly string[] = DEFAULT_GPU_RESOURCE_PREFIXES): string {
  const list = celPrefixList(prefixes);
  const asks = (r: string) =>
    [
      `(has(${r}.requests) && ${r}.requests.exists(n, ${list}.exists(p, n.startsWith(p))))`,
      `(has(${r}.limits) && ${r}.limits.exists(n, ${list}.exists(p, n.startsWith(p))))`,
      `(has(${r}.claims) && size(${r}.claims) > 0)`,
    ].join(' || ');
  return [
    '(has(object.spec.resourceClaims) && size(object.spec.resourceClaims) > 0)',
    `|| (object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : [])).exists(c, has(c.resources) && (${asks('c.resources')}))`,
    `|| (has(object.spec.resources) && (${asks('object.spec.resources')}))`,
  ].join('\n');
}

/**
 * The prefixes as a CEL list literal. It is also JSON (double quotes, no spaces), exactly what
 * Helm's toJson renders, so that the chart can put its value in the same place.
 */
export function celPrefixList(prefixes: readonly string[]): string {
  for (const p of prefixes) if (!PREFIX.test(p)) throw new Error(`${JSON.stringify(p)} is not a resource-name prefix`);
  return JSON.stringify(prefixes);
}
