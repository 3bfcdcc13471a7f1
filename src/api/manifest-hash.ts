/**
 * The canonical hash of a Manifest: SHA-256 of its spec serialised as RFC 8785 (JSON
 * Canonicalization Scheme), as stored by the API server (schema defaults applied). Clients pin
 * this value; anyone can recompute it from `kubectl get manifest -o json | jq .spec`, and from
 * the YAML as applied with `appliedManifestHash`, which applies the CRD schema's defaults first.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { type ManifestSpec, manifestSpecSchema } from './manifest.ts';
import { withSchemaDefaults } from './schema-defaults.ts';

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
 * A spec as the user wrote it (YAML or JSON, parsed), as the API server will store it: unknown
 * fields pruned, the schema's defaults applied (schema-defaults.ts).
 */
export function manifestSpecAsStored(spec: unknown): ManifestSpec {
  return withSchemaDefaults(spec, manifestSpecSchema) as ManifestSpec;
}

/** The hash the server will compute for a spec as applied (`status.hash` once it is stored). */
export function appliedManifestHash(spec: unknown): string {
  return manifestHash(manifestSpecAsStored(spec));
}
