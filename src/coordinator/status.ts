/** NodeAttestation status for a verdict, an activation or a Manifest change: pure builders, and what a status says. */

import { isTrue, rfc3339, setCondition } from '../api/conditions.ts';
import type { GpuBindingStatus, GpuVerdict, NodeAttestationStatus } from '../api/node-attestation.ts';
import { withNodeReadiness } from '../api/node-attestation-readiness.ts';
import type { NodeClaims } from '../attestation/node-appraisal.ts';
import type { Reason } from '../attestation/verdict.ts';
import type { EvidenceIdentity } from './evidence-identity.ts';

const MAX_REASONS = 64;
const MAX_REASON_LENGTH = 1024;
const MAX_GPU_BINDINGS = 64;
const MEASUREMENTS: Record<NodeClaims['gpus'][number]['measurements'], NonNullable<GpuVerdict['measurements']>> = {
  matched: 'Matched',
  mismatched: 'Mismatched',
  'not-evaluated': 'NotEvaluated',
};

function clip(reasons: readonly string[]): string[] {
  const list = reasons
    .slice(0, MAX_REASONS)
    .map((r) => (r.length > MAX_REASON_LENGTH ? `${r.slice(0, MAX_REASON_LENGTH - 1)}…` : r));
  return list;
}

export function summarise(reasons: readonly Reason[]): string {
  const first = reasons
    .slice(0, 3)
    .map((r) => `[${r.check}] ${r.message}`)
    .join('; ');
  return reasons.length > 3 ? `${first}; and ${reasons.length - 3} more` : first;
}

export interface VerdictFacts {
  accepted: boolean;
  claims: NodeClaims;
  reasons: readonly Reason[];
  manifestHash: string;
  simulated: boolean;
  now: Date;
  expiresAt: Date;
  /** Identifiers of the evidence (recorded so that a new leader knows what the node holds). */
  identity?: EvidenceIdentity;
}

export function verdictStatus(current: NodeAttestationStatus | undefined, f: VerdictFacts): NodeAttestationStatus {
  const cvm = f.claims.cvm;
  const status: NodeAttestationStatus = {
    manifestHash: f.manifestHash,
    cvm: {
      platform: cvm.platform,
      verified: cvm.verified,
      ...(f.simulated ? { simulated: true } : {}),
      ...(cvm.measurement ? { measurement: cvm.measurement } : {}),
      ...(cvm.tcb ? { tcb: cvm.tcb.slice(0, 256) } : {}),
      ...(cvm.policyHash ? { policyHash: cvm.policyHash } : {}),
      ...(cvm.referenceValues ? { referenceValues: cvm.referenceValues.slice(0, 63) } : {}),
      ...(f.identity?.reportId ? { reportId: f.identity.reportId } : {}),
      reasons: clip(cvm.reasons),
    },
    gpus: f.claims.gpus.slice(0, 16).map((g) => ({
      uuid: g.uuid.slice(0, 64),
      ...(g.architecture ? { architecture: g.architecture } : {}),
      ...(g.driverVersion ? { driverVersion: g.driverVersion } : {}),
      ...(g.vbiosVersion ? { vbiosVersion: g.vbiosVersion } : {}),
      ...(g.deviceId ? { deviceId: g.deviceId.slice(0, 64) } : {}),
      ...(g.mode ? { mode: g.mode.slice(0, 32) } : {}),
      measurements: MEASUREMENTS[g.measurements],
      verified: g.verified,
      activated: false,
      reasons: clip(g.reasons),
    })),
  };
  const bindings = gpuBindings(current?.gpuBindings, f.accepted ? f.claims.gpus : []);
  if (bindings.length > 0) status.gpuBindings = bindings;
  let conditions = current?.conditions;
  if (f.accepted) {
    // D250: an activation this verdict renews keeps the node open until that activation's expiry;
    // the read-back of the new grant extends it to the new verdict's.
    const renewedUntil = current && renewsActivation(current, f) ? current.expiresAt : undefined;
    status.attestedAt = rfc3339(f.now);
    status.expiresAt = renewedUntil ?? rfc3339(f.expiresAt);
    if (renewedUntil) status.gpus = status.gpus!.map((g) => ({ ...g, activated: true }));
    const unevaluated = f.claims.gpus.filter((g) => g.measurements === 'not-evaluated').map((g) => g.uuid);
    const measurements =
      unevaluated.length > 0
        ? `; the measurements of GPUs ${unevaluated.join(', ')} were NOT evaluated (no trusted RIM; the Manifest sets requireRIMs: false)`
        : '';
    conditions = setCondition(
      conditions,
      {
        type: 'Attested',
        status: 'True',
        reason: f.simulated ? 'VerifiedSimulated' : 'Verified',
        message: `CVM and ${f.claims.gpus.length} GPUs verified against Manifest ${f.manifestHash}${f.simulated ? ' (SIMULATED evidence, development only)' : ''}${measurements}`,
      },
      f.now,
    );
    conditions = setCondition(
      conditions,
      renewedUntil
        ? {
            type: 'GPUsActivated',
            status: 'True',
            reason: 'Activated',
            message: `the GPUs stay activated until ${renewedUntil}; a grant for the new evidence is issued, and its read-back extends the attestation to ${rfc3339(f.expiresAt)}`,
          }
        : {
            type: 'GPUsActivated',
            status: 'False',
            reason: 'AwaitingActivation',
            message: 'grant issued; waiting for the agent to activate the GPUs and report the read-back',
          },
      f.now,
    );
  } else {
    conditions = setCondition(
      conditions,
      { type: 'Attested', status: 'False', reason: 'EvidenceRefused', message: summarise(f.reasons) },
      f.now,
    );
    conditions = setCondition(
      conditions,
      { type: 'GPUsActivated', status: 'False', reason: 'NotAttested', message: 'no grant: the evidence was refused' },
      f.now,
    );
  }
  status.conditions = conditions;
  return withNodeReadiness(status, f.now);
}

