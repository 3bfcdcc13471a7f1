/**
 * The mutation for GPU pods (in any namespace but the excluded ones): select attested GPU nodes
 * only (nodeSelector attestor.dev/gpu-attested=true), so the scheduler never even tries the
 * others, and a kubelet refuses the pod on a node without the label. The API server keeps a
 * pod's nodeSelector from being removed later. Only while nodes are gated (the active Manifest
 * enables the confidential-node model, or none is active), and not for pod-CVM AI worker pods,
 * which their own evidence gates. Pure; idempotent (reinvocation runs it again).
 */
import type * as k8s from '@kubernetes/client-node';
import { gatedByNode } from '../api/deployment-model.ts';
import type { Manifest } from '../api/manifest.ts';
import { GPU_ATTESTED_LABEL } from '../api/node-gating.ts';
import { requestsGpus } from './gpu-requests.ts';
import { type JsonPatchOperation, pointer } from './json-patch.ts';

export function gpuNodeSelectorPatch(
  pod: k8s.V1Pod,
  active: Manifest | undefined,
  gpuResourcePrefixes?: readonly string[],
): JsonPatchOperation[] {
  if (!pod.spec || !requestsGpus(pod, gpuResourcePrefixes)) return [];
  if (!gatedByNode(active, pod.metadata?.labels)) return [];
  const selector = pod.spec.nodeSelector;
  if (selector && typeof selector === 'object') {
    if (selector[GPU_ATTESTED_LABEL] === 'true') return [];
    // "add" on an existing member replaces it: a pod that asked for gpu-attested=false gets true.
    return [{ op: 'add', path: pointer('spec', 'nodeSelector', GPU_ATTESTED_LABEL), value: 'true' }];
  }
  return [{ op: 'add', path: pointer('spec', 'nodeSelector'), value: { [GPU_ATTESTED_LABEL]: 'true' } }];
}
