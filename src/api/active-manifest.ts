/**
 * Which Manifest is active. Without owners, the newest Valid one (by creationTimestamp, then
 * name): applying a new valid Manifest switches to it, an invalid one never takes over, deleting
 * the active one falls back to the next newest. When the current Manifest lists owners
 * (manifest-owners.ts), only a Manifest one of them signed may replace it: a newer one to roll
 * forward, any one (an older one too) once the current one is deleted, to roll back; with an
 * empty owner list nothing may.
 *
 * So the rule depends on which Manifest is current. In the cluster that is the one the Manifest
 * controller recorded in status (Active=True); the controller records a successor before it
 * clears its predecessor, and keeps a finalizer on a current Manifest with owners, so the record
 * survives operator restarts and deletions. The Coordinator keeps its own current Manifest in its
 * transition chain and asks `nextActiveManifest` from there. Pure, so every component agrees.
 */
import { findCondition } from './conditions.ts';
import type { Manifest } from './manifest.ts';
import { memoizedManifestHash } from './manifest-hash.ts';
import { judgeSuccessor } from './manifest-owners.ts';
import type { OwnerKey } from './manifest-signature.ts';
import { type FieldProblem, validateManifestSpec } from './manifest-validation.ts';

/** Active=False reason of a current Manifest with owners whose spec no longer validates. */
export const INVALID_CURRENT_REASON = 'InvalidCurrent';

export function isValidManifest(manifest: Manifest): boolean {
  return !manifest.metadata.deletionTimestamp && validateManifestSpec(manifest.spec).length === 0;
}

/** The active Manifest, as the controllers, the webhook and the Coordinator's status writes see it. */
export function selectActiveManifest(manifests: readonly Manifest[]): Manifest | undefined {
  return manifestSelection(manifests).active;
}

/**
 * One step from `current`: the Manifest that is active next (`current` itself when nothing may
 * replace it; undefined when none is usable). Without a current Manifest or without owners, the
 * newest valid one. `current` need not be in `manifests` (the Coordinator's, deleted meanwhile):
 * then, as when it is being deleted or no longer validates, any signed Manifest may replace it.
 */
export function nextActiveManifest(
  current: Manifest | undefined,
  manifests: readonly Manifest[],
): Manifest | undefined {
  if (!current || current.spec.owners === undefined) return newestValid(manifests);
  const hash = memoizedManifestHash(current.spec);
  const usable = validateManifestSpec(current.spec).length === 0;
  const rollBack = !usable || !manifests.some((m) => !m.metadata.deletionTimestamp && same(m, current, hash));
  let best: Manifest | undefined;
  for (const m of manifests) {
    if (!isValidManifest(m) || same(m, current, hash)) continue;
    if (!rollBack && !newer(m, current)) continue;
    if (judgeSuccessor(current, m).problems.length > 0) continue;
    if (!best || newer(m, best)) best = m;
  }
  return best ?? (usable ? current : undefined);
}

export interface ManifestStep {
  from: Manifest | undefined;
  to: Manifest;
  /** The owner of `from` whose signature allowed the step; undefined when `from` lists no owners. */
  signer?: OwnerKey;
}

export interface ManifestSelection {
  /** The Manifest recorded as current in status, if any. */
  current: Manifest | undefined;
  /** Where the rule rests from there: the active Manifest. */
  active: Manifest | undefined;
  /** The steps from `current` to `active` (several when signed successors were applied at once). */
  steps: ManifestStep[];
}

export function manifestSelection(manifests: readonly Manifest[]): ManifestSelection {
  const current = recordedCurrentManifest(manifests);
  const steps: ManifestStep[] = [];
  let at = current;
  for (;;) {
    const next = nextActiveManifest(at, manifests);
    // Only the first step can find nothing: every later `at` is valid, and stays where nothing replaces it.
    if (!next) return { current, active: undefined, steps };
    if (next === at || steps.some((s) => s.to === next)) return { current, active: at, steps };
    steps.push({ from: at, to: next, signer: at ? judgeSuccessor(at, next).signer : undefined });
    at = next;
  }
}

/**
 * The Manifest the controller recorded as current: Active=True, or a current one with owners
 * that no longer validates. Several during a hand-over: the one recorded last.
 */
export function recordedCurrentManifest(manifests: readonly Manifest[]): Manifest | undefined {
  let best: Manifest | undefined;
  for (const m of manifests) {
    const active = findCondition(m.status?.conditions, 'Active');
    if (active?.status !== 'True' && active?.reason !== INVALID_CURRENT_REASON) continue;
    if (!best || recordedLater(m, best)) best = m;
  }
  return best;
}

/** Why a Manifest is not active (for its status), relative to a selection. */
export type Standing =
  | { active: true; step?: ManifestStep }
  | { active: false; reason: 'Invalid' | 'InvalidCurrent' | 'Superseded'; by?: Manifest }
  | { active: false; reason: 'NotSignedByOwner'; by: Manifest; problems: FieldProblem[] };

export function manifestStanding(manifest: Manifest, selection: ManifestSelection): Standing {
  const { active, current } = selection;
  if (manifest === active) return { active: true, step: selection.steps.at(-1) };
  if (manifest === current && !active) return { active: false, reason: 'InvalidCurrent' };
  if (!isValidManifest(manifest))
    return {
      active: false,
      reason: validateManifestSpec(manifest.spec).length > 0 ? 'Invalid' : 'Superseded',
      by: active,
    };
  const governing = active ?? current;
  if (governing?.spec.owners !== undefined) {
    const rollBack = !active || !!governing.metadata.deletionTimestamp;
    if (rollBack || newer(manifest, governing)) {
      const problems = judgeSuccessor(governing, manifest).problems;
      if (problems.length > 0) return { active: false, reason: 'NotSignedByOwner', by: governing, problems };
    }
  }
  return { active: false, reason: 'Superseded', by: active };
}

export function newer(a: Manifest, b: Manifest): boolean {
  const ta = created(a);
  const tb = created(b);
  if (ta !== tb) return ta > tb;
  return (a.metadata.name ?? '') > (b.metadata.name ?? '');
}

function newestValid(manifests: readonly Manifest[]): Manifest | undefined {
  let best: Manifest | undefined;
  for (const m of manifests) {
    if (!isValidManifest(m)) continue;
    if (!best || newer(m, best)) best = m;
  }
  return best;
}

function same(m: Manifest, current: Manifest, hash: string): boolean {
  return m.metadata.name === current.metadata.name && memoizedManifestHash(m.spec) === hash;
}

function recordedLater(a: Manifest, b: Manifest): boolean {
  const sa = time(a.status?.activeSince);
  const sb = time(b.status?.activeSince);
  return sa !== sb ? sa > sb : newer(a, b);
}

function created(m: Manifest): number {
  return time(m.metadata.creationTimestamp);
}

function time(t: Date | string | undefined): number {
  return t ? new Date(t).getTime() : 0;
}
