/** The active Manifest's attestation durations in ms, with their defaults (the schema admits only durations that parse). */
import { parseDuration } from '../api/duration.ts';
import { DEFAULT_EVIDENCE_MAX_AGE, DEFAULT_REATTESTATION_INTERVAL, type Manifest } from '../api/manifest.ts';

/** How old evidence may be: a nonce's lifetime, and the age up to which retained evidence is appraised again. */
export function evidenceMaxAgeMs(manifest: Manifest): number {
  return parseDuration(manifest.spec.attestation?.evidenceMaxAge ?? DEFAULT_EVIDENCE_MAX_AGE)!;
}

/** How long an acceptance stands before the node must attest again. */
export function reattestationMs(manifest: Manifest): number {
  return parseDuration(manifest.spec.attestation?.reattestationInterval ?? DEFAULT_REATTESTATION_INTERVAL)!;
}
