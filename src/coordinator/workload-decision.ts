/**
 * Whether a pod may have a workload certificate at all, before and beside its evidence (pure):
 * the pod the token names exists with that UID and is not being deleted; it is an AIWorker's pod
 * of the model it asks under (pod-CVM or confidential-node), or, in the pod-CVM model only, a pod
 * of no AIWorker whose policy's role is secret-service or secret-store; the active Manifest
 * enables that model; its Kata policy annotation (as the API server has it) hashes to one of the
 * Manifest's workload policies. That hash is the only HOST_DATA / MRCONFIGID its evidence may
 * carry, so a pod VM running another policy, even one the Manifest allows, is refused: that is
 * what makes the role trustworthy, not any label. What the certificate then says (names, role,
 * SANs) comes from here too. The evidence itself is appraised against the Manifest's `pod`
 * entries elsewhere.
 */
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../api/aiworker.ts';
import { KATA_POLICY_ANNOTATION, ownerName } from '../api/aiworker-labels.ts';
import { aiWorkerModel, type DeploymentModel, enabledModels, isWorkerPodOf } from '../api/deployment-model.ts';
import type { Manifest } from '../api/manifest.ts';
import { type WorkloadRole, workloadRole } from '../api/manifest-roles.ts';
import { type Reason, reason } from '../attestation/verdict.ts';
import type { PodCaller } from './workload-auth.ts';

/** What a certified pod's certificate names, decided before its evidence is appraised. */
export interface WorkloadTarget {
  namespace: string;
  pod: string;
  podUid: string;
  podIp?: string;
  /** The certificate's common name: the AIWorker, or a role pod's app label (or its name). */
  commonName: string;
  /** The AIWorker (and its Service); absent for a secret-service or secret-store pod. */
  aiWorker?: string;
  /** SHA-256 (hex) of the pod's policy: the HOST_DATA / MRCONFIGID its evidence must carry. */
  policyHash: string;
  /** The Manifest policy entry with that hash. */
  policyName?: string;
  role: WorkloadRole;
  sans: string[];
  deploymentModel: DeploymentModel;
  /** GPUs the pod requests: its evidence must bring one report for each. */
  gpuCount: number;
}

export interface WorkloadFacts {
  caller: PodCaller;
  /** The pod as the API server has it now; undefined: not found. */
  pod: k8s.V1Pod | undefined;
  /** The AIWorker the pod's labels name, if it exists (none for a pod of no AIWorker). */
  worker: AIWorker | undefined;
  manifest: Manifest;
  /**
   * The model the certificate is asked under: pod-cvm (the pod's own evidence, the default) or
   * confidential-node (its node agent's countersignature). The pod's AIWorker must use it, and
   * the Manifest enable it.
   */
  model?: DeploymentModel;
}

export type WorkloadJudgement =
  | { target: WorkloadTarget; reasons: [] }
  | { target?: WorkloadTarget; reasons: Reason[] };

export function judgeWorkload(facts: WorkloadFacts): WorkloadJudgement {
  const { caller, pod, worker, manifest } = facts;
  const model = facts.model ?? 'pod-cvm';
  const name = `${caller.namespace}/${caller.name}`;
  if (!pod) return { reasons: [reason('workload.pod', `pod ${name} does not exist`)] };
  if (pod.metadata?.uid !== caller.uid)
    return {
      reasons: [
        reason(
          'workload.pod',
          `the token was made for pod ${name} with UID ${caller.uid}, but that pod is now ${pod.metadata?.uid ?? 'without a UID'}`,
        ),
      ],
    };
  if (pod.metadata?.deletionTimestamp) return { reasons: [reason('workload.pod', `pod ${name} is being deleted`)] };
  const owner = ownerName(pod.metadata?.labels);
  if (!owner) return judgeRolePod(facts, pod, model);
  if (!worker || worker.metadata.uid === undefined)
    return { reasons: [reason('workload.pod', `pod ${name} names AIWorker ${owner}, which does not exist`)] };

  const reasons: Reason[] = [];
  if (aiWorkerModel(worker.spec) !== model || !isWorkerPodOf(pod.metadata?.labels, model))
    reasons.push(
      reason(
        'workload.deployment-model',
        model === 'pod-cvm'
          ? `AIWorker ${caller.namespace}/${owner} uses the ${aiWorkerModel(worker.spec)} model: only pod-CVM pods get workload certificates from their own evidence`
          : `AIWorker ${caller.namespace}/${owner} uses the ${aiWorkerModel(worker.spec)} model: only confidential-node pods get workload certificates from their node agent's countersignature`,
      ),
    );
  if (!enabledModels(manifest).has(model))
    reasons.push(
      reason(
        'workload.deployment-model',
        model === 'pod-cvm'
          ? `Manifest ${manifest.metadata.name} does not enable the pod-CVM model (it has no pod-role CVM entries)`
          : `Manifest ${manifest.metadata.name} does not enable the confidential-node model (it has no node-role CVM entries)`,
      ),
    );

  const policy = podPolicyHash(pod);
  let entry: Manifest['spec']['policies'][number] | undefined;
  if ('error' in policy) reasons.push(reason('workload.policy', policy.error));
  else {
    entry = manifest.spec.policies.find((p) => p.hash === policy.hash && workloadRole(p) !== 'coordinator');
    if (!entry)
      reasons.push(
        reason(
          'workload.policy',
          `the policy of pod ${name} (SHA-256 ${policy.hash}) is not one of the workload policies of Manifest ${manifest.metadata.name}`,
        ),
      );
  }
  if ('error' in policy) return { reasons };
  const target: WorkloadTarget = {
    namespace: caller.namespace,
    pod: caller.name,
    podUid: caller.uid,
    ...(pod.status?.podIP ? { podIp: pod.status.podIP } : {}),
    commonName: owner,
    aiWorker: owner,
    policyHash: policy.hash,
    ...(entry?.name ? { policyName: entry.name } : {}),
    role: entry ? workloadRole(entry) : 'worker',
    sans: [...(entry?.sans ?? [])],
    deploymentModel: model,
    gpuCount: podGpuCount(pod),
  };
  return reasons.length === 0 ? { target, reasons: [] } : { target, reasons };
}

