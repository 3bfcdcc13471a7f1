/** Sets a Manifest's finalizers with a merge patch that carries the resourceVersion read (409 when stale). */
import * as k8s from '@kubernetes/client-node';
import { GROUP, VERSION } from '../../api/common.ts';
import { MANIFEST_PLURAL } from '../../api/manifest.ts';

export async function patchFinalizers(
  custom: k8s.CustomObjectsApi,
  name: string,
  resourceVersion: string | undefined,
  finalizers: string[],
): Promise<void> {
  const metadata = resourceVersion ? { resourceVersion, finalizers } : { finalizers };
  await custom.patchClusterCustomObject(
    { group: GROUP, version: VERSION, plural: MANIFEST_PLURAL, name, body: { metadata } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}
