/**
 * How GPU nodes are opened to AI workers and closed: the contract between the Coordinator (which
 * writes NodeAttestation status), the node gating controller (which opens a node by labelling it
 * and lifting the taint, and closes it by the reverse) and the admission webhook (which refuses
 * bindings to nodes whose attestation is not current). Pure.
 */
import type { NodeAttestation } from './node-attestation.ts';

/** Label the operator sets on a node once its CVM and every GPU are attested and activated: the node is open. */
export const GPU_ATTESTED_LABEL = 'attestor.dev/gpu-attested';
/** Taint GPU nodes carry until then, and again once closed. */
export const UNATTESTED_TAINT = { key: 'attestor.dev/unattested', value: 'true', effect: 'NoSchedule' } as const;
/** Nodes with this label are GPU nodes, closed until they attest (set by the platform, e.g. a node pool label). */
export const GPU_NODE_LABEL = 'attestor.dev/gpu-node';

export type AttestationState =
  | { current: true }
  | {
      current: false;
      reason: 'NoAttestation' | 'NotAttested' | 'NotActivated' | 'ManifestChanged' | 'Expired';
      message: string;
    };

/**
 * Whether a node's attestation is current: verified and activated, made against the active
 * Manifest, not expired. Anything missing or malformed means "not current" (fail closed).
 * `activeManifestName` names the active Manifest where there is one: right after it is applied,
 * the Manifest controller may not have recorded its hash yet, and the message must not then say
 * that no Manifest is active.
 */
export function attestationState(
  na: NodeAttestation | undefined,
  activeManifestHash: string | undefined,
  now: Date,
  activeManifestName?: string,
): AttestationState {
  if (!na?.status) return { current: false, reason: 'NoAttestation', message: 'the node has not submitted evidence' };
  const s = na.status;
  const attested = s.conditions?.find((c) => c.type === 'Attested');
  if (attested?.status !== 'True')
    return { current: false, reason: 'NotAttested', message: attested?.message || 'the evidence was not accepted' };
  const activated = s.conditions?.find((c) => c.type === 'GPUsActivated');
  const gpus = s.gpus ?? [];
  if (activated?.status !== 'True' || gpus.length === 0 || !gpus.every((g) => g.verified && g.activated)) {
    return {
      current: false,
      reason: 'NotActivated',
      message: activated?.message || 'the GPUs have not been activated',
    };
  }
  if (!activeManifestHash || s.manifestHash !== activeManifestHash) {
    return {
      current: false,
      reason: 'ManifestChanged',
      message: `attested against Manifest ${s.manifestHash ?? '(none)'}, but ${activeManifestHash ?? (activeManifestName ? `Manifest ${activeManifestName} (its hash not recorded yet)` : 'no Manifest')} is active`,
    };
  }
  const expires = s.expiresAt ? new Date(s.expiresAt).getTime() : NaN;
  if (!(expires > now.getTime()))
    return { current: false, reason: 'Expired', message: `the attestation expired at ${s.expiresAt ?? '(unknown)'}` };
  return { current: true };
}