/** The roles a pod of no AIWorker may be certified for, through its policy entry. */
export const ROLE_POD_ROLES: readonly WorkloadRole[] = ['secret-service', 'secret-store'];

/**
 * A pod of no AIWorker (the secret service, the secret store): pod-CVM only (under the
 * confidential-node model nothing measures the pod, so its policy annotation would be the admin's
 * word), in any namespace; its policy must be a secret-service or secret-store entry of the
 * Manifest. A worker policy belongs in an AIWorker's pod, and a coordinator policy is never
 * certified through the workload paths. The certificate names the pod's app label and its
 * namespace, and carries the entry's SANs and the pod IP; no Service name from a label.
 */
function judgeRolePod(facts: WorkloadFacts, pod: k8s.V1Pod, model: DeploymentModel): WorkloadJudgement {
  const { caller, manifest } = facts;
  const name = `${caller.namespace}/${caller.name}`;
  const reasons: Reason[] = [];
  if (model !== 'pod-cvm')
    reasons.push(
      reason(
        'workload.deployment-model',
        `pod ${name} is not an AIWorker's pod: under the confidential-node model only AIWorker pods are certified`,
      ),
    );
  else if (!enabledModels(manifest).has('pod-cvm'))
    reasons.push(
      reason(
        'workload.deployment-model',
        `Manifest ${manifest.metadata.name} does not enable the pod-CVM model (it has no pod-role CVM entries)`,
      ),
    );
  const policy = podPolicyHash(pod);
  if ('error' in policy) return { reasons: [...reasons, reason('workload.policy', policy.error)] };
  const entries = manifest.spec.policies.filter((p) => p.hash === policy.hash);
  const entry = entries.find((p) => ROLE_POD_ROLES.includes(workloadRole(p)));
  if (!entry) {
    const roles = [...new Set(entries.map(workloadRole))];
    reasons.push(
      roles.includes('worker')
        ? reason(
            'workload.pod',
            `pod ${name} is not an AIWorker's pod: a worker policy is certified only in an AIWorker's pod`,
          )
        : roles.includes('coordinator')
          ? reason(
              'workload.policy',
              `the policy of pod ${name} (SHA-256 ${policy.hash}) is a coordinator policy of Manifest ${manifest.metadata.name}: never certified as a workload`,
            )
          : reason(
              'workload.policy',
              `the policy of pod ${name} (SHA-256 ${policy.hash}) is not one of the workload policies of Manifest ${manifest.metadata.name}`,
            ),
    );
    return { reasons };
  }
  const labels = pod.metadata?.labels;
  const target: WorkloadTarget = {
    namespace: caller.namespace,
    pod: caller.name,
    podUid: caller.uid,
    ...(pod.status?.podIP ? { podIp: pod.status.podIP } : {}),
    commonName: labels?.['app.kubernetes.io/name'] || labels?.app || caller.name,
    policyHash: policy.hash,
    ...(entry.name ? { policyName: entry.name } : {}),
    role: workloadRole(entry),
    sans: [...(entry.sans ?? [])],
    deploymentModel: model,
    gpuCount: podGpuCount(pod),
  };
  return reasons.length === 0 ? { target, reasons: [] } : { target, reasons };
}

/** SHA-256 of the policy the pod carries in its Kata annotation (canonical base64, as the webhook admits it). */
export function podPolicyHash(pod: k8s.V1Pod): { hash: string } | { error: string } {
  const name = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const encoded = pod.metadata?.annotations?.[KATA_POLICY_ANNOTATION];
  if (!encoded) return { error: `pod ${name} carries no policy (annotation ${KATA_POLICY_ANNOTATION})` };
  const decoded = Buffer.from(encoded, 'base64');
  if (decoded.toString('base64') !== encoded)
    return { error: `pod ${name}: annotation ${KATA_POLICY_ANNOTATION} is not valid base64` };
  return { hash: createHash('sha256').update(decoded).digest('hex') };
}

/** The whole GPUs (nvidia.com/gpu) the pod requests: its containers' limits together, or an init container's if more. */
export function podGpuCount(pod: k8s.V1Pod): number {
  const gpus = (c: k8s.V1Container) => {
    const q = c.resources?.limits?.['nvidia.com/gpu'] ?? c.resources?.requests?.['nvidia.com/gpu'];
    const n = Number(q ?? 0);
    return Number.isInteger(n) && n > 0 ? n : 0;
  };
  const spec = pod.spec;
  const running = (spec?.containers ?? []).reduce((n, c) => n + gpus(c), 0);
  const init = (spec?.initContainers ?? []).filter((c) => c.restartPolicy !== 'Always');
  const sidecars = (spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  return Math.max(running + sidecars.reduce((n, c) => n + gpus(c), 0), ...init.map(gpus));
}
