/**
 * A service account token bound to one pod, for one audience, as the kubelet projects it: what
 * the simulated pod inits of `attestor dev` and the benches, and the tests, present to the
 * Coordinator in a pod's name.
 */
import type * as k8s from '@kubernetes/client-node';

export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
  /** Default: "default". */
  serviceAccount?: string;
}

/** A TokenRequest bound to `pod`, for `audience`; throws when the API server returns no token. */
export async function requestPodToken(
  core: k8s.CoreV1Api,
  pod: PodIdentity,
  audience: string,
  expirationSeconds = 3600,
): Promise<string> {
  const { namespace, name, uid } = pod;
  const request = await core.createNamespacedServiceAccountToken({
    name: pod.serviceAccount ?? 'default',
    namespace,
    body: {
      spec: { audiences: [audience], expirationSeconds, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid } },
    },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for pod ${namespace}/${name} returned no token`);
  return token;
}
