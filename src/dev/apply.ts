/** `kubectl apply --server-side` for YAML documents: used to apply samples/ in `attestor dev`. */
import * as k8s from '@kubernetes/client-node';

export async function applyYaml(
  kubeConfig: k8s.KubeConfig,
  text: string,
  fieldManager = 'attestor-dev',
): Promise<k8s.KubernetesObject[]> {
  const client = k8s.KubernetesObjectApi.makeApiClient(kubeConfig);
  const applied: k8s.KubernetesObject[] = [];
  // loadAllYaml deserialises into client-node's models, which is what patch() serialises from.
  for (const doc of k8s.loadAllYaml(text)) {
    if (!doc || typeof doc !== 'object') continue;
    const obj = doc as k8s.KubernetesObject;
    if (!obj.kind || !obj.metadata?.name)
      throw new Error(`document without kind or metadata.name: ${JSON.stringify(doc).slice(0, 120)}`);
    applied.push(await client.patch(obj, undefined, undefined, fieldManager, true, k8s.PatchStrategy.ServerSideApply));
  }
  return applied;
}
