/**
 * The canonical hash of a Manifest: SHA-256 of its spec serialised as RFC 8785 (JSON
 * Canonicalization Scheme), as stored by the API server (schema defaults applied). Clients pin
 * this value; anyone can recompute it from `kubectl get manifest -o json | jq .spec`.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { ManifestSpec } from './manifest.ts';

export function manifestHash(spec: ManifestSpec): string {
  const canonical = canonicalize(spec);
  if (canonical === undefined) throw new Error('manifest spec cannot be canonicalised');
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}
