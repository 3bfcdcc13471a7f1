/**
 * The canonical hash of a Manifest: SHA-256 of its spec serialised as RFC 8785 (JSON
 * Canonicalization Scheme), as stored by the API server (schema defaults applied). Clients pin
 * this value; anyone can recompute it from `kubectl get manifest -o json | jq .spec`, and from
 * the YAML as applied with `appliedManifestHash` (or a whole file with manifest-document.ts),
 * which applies the CRD schema's defaults first.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { type ManifestSpec, manifestSpecSchema } from './manifest.ts';
import { storedForm } from './stored-form.ts';

export function manifestHash(spec: ManifestSpec): string {
  return createHash('sha256').update(canonicalManifestJson(spec), 'utf8').digest('hex');
}

/** The spec as RFC 8785 JSON: what the hash is computed over, and what the Coordinator serves. */
export function canonicalManifestJson(spec: ManifestSpec): string {
  const canonical = canonicalize(spec);
  if (canonical === undefined) throw new Error('manifest spec cannot be canonicalised');
  return canonical;
}

/**
 * A spec as the user wrote it (YAML or JSON, parsed), as the API server will store it: nulls
 * dropped, the schema's defaults applied (stored-form.ts). Throws on a field the schema does not
 * know or a value of the wrong type, which the API server would not store as written.
 */
export function manifestSpecAsStored(spec: unknown): ManifestSpec {
  const stored = storedForm(spec, manifestSpecSchema, 'spec');
  if (stored.problems.length > 0) throw new Error(stored.problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  return stored.value as ManifestSpec;
}

/** The hash the server will compute for a spec as applied (`status.hash` once it is stored). */
export function appliedManifestHash(spec: unknown): string {
  return manifestHash(manifestSpecAsStored(spec));
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