/**
 * Whether an acceptance renews an activation (D250): the node's GPUs were activated under the same
 * Manifest, they are exactly the GPUs just verified, and that activation has not expired. Then the
 * node stays open until that expiry instead of closing until the new grant's read-back.
 */
export function renewsActivation(current: NodeAttestationStatus, f: VerdictFacts): boolean {
  if (!f.accepted || current.manifestHash !== f.manifestHash || !isActivated(current)) return false;
  if (!(Date.parse(current.expiresAt ?? '') > f.now.getTime())) return false;
  const held = current.gpus ?? [];
  const verified = new Set(f.claims.gpus.map((g) => g.uuid.slice(0, 64)));
  return (
    held.length > 0 &&
    held.length === verified.size &&
    f.claims.gpus.length === verified.size &&
    held.every((g) => g.activated && verified.has(g.uuid))
  );
}

/** The bindings kept so far, plus those of the GPUs just verified (newest first, bounded). */
function gpuBindings(kept: readonly GpuBindingStatus[] | undefined, gpus: NodeClaims['gpus']): GpuBindingStatus[] {
  const fresh = gpus
    .filter((g) => g.verified && g.deviceId)
    .map((g) => ({ uuid: g.uuid.slice(0, 64), deviceId: g.deviceId!.slice(0, 64) }));
  const uuids = new Set(fresh.map((b) => b.uuid));
  return [...fresh, ...(kept ?? []).filter((b) => !uuids.has(b.uuid))].slice(0, MAX_GPU_BINDINGS);
}

/**
 * The agent's read-back of an activation. `verdictExpiresAt`: until when the verdict the grant was
 * issued for stands; a confirmed read-back makes it the attestation's expiry (an activation renewed
 * on a new verdict kept the previous expiry until now, D250).
 */
export function activatedStatus(
  current: NodeAttestationStatus,
  gpus: readonly string[],
  ready: boolean,
  now: Date,
  verdictExpiresAt?: Date,
): NodeAttestationStatus {
  const activated = new Set(ready ? gpus : []);
  const status: NodeAttestationStatus = {
    ...current,
    ...(ready && verdictExpiresAt ? { expiresAt: rfc3339(verdictExpiresAt) } : {}),
    gpus: (current.gpus ?? []).map((g) => ({ ...g, activated: activated.has(g.uuid) })),
  };
  status.conditions = setCondition(
    current.conditions,
    ready
      ? {
          type: 'GPUsActivated',
          status: 'True',
          reason: 'Activated',
          message: `${gpus.length} GPUs set ready for confidential work (NVML read-back confirmed)`,
        }
      : {
          type: 'GPUsActivated',
          status: 'False',
          reason: 'ActivationFailed',
          message: 'the agent read back GPUs not ready after activation',
        },
    now,
  );
  return withNodeReadiness(status, now);
}

/**
 * An activated node whose agent's activation report was refused: the agent sets its GPUs not ready
 * on any refusal, so the status stops saying they are activated.
 */
export function activationRefusedStatus(
  current: NodeAttestationStatus,
  message: string,
  now: Date,
): NodeAttestationStatus {
  const conditions = setCondition(
    current.conditions,
    {
      type: 'GPUsActivated',
      status: 'False',
      reason: 'ActivationRefused',
      message: `the activation report was refused (${message}); the agent sets the GPUs not ready`,
    },
    now,
  );
  return withNodeReadiness(
    { ...current, gpus: (current.gpus ?? []).map((g) => ({ ...g, activated: false })), conditions },
    now,
  );
}

/** A new active Manifest: either the stored evidence still meets it, or the node loses its attestation. */
export function manifestChangedStatus(
  current: NodeAttestationStatus,
  manifestHash: string,
  reasons: readonly Reason[] | undefined,
  now: Date,
): NodeAttestationStatus {
  if (reasons && reasons.length === 0) return withNodeReadiness({ ...current, manifestHash }, now);
  const message = reasons
    ? `the evidence does not meet the new Manifest ${manifestHash}: ${summarise(reasons)}`
    : `Manifest ${manifestHash} is now active; the node must attest again`;
  let conditions = setCondition(
    current.conditions,
    { type: 'Attested', status: 'False', reason: 'ManifestChanged', message },
    now,
  );
  conditions = setCondition(
    conditions,
    { type: 'GPUsActivated', status: 'False', reason: 'NotAttested', message: 'the attestation is no longer current' },
    now,
  );
  return withNodeReadiness(
    { ...current, manifestHash, gpus: (current.gpus ?? []).map((g) => ({ ...g, activated: false })), conditions },
    now,
  );
}

/** The status records an accepted verdict (under whichever Manifest). */
export function isAttested(status: NodeAttestationStatus | undefined): boolean {
  return isTrue(status?.conditions, 'Attested');
}

/** The status records an accepted verdict under this Manifest. */
export function isAttestedUnder(status: NodeAttestationStatus | undefined, manifestHash: string): boolean {
  return status?.manifestHash === manifestHash && isAttested(status);
}

/** The node is attested and its GPUs are activated. */
export function isActivated(status: NodeAttestationStatus | undefined): boolean {
  return isAttested(status) && isTrue(status?.conditions, 'GPUsActivated');
}
