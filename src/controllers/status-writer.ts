/**
 * Writes the status subresource of attestor's custom resources with a JSON merge patch that
 * carries the resourceVersion the reconciler read: the API server refuses it (409) if the object
 * changed meanwhile, and the key is reconciled again with fresh data.
 */
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/common.ts';

export interface StatusTarget {
  plural: string;
  name: string;
  namespace?: string;
  resourceVersion?: string;
}

export async function patchStatus(custom: k8s.CustomObjectsApi, target: StatusTarget, status: unknown): Promise<void> {
  const body = { metadata: target.resourceVersion ? { resourceVersion: target.resourceVersion } : {}, status };
  const options = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  if (target.namespace) {
    await custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: target.plural, namespace: target.namespace, name: target.name, body },
      options,
    );
  } else {
    await custom.patchClusterCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: target.plural, name: target.name, body },
      options,
    );
  }
}
