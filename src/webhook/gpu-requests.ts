/** Whether a pod asks for GPUs: the pods attestor keeps off nodes whose GPUs are not attested. */
import type * as k8s from '@kubernetes/client-node';

export const GPU_RESOURCE = 'nvidia.com/gpu';

/**
 * True when any container (init containers included) requests or limits nvidia.com/gpu to
 * anything but zero. A quantity that does not read as a number counts as a request: the
 * mutation and the binding check then err on the safe side.
 */
export function requestsGpus(pod: k8s.V1Pod): boolean {
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  return containers.some((c) => nonZero(c.resources?.requests?.[GPU_RESOURCE]) || nonZero(c.resources?.limits?.[GPU_RESOURCE]));
}

function nonZero(quantity: unknown): boolean {
  if (quantity === undefined || quantity === null) return false;
  const text = String(quantity).trim();
  return !(text !== '' && Number(text) === 0);
}
