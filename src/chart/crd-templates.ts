/**
 * The chart's CRDs as templates (charts/attestor/templates/crds/), as cert-manager ships its own:
 * Helm never upgrades what lies in a chart's crds/ folder, so `helm upgrade` would leave old
 * schemas behind. crds.enabled turns them off (CRDs installed by other means), crds.keep keeps
 * them, and every custom resource, when the release goes (helm.sh/resource-policy: keep).
 * hack/generate-manifests.ts writes them from the same objects as crds/; a test checks they are current.
 */
import * as yaml from 'js-yaml';
import { crds } from '../api/crds.ts';

export function chartCrdTemplates(): Map<string, string> {
  const files = new Map<string, string>();
  for (const crd of crds) {
    const { labels: _ownLabels, ...metadata } = crd.metadata;
    const body = yaml.dump({ ...crd, metadata }, { lineWidth: 120, noRefs: true, sortKeys: false });
    if (body.includes('{{') || body.includes('}}'))
      throw new Error(`${crd.metadata.name}: a CRD text holds "{{" or "}}", which Helm would read as a template`);
    const withMetadata = body.replace(
      /^metadata:\n/m,
      'metadata:\n' +
        '  labels: {{- include "attestor.labels" . | nindent 4 }}\n' +
        '  {{- if .Values.crds.keep }}\n' +
        '  annotations:\n' +
        '    helm.sh/resource-policy: keep\n' +
        '  {{- end }}\n',
    );
    files.set(
      `${crd.metadata.name}.yaml`,
      '# Generated from src/api by hack/generate-manifests.ts: do not edit.\n' +
        '{{- if .Values.crds.enabled }}\n' +
        withMetadata +
        '{{- end }}\n',
    );
  }
  return files;
}
