/** Labels and annotations on what the AIWorker controller creates. */
export const APP_NAME = 'ai-worker';
export const MANAGED_BY = 'attestor';
/** Kata Containers reads the agent policy (base64) from this pod annotation. */
export const KATA_POLICY_ANNOTATION = 'io.katacontainers.config.agent.policy';
/** SHA-256 (hex) of the policy in KATA_POLICY_ANNOTATION, for humans and the webhook. */
export const POLICY_HASH_ANNOTATION = 'attestor.dev/policy-hash';
/**
 * The workload certificate (PEM) the Coordinator issued to a pod-CVM pod, recorded on the pod so
 * that the AIWorker controller can count the pods that hold a current one. Public; the controller
 * trusts it only when it verifies under the current mesh CA and names the pod's UID.
 */
export const WORKLOAD_CERTIFICATE_ANNOTATION = 'attestor.dev/workload-certificate';
export { GPU_ATTESTED_LABEL } from './node-gating.ts';

/**
 * What every AIWorker selector (its Deployment's, its Service's, status.selector) requires,
 * whatever the worker's name: a pod without this label is selected by no AIWorker, a pod with it
 * may be. The admission webhook judges every pod that carries it (configuration.ts).
 */
export const AI_WORKER_POD_SELECTOR = { 'app.kubernetes.io/name': APP_NAME } as const;
/** The label keys AIWorker selectors read: changing one can make a pod an AIWorker's endpoint. */
export const AI_WORKER_SELECTOR_KEYS = ['app.kubernetes.io/name', 'app.kubernetes.io/instance'] as const;

export function selectorLabels(aiWorkerName: string): Record<string, string> {
  return { ...AI_WORKER_POD_SELECTOR, 'app.kubernetes.io/instance': aiWorkerName };
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
  return Object.entries(selectorLabels(aiWorkerName))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The AIWorker that owns an object with these labels, if any. */
export function ownerName(labels: Record<string, string> | undefined): string | undefined {
  if (!labels || labels['app.kubernetes.io/managed-by'] !== MANAGED_BY || labels['app.kubernetes.io/name'] !== APP_NAME)
    return undefined;
  return labels['app.kubernetes.io/instance'];
}
