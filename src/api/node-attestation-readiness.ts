/**
 * Ready (kstatus) of a NodeAttestation, from the Coordinator's own conditions: Ready while the CVM
 * and every GPU are attested and activated; Reconciling while a step of the normal flow is pending
 * (no evidence yet, activation, attesting again under a new Manifest); Stalled where the agent's
 * evidence or read-back was refused, which the same node will not fix by itself, and where the
 * attestation expired without the agent attesting again (the node gating controller writes that
 * at expiry: nothing else writes the status then). Pure.
 */
import { findCondition } from './conditions.ts';
import { type Readiness, setReadiness } from './kstatus.ts';
import type { NodeAttestationStatus } from './node-attestation.ts';

export function nodeAttestationReadiness(status: NodeAttestationStatus, now: Date): Readiness {
  const attested = findCondition(status.conditions, 'Attested');
  const activated = findCondition(status.conditions, 'GPUsActivated');
  if (!attested)
    return { state: 'Reconciling', reason: 'AwaitingEvidence', message: 'the node agent has not submitted evidence' };
  if (attested.status !== 'True')
    return attested.reason === 'EvidenceRefused'
      ? { state: 'Stalled', reason: 'EvidenceRefused', message: attested.message }
      : { state: 'Reconciling', reason: attested.reason, message: attested.message };
  const expires = status.expiresAt ? new Date(status.expiresAt).getTime() : Number.NaN;
  if (activated?.status === 'True' && !(expires > now.getTime()))
    return {
      state: 'Stalled',
      reason: 'Expired',
      message: `the attestation expired at ${status.expiresAt ?? '(unknown)'} and the node agent has not attested again: the node is closed to AI workers`,
    };
  if (activated?.status === 'True')
    return {
      state: 'Ready',
      reason: 'Attested',
      message: `CVM and ${status.gpus?.length ?? 0} GPUs attested against Manifest ${status.manifestHash ?? '(unknown)'} and activated${status.expiresAt ? `; the attestation expires at ${status.expiresAt}` : ''}`,
    };
  if (activated?.reason === 'ActivationFailed')
    return { state: 'Stalled', reason: 'ActivationFailed', message: activated.message };
  return {
    state: 'Reconciling',
    reason: activated?.reason ?? 'AwaitingActivation',
    message: activated?.message ?? 'waiting for the agent to activate the GPUs',
  };
}

/** The status with Ready, Reconciling and Stalled set from its Attested and GPUsActivated conditions. */
export function withNodeReadiness(status: NodeAttestationStatus, now: Date): NodeAttestationStatus {
  return {
    ...status,
    conditions: setReadiness(status.conditions, nodeAttestationReadiness(status, now), undefined, now),
  };
}
