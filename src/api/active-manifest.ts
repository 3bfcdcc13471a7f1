/**
 * Which Manifest is active: the newest Valid one (by creationTimestamp, then name). Applying a
 * new valid Manifest switches to it; an invalid one never takes over; deleting the active one
 * falls back to the next newest. Pure, so the Coordinator and the controller agree.
 */
import type { Manifest } from './manifest.ts';
import { validateManifestSpec } from './manifest-validation.ts';

export function isValidManifest(manifest: Manifest): boolean {
  return !manifest.metadata.deletionTimestamp && validateManifestSpec(manifest.spec).length === 0;
}

export function selectActiveManifest(manifests: readonly Manifest[]): Manifest | undefined {
  let best: Manifest | undefined;
  for (const m of manifests) {
    if (!isValidManifest(m)) continue;
    if (!best || newer(m, best)) best = m;
  }
  return best;
}

function newer(a: Manifest, b: Manifest): boolean {
  const ta = created(a);
  const tb = created(b);
  if (ta !== tb) return ta > tb;
  return (a.metadata.name ?? '') > (b.metadata.name ?? '');
}

function created(m: Manifest): number {
  const t = m.metadata.creationTimestamp;
  return t ? new Date(t).getTime() : 0;
}
