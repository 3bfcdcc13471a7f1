/**
 * Which peer replica may share the Coordinator's keys (peer recovery), in both directions: the
 * leader asks it of a replica that wants the keys, the replica of the leader that sends them.
 * Both have already appraised the other's evidence against the coordinator entries of the
 * Manifest the chain ends at; this adds the rule that makes a peer the same Coordinator:
 *
 * - Its HOST_DATA / MRCONFIGID carries the same policy as this replica's own: the same pod
 *   policy, so the same image and command. Merely being listed in the Manifest is not enough: a
 *   cluster admin who applied a Manifest naming another image must not receive the keys.
 * - During an operator upgrade (a new image, so a new policy) the peer's policy may differ if the
 *   Manifest the chain ends at lists both as coordinator policies AND an owner of the Manifest
 *   before it signed the step to it (`judgeSuccessor` finds a signer): the workload owners, not
 *   the admin, approved the new image as a Coordinator. Both sides check the signature
 *   themselves, over the predecessor the bundle carries.
 *
 * Pure.
 */
import type { Manifest } from '../api/manifest.ts';
import { judgeSuccessor } from '../api/manifest-owners.ts';
import { policyHashesForRole } from '../api/manifest-roles.ts';
import { type Reason, reason } from '../attestation/verdict.ts';

export interface PeerPolicyInput {
  /** The policy this replica's own evidence carries. */
  own: string | undefined;
  /** The policy the peer's (genuine, appraised) evidence carries. */
  peer: string | undefined;
  /** The Manifest the chain ends at, and the one before it (if the chain has two entries). */
  manifest: Manifest;
  predecessor: Manifest | undefined;
}

/** Why this peer may not share the keys; empty when it may. */
export function peerPolicyReasons(input: PeerPolicyInput): Reason[] {
  const { own, peer, manifest, predecessor } = input;
  if (!own || !peer)
    return [
      reason('coordinator.peer.policy', `no policy hash to compare (own ${own ?? 'none'}, peer ${peer ?? 'none'})`),
    ];
  if (own === peer) return [];
  const name = manifest.metadata.name ?? '(unnamed)';
  const mismatch = `the peer's HOST_DATA / MRCONFIGID carries policy ${peer}, this Coordinator's own carries ${own}`;
  const signer = predecessor ? judgeSuccessor(predecessor, manifest).signer : undefined;
  if (!signer)
    return [
      reason(
        'coordinator.peer.policy',
        `${mismatch}: a peer must run the same policy, unless an owner-signed Manifest lists both (an operator upgrade), and Manifest ${name} was not signed by an owner of the one before it`,
      ),
    ];
  const allowed = policyHashesForRole(manifest.spec.policies, 'coordinator');
  const missing = [own, peer].filter((p) => !allowed.includes(p));
  if (missing.length > 0)
    return [
      reason(
        'coordinator.peer.policy',
        `${mismatch}: the owner-signed Manifest ${name} does not list ${missing.join(' and ')} as a coordinator policy`,
      ),
    ];
  return [];
}
