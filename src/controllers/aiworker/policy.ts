/** Reads an AIWorker's policy document (inline or from a ConfigMap) and hashes it. */

import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../api/aiworker.ts';
import { isNotFound } from '../../errors.ts';

export const DEFAULT_POLICY_KEY = 'policy.rego';

export type PolicyLookup = { document: string; hash: string } | { error: string };

export function policyHash(document: string): string {
  return createHash('sha256').update(document, 'utf8').digest('hex');
}

export async function resolvePolicy(core: k8s.CoreV1Api, worker: AIWorker): Promise<PolicyLookup> {
  const policy = worker.spec.policy;
  if (policy.inline !== undefined) return { document: policy.inline, hash: policyHash(policy.inline) };
  const ref = policy.configMapRef!;
  const key = ref.key ?? DEFAULT_POLICY_KEY;
  let configMap: k8s.V1ConfigMap;
  try {
    configMap = await core.readNamespacedConfigMap({ name: ref.name, namespace: worker.metadata.namespace! });
  } catch (err) {
    if (isNotFound(err))
      return { error: `spec.policy.configMapRef: ConfigMap ${worker.metadata.namespace}/${ref.name} not found` };
    throw err;
  }
  const document = configMap.data?.[key];
  if (document === undefined)
    return {
      error: `spec.policy.configMapRef: ConfigMap ${worker.metadata.namespace}/${ref.name} has no key "${key}"`,
    };
  return { document, hash: policyHash(document) };
}
