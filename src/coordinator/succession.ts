/**
 * Whether a new active Manifest may follow the one the Coordinator follows now, and so become a
 * new transition of its chain (identity.ts). The hook where the Manifest's owners are asked
 * (spec.owners, signed successors: a later change fills it); until then every valid Manifest that
 * becomes active may follow, as the active-Manifest rule (api/active-manifest.ts) already decided.
 */
import type { Manifest, ManifestSpec } from '../api/manifest.ts';

export type Succession = { allowed: true } | { allowed: false; reason: string };

/**
 * @param current the Manifest the Coordinator follows (its spec and hash), undefined before the first
 * @param next the newly active Manifest and its hash, as the Coordinator computed it
 */
export function mayFollow(
  _current: { spec: ManifestSpec; hash: string } | undefined,
  _next: { manifest: Manifest; hash: string },
): Succession {
  return { allowed: true };
}
