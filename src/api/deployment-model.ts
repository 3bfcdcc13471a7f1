/**
 * The two deployment models, declared rather than guessed (docs/design.md, "Deployment models"):
 *
 * - pod-cvm: each AI worker pod is its own CVM (Kata / Confidential Containers) with its GPUs
 *   passed through; `attestor init` in the pod attests it, and the pod gets a workload certificate.
 *   A Manifest enables it with a `pod`-role CVM entry.
 * - confidential-node: the node is the CVM; the node agent attests it and the node is opened to AI
 *   workers (label, taint, eviction). A Manifest enables it with a `node`-role CVM entry; it trusts
 *   the cluster admin.
 *
 * An AIWorker names its model (`spec.deploymentModel`, absent: pod-cvm; the default lives here,
 * not in the schema), and its pods carry it in a label, so the webhook and the node gating
 * controller know which pods the node's attestation gates. Pure.
 */
import { AI_WORKER_POD_SELECTOR } from './aiworker-labels.ts';
import type { Manifest } from './manifest.ts';
import { cvmRole } from './manifest-roles.ts';

export type DeploymentModel = 'pod-cvm' | 'confidential-node';
export const DEPLOYMENT_MODELS: readonly DeploymentModel[] = ['pod-cvm', 'confidential-node'];
export const DEFAULT_DEPLOYMENT_MODEL: DeploymentModel = 'pod-cvm';

/** On every pod the AIWorker controller creates: the model its AIWorker declares. */
export const DEPLOYMENT_MODEL_LABEL = 'attestor.dev/deployment-model';

/** The model an AIWorker declares, its absence read as the default. */
export function aiWorkerModel(spec: { deploymentModel?: DeploymentModel }): DeploymentModel {
  return spec.deploymentModel ?? DEFAULT_DEPLOYMENT_MODEL;
}

/** Which models a Manifest enables: pod-cvm with a `pod` CVM entry, confidential-node with a `node` one. */
export function enabledModels(manifest: Pick<Manifest, 'spec'>): Set<DeploymentModel> {
  const rv = manifest.spec.referenceValues ?? {};
  const roles = [...(rv.snp ?? []), ...(rv.tdx ?? [])].map((e) => cvmRole(e));
  const models = new Set<DeploymentModel>();
  if (roles.includes('pod')) models.add('pod-cvm');
  if (roles.includes('node')) models.add('confidential-node');
  return models;
}

/**
 * Whether the node's attestation gates GPU pods (label, taint, eviction, the webhook's node
 * selector and binding checks): unless a Manifest is active that does not enable the
 * confidential-node model. With none active, GPU nodes stay closed (fail closed).
 */
export function nodesGated(active: Pick<Manifest, 'spec'> | undefined): boolean {
  return active === undefined || enabledModels(active).has('confidential-node');
}

/**
 * Whether a node's attestation gates this GPU pod (the webhook's node selector and placement
 * checks, eviction): while nodes are gated, every GPU pod but a pod-CVM AI worker pod under a
 * Manifest that enables the pod-CVM model, whose own evidence gates it. The label alone exempts
 * nothing: under a Manifest without pod entries a pod labelled pod-cvm is gated like any other.
 */
export function gatedByNode(
  active: Pick<Manifest, 'spec'> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!nodesGated(active)) return false;
  return !(active !== undefined && enabledModels(active).has('pod-cvm') && isPodCvmWorkerPod(labels));
}

/**
 * Whether a pod is a pod-CVM AI worker pod: labelled as an AI worker (so that the webhook's pod
 * rules judge its runtime class, policy and images) and as the pod-cvm model. Such a pod is gated
 * by its own evidence (`attestor init`), not by its node's attestation.
 */
export function isPodCvmWorkerPod(labels: Record<string, string> | undefined): boolean {
  return isWorkerPodOf(labels, 'pod-cvm');
}

/** Whether a pod is an AI worker pod (the webhook's pod rules judge it) labelled with this model. */
export function isWorkerPodOf(labels: Record<string, string> | undefined, model: DeploymentModel): boolean {
  return (
    labels !== undefined &&
    Object.entries(AI_WORKER_POD_SELECTOR).every(([k, v]) => labels[k] === v) &&
    labels[DEPLOYMENT_MODEL_LABEL] === model
  );
}
