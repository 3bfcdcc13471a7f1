/**
 * Whether a confidential-node pod's node vouches for it (pure): the pod is scheduled on a node
 * whose attestation is current against the active Manifest (its NodeAttestation, as node gating
 * reads it) and whose accepted evidence this leader keeps (the agent key in it verifies the
 * countersignature). The certificate then lives no longer than the node's attestation.
 */
import type { NodeAttestation } from '../api/node-attestation.ts';
import { attestationState } from '../api/node-gating.ts';
import { type Reason, reason } from '../attestation/verdict.ts';
import type { AcceptedNodeEvidence } from './coordinator.ts';

export interface NodeVouching {
  /** The pod's spec.nodeName, fresh from the API server. */
  node: string | undefined;
  attestation: NodeAttestation | undefined;
  /** The node's accepted evidence, while its acceptance stands (Coordinator.acceptedEvidence). */
  accepted: AcceptedNodeEvidence | undefined;
  /** The active Manifest's status hash. */
  activeManifestHash: string;
  now: Date;
}

export type NodeJudgement =
  | { node: string; accepted: AcceptedNodeEvidence; expiresAt: Date; reasons: [] }
  | { reasons: Reason[] };

export function judgeNode(facts: NodeVouching): NodeJudgement {
  const { node, attestation, accepted, activeManifestHash, now } = facts;
  if (!node) return { reasons: [reason('workload.node', 'the pod is not scheduled on a node yet')] };
  const state = attestationState(attestation, activeManifestHash, now);
  if (!state.current)
    return {
      reasons: [reason('workload.node', `node ${node} is not currently attested (${state.reason}: ${state.message})`)],
    };
  if (!accepted || accepted.manifestHash !== activeManifestHash)
    return {
      reasons: [
        reason(
          'workload.node',
          `this Coordinator holds no accepted evidence of node ${node} under Manifest ${activeManifestHash}: its agent must attest again`,
        ),
      ],
    };
  return { node, accepted, expiresAt: new Date(attestation!.status!.expiresAt!), reasons: [] };
}
