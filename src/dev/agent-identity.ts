/**
 * Gives a simulated node agent the identity a real one has: a pod of the agent service account
 * bound to its node, and a projected service account token for that pod (so TokenReview names
 * the node). What a DaemonSet pod gets from the kubelet, done by hand for kwok nodes.
 */
import * as k8s from '@kubernetes/client-node';
import { UNATTESTED_TAINT } from '../api/node-gating.ts';
import { isConflict } from '../errors.ts';
import { waitFor } from './wait.ts';

export const AGENT_SERVICE_ACCOUNT = 'attestor-agent';
export const AGENT_AUDIENCE = 'attestor';

export function agentUsername(namespace: string): string {
  return `system:serviceaccount:${namespace}:${AGENT_SERVICE_ACCOUNT}`;
}

export async function ensureAgentServiceAccount(kubeConfig: k8s.KubeConfig, namespace: string): Promise<void> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({
      namespace,
      body: {
        metadata: { name: AGENT_SERVICE_ACCOUNT, namespace, labels: { 'app.kubernetes.io/managed-by': 'attestor' } },
      },
    });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

/** Creates the node's agent pod (kwok runs it) and returns a function that mints tokens bound to it. */
export async function agentTokenSource(
  kubeConfig: k8s.KubeConfig,
  namespace: string,
  node: string,
  image = `registry.example/attestor@sha256:${'0'.repeat(64)}`,
): Promise<() => Promise<string>> {
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const name = `attestor-agent-${node}`;
  let pod: k8s.V1Pod;
  try {
    pod = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name,
          namespace,
          labels: { 'app.kubernetes.io/name': 'attestor-agent', 'app.kubernetes.io/managed-by': 'attestor' },
        },
        spec: {
          nodeName: node,
          serviceAccountName: AGENT_SERVICE_ACCOUNT,
          automountServiceAccountToken: false,
          tolerations: [{ key: UNATTESTED_TAINT.key, operator: 'Exists', effect: 'NoSchedule' }],
          containers: [{ name: 'agent', image, args: ['agent'] }],
        },
      },
    });
  } catch (err) {
    if (!isConflict(err)) throw err;
    pod = await core.readNamespacedPod({ name, namespace });
  }
  await waitFor(async () => (await core.readNamespacedPod({ name, namespace })).spec?.nodeName === node, {
    description: `agent pod on ${node}`,
  });
  let cached: { token: string; expires: number } | undefined;
  return async () => {
    if (cached && cached.expires > Date.now() + 60_000) return cached.token;
    const request = await core.createNamespacedServiceAccountToken({
      name: AGENT_SERVICE_ACCOUNT,
      namespace,
      body: {
        spec: {
          audiences: [AGENT_AUDIENCE],
          expirationSeconds: 3600,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid: pod.metadata!.uid },
        },
      },
    });
    const token = request.status?.token;
    if (!token) throw new Error(`TokenRequest for ${name} returned no token`);
    cached = { token, expires: new Date(request.status?.expirationTimestamp ?? Date.now()).getTime() };
    return token;
  };
}
