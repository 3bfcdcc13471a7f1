/**
 * The mutation for GPU pods in attestor's scope: select attested GPU nodes only
 * (nodeSelector attestor.dev/gpu-attested=true), so the scheduler never even tries the others.
 * Pure; idempotent, because a pod matched by both pod webhooks is mutated twice.
 */
import type * as k8s from '@kubernetes/client-node';
import { GPU_ATTESTED_LABEL } from '../api/node-gating.ts';
import { requestsGpus } from './gpu-requests.ts';
import { pointer, type JsonPatchOperation } from './json-patch.ts';

export function gpuNodeSelectorPatch(pod: k8s.V1Pod): JsonPatchOperation[] {
  if (!pod.spec || !requestsGpus(pod)) return [];
  const selector = pod.spec.nodeSelector;
  if (selector && typeof selector === 'object') {
    if (selector[GPU_ATTESTED_LABEL] === 'true') return [];
    // "add" on an existing member replaces it: a pod that asked for gpu-attested=false gets true.
    return [{ op: 'add', path: pointer('spec', 'nodeSelector', GPU_ATTESTED_LABEL), value: 'true' }];
  }
  return [{ op: 'add', path: pointer('spec', 'nodeSelector'), value: { [GPU_ATTESTED_LABEL]: 'true' } }];
}
