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
    status.attestedAt = rfc3339(f.now);
    status.expiresAt = rfc3339(f.expiresAt);
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
      {
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

/** The bindings kept so far, plus those of the GPUs just verified (newest first, bounded). */
function gpuBindings(kept: readonly GpuBindingStatus[] | undefined, gpus: NodeClaims['gpus']): GpuBindingStatus[] {
  const fresh = gpus
    .filter((g) => g.verified && g.deviceId)
    .map((g) => ({ uuid: g.uuid.slice(0, 64), deviceId: g.deviceId!.slice(0, 64) }));
  const uuids = new Set(fresh.map((b) => b.uuid));
  return [...fresh, ...(kept ?? []).filter((b) => !uuids.has(b.uuid))].slice(0, MAX_GPU_BINDINGS);
}

export function activatedStatus(
  current: NodeAttestationStatus,
  gpus: readonly string[],
  ready: boolean,
  now: Date,
): NodeAttestationStatus {
  const activated = new Set(ready ? gpus : []);
  const status: NodeAttestationStatus = {
    ...current,
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
