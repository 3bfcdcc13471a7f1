/** Renders the CRDs as the YAML files in crds/ (hack/generate-manifests.ts writes them; a test checks they are current). */
import * as yaml from 'js-yaml';
import { crds } from './crds.ts';

export function crdFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const crd of crds) {
    const header = '# Generated from src/api by hack/generate-manifests.ts: do not edit.\n';
    files.set(`${crd.metadata.name}.yaml`, header + yaml.dump(crd, { lineWidth: 120, noRefs: true, sortKeys: false }));
  }
  return files;
}
