/** The status a Manifest should have: pure, so it is tested without a cluster. */

import { INVALID_CURRENT_REASON, type Standing } from '../../api/active-manifest.ts';
import type { Condition } from '../../api/common.ts';
import { type ConditionInput, findCondition, rfc3339, setCondition } from '../../api/conditions.ts';
import { type Readiness, setReadiness } from '../../api/kstatus.ts';
import type { Manifest, ManifestStatus } from '../../api/manifest.ts';
import { MANIFEST_HISTORY_LIMIT } from '../../api/manifest.ts';
import { ownersDescription } from '../../api/manifest-owners.ts';
import { type Relaxation, relaxationSummary } from '../../api/manifest-relaxations.ts';
import { ownerLabel } from '../../api/manifest-signature.ts';
import type { FieldProblem } from '../../api/manifest-validation.ts';

export interface ManifestFacts {
  hash: string;
  problems: readonly FieldProblem[];
  /** Whether it is active, and if not why (active-manifest.ts manifestStanding). */
  standing: Standing;
  /** Fields that weaken the appraisal (manifest-relaxations.ts). */
  relaxations?: readonly Relaxation[];
  now: Date;
}

export function desiredManifestStatus(manifest: Manifest, facts: ManifestFacts): ManifestStatus {
  const current = manifest.status ?? {};
  const generation = manifest.metadata.generation ?? 0;
  let history = [...(current.history ?? [])];
  if (current.hash && current.hash !== facts.hash && history[0]?.hash !== current.hash) {
    history = [
      { hash: current.hash, generation: current.observedGeneration ?? generation - 1, replacedAt: rfc3339(facts.now) },
      ...history,
    ].slice(0, MANIFEST_HISTORY_LIMIT);
  }
  let conditions = setCondition(
    current.conditions,
    facts.problems.length === 0
      ? {
          type: 'Valid',
          status: 'True',
          reason: 'Valid',
          message: 'the spec passed all checks',
          observedGeneration: generation,
        }
      : {
          type: 'Valid',
          status: 'False',
          reason: 'InvalidSpec',
          message: facts.problems.map((p) => `${p.path}: ${p.message}`).join('; '),
          observedGeneration: generation,
        },
    facts.now,
  );
  conditions = setCondition(
    conditions,
    { ...activeCondition(manifest, facts.standing), observedGeneration: generation },
    facts.now,
  );
  const relaxations = facts.relaxations ?? [];
  conditions = setCondition(
    conditions,
    relaxations.length > 0
      ? {
          type: 'Relaxed',
          status: 'True',
          reason: 'ChecksRelaxed',
          message: `this Manifest relaxes ${relaxations.length} check(s): ${relaxationSummary(relaxations)}`,
          observedGeneration: generation,
        }
      : {
          type: 'Relaxed',
          status: 'False',
          reason: 'Strict',
          message: 'every check runs with its fail-closed default',
          observedGeneration: generation,
        },
    facts.now,
  );
  conditions = setReadiness(conditions, manifestReadiness(manifest, facts), generation, facts.now);
  const status: ManifestStatus = { hash: facts.hash, observedGeneration: generation, conditions };
  if (history.length > 0) status.history = history;
  if (isCurrent(facts.standing))
    status.activeSince = current.activeSince && wasCurrent(manifest) ? current.activeSince : rfc3339(facts.now);
  return status;
}

/**
 * Ready (kstatus): a valid Manifest the controller has judged is Ready, whether it is the active one
 * or a superseded one kept for roll-back; one that cannot take effect until someone changes it (an
 * invalid spec, a successor its predecessor's owners did not sign) is Stalled.
 */
