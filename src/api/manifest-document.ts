/**
 * A Manifest as a user holds it: a YAML file, before or without the cluster. Its hash is the one
 * the Manifest controller writes to status.hash once the API server has stored it (schema
 * defaults applied, stored-form.ts), so an owner can sign it, and a client can pin it, from the
 * file alone. `attestor manifest hash|sign` and `attestor verify coordinator --manifest` read
 * Manifests through `readManifestDocument`.
 */
import * as yaml from 'js-yaml';
import { API_VERSION } from './common.ts';
import { MANIFEST_KIND, type Manifest, type ManifestSpec, manifestSpecSchema } from './manifest.ts';
import { manifestHash } from './manifest-hash.ts';
import type { FieldProblem } from './manifest-validation.ts';
import { storedForm } from './stored-form.ts';

export interface ManifestDocument {
  /** The Manifest with its spec as the API server stores it. */
  manifest: Manifest;
  /** Its canonical hash (manifest-hash.ts), as status.hash will show it. */
  hash: string;
}

export class ManifestDocumentError extends Error {
  readonly problems: FieldProblem[];
  constructor(problems: FieldProblem[]) {
    super(problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; '));
    this.problems = problems;
  }
}

// YAML 1.1 scalars, as kubectl reads them (sigs.k8s.io/yaml): yes/no/on/off are booleans, 0755 is
// octal. Timestamps stay strings, as they do there.
const KUBECTL_YAML = new yaml.Schema([
  ...yaml.FAILSAFE_SCHEMA.tags,
  yaml.nullYaml11Tag,
  yaml.boolYaml11Tag,
  yaml.intYaml11Tag,
  yaml.floatYaml11Tag,
  yaml.mergeTag,
]);

/** Reads the one Manifest in a YAML (or JSON) text; throws ManifestDocumentError listing every problem. */
export function readManifestDocument(text: string): ManifestDocument {
  let documents: unknown[];
  try {
    documents = yaml.loadAll(text, { schema: KUBECTL_YAML });
  } catch (err) {
    throw new ManifestDocumentError([{ path: '', message: `not YAML: ${(err as Error).message}` }]);
  }
  const manifests = documents.filter(
    (d): d is Record<string, unknown> =>
      typeof d === 'object' && d !== null && (d as { kind?: unknown }).kind === MANIFEST_KIND,
  );
  if (manifests.length !== 1)
    throw new ManifestDocumentError([{ path: '', message: `expected one Manifest, found ${manifests.length}` }]);
  const document = manifests[0]!;
  const problems: FieldProblem[] = [];
  if (document.apiVersion !== API_VERSION)
    problems.push({ path: 'apiVersion', message: `expected ${API_VERSION}, got ${String(document.apiVersion)}` });
  if (document.spec === undefined) problems.push({ path: 'spec', message: 'required' });
  const stored = storedForm(document.spec ?? {}, manifestSpecSchema, 'spec');
  problems.push(...stored.problems);
  if (problems.length > 0) throw new ManifestDocumentError(problems);
  const spec = stored.value as ManifestSpec;
  const metadata = (
    typeof document.metadata === 'object' && document.metadata !== null ? document.metadata : {}
  ) as Manifest['metadata'];
  return {
    manifest: { apiVersion: API_VERSION, kind: MANIFEST_KIND, metadata, spec },
    hash: manifestHash(spec),
  };
}
