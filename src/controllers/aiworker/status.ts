/** The status an AIWorker should have, from what its Deployment and pods report. Pure. */
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker, AIWorkerStatus } from '../../api/aiworker.ts';
import { GPU_ATTESTED_LABEL, selectorString } from '../../api/aiworker-labels.ts';
import { setCondition } from '../../api/conditions.ts';
import { aiWorkerModel } from '../../api/deployment-model.ts';
import { type Readiness, setReadiness } from '../../api/kstatus.ts';
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
  conditions = setReadiness(
    conditions,
    aiWorkerReadiness({
      blocked,
      policyError: facts.policyError !== undefined,
      desired,
      ready,
      attested,
      unschedulable,
      podCvm,
    }),
    generation,
    facts.now,
  );
  status.conditions = conditions;
  return status;
}

export interface ReadinessFacts {
  /** The worker breaks the active Manifest, or its policy cannot be read: held at 0 replicas. */
  blocked: boolean;
  policyError: boolean;
  desired: number;
  ready: number;
  attested: number;
  unschedulable: number;
  podCvm: boolean;
}

/**
 * Ready (kstatus) counts attested replicas, not only ready ones: a replica without a current
 * workload certificate (pod-cvm), or off an attested node (confidential-node), serves no client.
 * A worker that breaks the Manifest is Stalled: it stays at 0 replicas until someone changes the
 * worker or the Manifest. Pure.
 */
export function aiWorkerReadiness(f: ReadinessFacts): Readiness {
  if (f.blocked)
    return {
      state: 'Stalled',
      reason: f.policyError ? 'PolicyNotFound' : 'ManifestViolation',
      message: 'held at 0 replicas until the worker complies with the active Manifest (see condition PolicyCompliant)',
    };
  if (f.desired === 0) return { state: 'Ready', reason: 'ScaledToZero', message: 'no replicas requested' };
  const attestedWord = f.podCvm
    ? 'hold a current workload certificate'
    : 'run on attested GPU nodes with a current workload certificate';
  if (f.ready >= f.desired && f.attested >= f.desired)
    return {
      state: 'Ready',
      reason: 'Available',
      message: `${f.ready}/${f.desired} replicas ready, ${f.attested} ${attestedWord}`,
    };
  if (f.unschedulable > 0 && !f.podCvm)
    return {
      state: 'Reconciling',
      reason: 'WaitingForAttestedNodes',
      message: `${f.ready}/${f.desired} replicas ready; ${f.unschedulable} pods wait for an attested GPU node with room (label attestor.dev/gpu-attested=true)`,
    };
  if (f.ready >= f.desired)
    return {
      state: 'Reconciling',
      reason: 'AwaitingAttestation',
      message: `${f.ready}/${f.desired} replicas ready, but only ${f.attested} ${attestedWord}`,
    };
  return {
    state: 'Reconciling',
    reason: 'Progressing',
    message: `${f.ready}/${f.desired} replicas ready, ${f.attested} ${attestedWord}`,
  };
}
