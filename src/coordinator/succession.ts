/**
 * Which Manifests the Coordinator's transition chain moves through (identity.ts). The chain is
 * what clients verify, so this is where the Manifest's owners are enforced against the cluster
 * admin: from the Manifest the chain ends at, each step must be one the one before allows
 * (`spec.owners`, signed successors: api/manifest-owners.ts, through the one-step rule
 * api/active-manifest.ts `nextActiveManifest`). What the cluster shows as active (status, which
 * the admin can write) decides only the first entry of a new chain, which no owner approved and
 * clients pin. Pure.
 */
import { nextActiveManifest, selectActiveManifest } from '../api/active-manifest.ts';
import type { Manifest } from '../api/manifest.ts';
import { memoizedManifestHash } from '../api/manifest-hash.ts';

/** More steps than this in one pass are taken on the next pass (a bound, not a rule). */
export const MAX_STEPS_PER_PASS = 20;

/**
 * The Manifests to append to the chain, in order: from `head` (undefined for a new chain) each
 * one is the one-step successor of the one before. Empty when the chain stays where it is.
 */
export function successionSteps(head: Manifest | undefined, manifests: readonly Manifest[]): Manifest[] {
  if (!head) {
    const first = selectActiveManifest(manifests);
    return first ? [first] : [];
  }
  const steps: Manifest[] = [];
  let current = head;
  for (let i = 0; i < MAX_STEPS_PER_PASS; i++) {
    const next = nextActiveManifest(current, manifests);
    if (!next || memoizedManifestHash(next.spec) === memoizedManifestHash(current.spec)) break;
    steps.push(next);
    current = next;
  }
  return steps;
}
