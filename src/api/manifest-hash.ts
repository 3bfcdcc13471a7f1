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

const hashes = new WeakMap<ManifestSpec, string>();

/**
 * manifestHash, computed once per spec object: for the active-Manifest rule, which the webhook
 * runs on every request over objects from the informer cache, which are never mutated.
 */
export function memoizedManifestHash(spec: ManifestSpec): string {
  let hash = hashes.get(spec);
  if (hash === undefined) {
    hash = manifestHash(spec);
    hashes.set(spec, hash);
  }
  return hash;
}
