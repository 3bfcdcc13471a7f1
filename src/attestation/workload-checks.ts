/**
 * Every `check` a refusal of a workload (a pod's `attestor init`) can carry beyond the CVM and GPU
 * checks of its evidence and the one-holder rule (coordinator.evidence.in-use), with its kind
 * (check-registry.ts). The Coordinator's workload decision (src/coordinator/workload-decision.ts)
 * makes them.
 */
import type { CheckRegistry } from './check-registry.ts';

export const WORKLOAD_CHECKS = {
  'workload.pod': {
    kind: 'binding',
    about:
      "the caller's pod is gone, is another pod than its token names (UID), or is not an AIWorker's pod: the evidence is bound to no pod that could hold the certificate",
  },
  'workload.policy': {
    kind: 'comparison',
    about:
      "the pod's policy annotation is missing, unreadable or not one of the Manifest's workload policies (its HOST_DATA / MRCONFIGID must equal the annotation's hash)",
  },
  'workload.deployment-model': {
    kind: 'comparison',
    about:
      "the pod's AIWorker does not use the model it asks a certificate under (pod-CVM: its own evidence; confidential-node: its node agent's countersignature), or the active Manifest does not enable that model",
  },
  'workload.node': {
    kind: 'comparison',
    about:
      "confidential-node: the pod's node is not currently attested against the active Manifest (no accepted evidence, expired, refused, or attested under another Manifest)",
  },
  'workload.countersignature': {
    kind: 'binding',
    about:
      "confidential-node: the node agent's countersignature does not verify with the agent key of the node's accepted evidence, or does not name this node, pod, key, nonce and Manifest",
  },
  'workload.proof-of-possession': {
    kind: 'binding',
    about:
      "the pod's proof of possession does not verify with the key it asks a certificate for, or is for another nonce",
  },
} as const satisfies CheckRegistry;

export type WorkloadCheck = keyof typeof WORKLOAD_CHECKS;