export function manifestReadiness(manifest: Manifest, facts: ManifestFacts): Readiness {
  if (facts.problems.length > 0)
    return {
      state: 'Stalled',
      reason: 'InvalidSpec',
      message: `the spec does not pass validation (see condition Valid): ${facts.problems.length} problem(s) to fix`,
    };
  const { standing } = facts;
  if (standing.active)
    return {
      state: 'Ready',
      reason: 'Active',
      message: manifest.metadata.deletionTimestamp
        ? 'active while being deleted, until a signed successor replaces it (see condition Active)'
        : 'this is the Manifest the Coordinator appraises evidence against',
    };
  switch (standing.reason) {
    case 'NotSignedByOwner':
      return {
        state: 'Stalled',
        reason: 'NotSignedByOwner',
        message: `cannot become active: Manifest ${standing.by.metadata.name} lists owners and none of them signed this one (see condition Active)`,
      };
    case 'Invalid':
    case 'InvalidCurrent':
      return { state: 'Stalled', reason: standing.reason, message: 'the spec does not pass validation' };
    case 'Superseded':
      return {
        state: 'Ready',
        reason: 'Superseded',
        message: standing.by
          ? `valid and kept for roll-back; Manifest ${standing.by.metadata.name} is active`
          : 'valid; another Manifest is active',
      };
  }
}

/** The Active condition: how the Manifest became active, or why it is not. */
export function activeCondition(manifest: Manifest, standing: Standing): Omit<ConditionInput, 'observedGeneration'> {
  const owners = ownersDescription(manifest.spec.owners ?? []);
  if (standing.active) {
    if (manifest.metadata.deletionTimestamp)
      return {
        type: 'Active',
        status: 'True',
        reason: 'AwaitingSignedSuccessor',
        message: owners
          ? `being deleted, but stays active until a Manifest signed by one of its owners (${owners}) replaces it: a roll-back needs an owner's signature`
          : 'being deleted, but stays active: it lists no owners, so nothing may replace it',
      };
    const step = standing.step;
    if (step?.signer && step.from)
      return {
        type: 'Active',
        status: 'True',
        reason: 'SignedByOwner',
        message: `signed by ${ownerLabel(step.signer)}, an owner of Manifest ${step.from.metadata.name}, which it replaced: this is the Manifest the Coordinator appraises evidence against`,
      };
    const existing = findCondition(manifest.status?.conditions, 'Active');
    if (!step && existing?.status === 'True' && existing.reason === 'SignedByOwner') return keep(existing);
    return {
      type: 'Active',
      status: 'True',
      reason: 'Newest',
      message: 'this is the Manifest the Coordinator appraises evidence against',
    };
  }
  switch (standing.reason) {
    case 'Invalid':
      return {
        type: 'Active',
        status: 'False',
        reason: 'Invalid',
        message: 'an invalid Manifest cannot become active',
      };
    case 'InvalidCurrent':
      return {
        type: 'Active',
        status: 'False',
        reason: INVALID_CURRENT_REASON,
        message: `this Manifest is the current one but no longer passes validation: no Manifest is active until one signed by one of its owners (${owners || 'none: it is immutable'}) replaces it`,
      };
    case 'NotSignedByOwner':
      return {
        type: 'Active',
        status: 'False',
        reason: 'NotSignedByOwner',
        message: `Manifest ${standing.by.metadata.name} lists owners, and only a Manifest one of them signed may replace it: ${standing.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      };
    case 'Superseded':
      return {
        type: 'Active',
        status: 'False',
        reason: 'Superseded',
        message: standing.by ? `Manifest ${standing.by.metadata.name} is active` : 'another Manifest is active',
      };
  }
}

function keep(c: Condition): Omit<ConditionInput, 'observedGeneration'> {
  return { type: c.type, status: c.status, reason: c.reason, message: c.message };
}

function isCurrent(standing: Standing): boolean {
  return standing.active || standing.reason === 'InvalidCurrent';
}

function wasCurrent(manifest: Manifest): boolean {
  const active = findCondition(manifest.status?.conditions, 'Active');
  return active?.status === 'True' || active?.reason === INVALID_CURRENT_REASON;
}
