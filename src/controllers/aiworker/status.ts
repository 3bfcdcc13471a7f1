/** The status an AIWorker should have, from what its Deployment and pods report. Pure. */
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker, AIWorkerStatus } from '../../api/aiworker.ts';
import { GPU_ATTESTED_LABEL, selectorString } from '../../api/aiworker-labels.ts';
import { setCondition } from '../../api/conditions.ts';
import { aiWorkerModel } from '../../api/deployment-model.ts';
import type { Violation } from './compliance.ts';

export interface AIWorkerFacts {
  deployment: k8s.V1Deployment | undefined;
  pods: readonly k8s.V1Pod[];
  nodeLabels: (nodeName: string) => Record<string, string> | undefined;
  /** UIDs of the pods that hold a current workload certificate (certified.ts): the attested replicas. */
  certified: ReadonlySet<string>;
  policyHash: string | undefined;
  /** Why the policy could not be read (ConfigMap or key missing). */
  policyError: string | undefined;
  violations: readonly Violation[];
  now: Date;
}

export function desiredAIWorkerStatus(worker: AIWorker, facts: AIWorkerFacts): AIWorkerStatus {
  const generation = worker.metadata.generation ?? 0;
  const desired = worker.spec.replicas ?? 1;
  const podCvm = aiWorkerModel(worker.spec) === 'pod-cvm';
  // Both models: pods holding a current workload certificate. confidential-node: also on a node
  // that is open now (node gating stays, defence in depth).
  const attested = facts.pods.filter(
    (p) =>
      !p.metadata?.deletionTimestamp &&
      facts.certified.has(p.metadata?.uid ?? '') &&
      (podCvm || (p.spec?.nodeName && facts.nodeLabels(p.spec.nodeName)?.[GPU_ATTESTED_LABEL] === 'true')),
  ).length;
  const status: AIWorkerStatus = {
    observedGeneration: generation,
    replicas: facts.deployment?.status?.replicas ?? 0,
    readyReplicas: facts.deployment?.status?.readyReplicas ?? 0,
    attestedReplicas: attested,
    selector: selectorString(worker.metadata.name!),
  };
  if (facts.policyHash) status.policyHash = facts.policyHash;
  let conditions = worker.status?.conditions;
  if (facts.policyError) {
    conditions = setCondition(
      conditions,
      {
        type: 'PolicyCompliant',
        status: 'False',
        reason: 'PolicyNotFound',
        message: facts.policyError,
        observedGeneration: generation,
      },
      facts.now,
    );
  } else if (facts.violations.length > 0) {
    conditions = setCondition(
      conditions,
      {
        type: 'PolicyCompliant',
        status: 'False',
        reason: facts.violations[0]!.reason,
        message: facts.violations.map((v) => v.message).join('; '),
        observedGeneration: generation,
      },
      facts.now,
    );
  } else {
    conditions = setCondition(
      conditions,
      {
        type: 'PolicyCompliant',
        status: 'True',
        reason: 'Allowed',
        message: 'runtime class and policy are allowed by the active Manifest',
        observedGeneration: generation,
      },
      facts.now,
    );
  }
  const blocked = facts.policyError !== undefined || facts.violations.length > 0;
  const ready = status.readyReplicas ?? 0;
  // Pods the scheduler could not place: with attestor, that mostly means no attested GPU node has room.
  const unschedulable = facts.pods.filter((p) =>
    p.status?.conditions?.some(
      (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
    ),
  ).length;
  conditions = setCondition(
    conditions,
    blocked
      ? {
          type: 'Ready',
          status: 'False',
          reason: facts.policyError ? 'PolicyNotFound' : 'ManifestViolation',
          message: 'held at 0 replicas until the worker complies with the active Manifest',
          observedGeneration: generation,
        }
      : desired === 0
        ? {
            type: 'Ready',
            status: 'True',
            reason: 'ScaledToZero',
            message: 'no replicas requested',
            observedGeneration: generation,
          }
        : ready >= desired
          ? {
              type: 'Ready',
              status: 'True',
              reason: 'Available',
              message: podCvm
                ? `${ready}/${desired} replicas ready, ${attested} hold a current workload certificate`
                : `${ready}/${desired} replicas ready, ${attested} on attested GPU nodes`,
              observedGeneration: generation,
            }
          : unschedulable > 0 && !podCvm
            ? {
                type: 'Ready',
                status: 'False',
                reason: 'WaitingForAttestedNodes',
                message: `${ready}/${desired} replicas ready; ${unschedulable} pods wait for an attested GPU node with room (label attestor.dev/gpu-attested=true)`,
                observedGeneration: generation,
              }
            : {
                type: 'Ready',
                status: 'False',
                reason: 'Progressing',
                message: `${ready}/${desired} replicas ready`,
                observedGeneration: generation,
              },
    facts.now,
  );
  status.conditions = conditions;
  return status;
}
