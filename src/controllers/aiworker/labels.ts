/** Labels and annotations on what the AIWorker controller creates. */
export const APP_NAME = 'ai-worker';
export const MANAGED_BY = 'attestor';
/** Kata Containers reads the agent policy (base64) from this pod annotation. */
export const KATA_POLICY_ANNOTATION = 'io.katacontainers.config.agent.policy';
/** SHA-256 (hex) of the policy in KATA_POLICY_ANNOTATION, for humans and the webhook. */
export const POLICY_HASH_ANNOTATION = 'attestor.dev/policy-hash';
export { GPU_ATTESTED_LABEL } from '../../api/node-gating.ts';

export function selectorLabels(aiWorkerName: string): Record<string, string> {
  return { 'app.kubernetes.io/name': APP_NAME, 'app.kubernetes.io/instance': aiWorkerName };
}

/** The recommended labels (app.kubernetes.io/*) for everything an AIWorker owns, pods included. */
export function recommendedLabels(aiWorkerName: string): Record<string, string> {
  return {
    ...selectorLabels(aiWorkerName),
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'app.kubernetes.io/component': 'inference-server',
    'app.kubernetes.io/part-of': 'attestor',
  };
}

export function selectorString(aiWorkerName: string): string {
  return Object.entries(selectorLabels(aiWorkerName)).map(([k, v]) => `${k}=${v}`).join(',');
}

/** The AIWorker that owns an object with these labels, if any. */
export function ownerName(labels: Record<string, string> | undefined): string | undefined {
  if (!labels || labels['app.kubernetes.io/managed-by'] !== MANAGED_BY || labels['app.kubernetes.io/name'] !== APP_NAME) return undefined;
  return labels['app.kubernetes.io/instance'];
}
