/**
 * The Helm chart's admission objects, rendered from the same builders `attestor dev` and the
 * tests use: the webhook configurations (src/webhook/configuration.ts) and the node gating
 * ValidatingAdmissionPolicy (src/webhook/node-policy.ts), with Helm expressions where the
 * release decides. hack/generate-manifests.ts writes them; a test checks the chart files are current.
 */
import * as yaml from 'js-yaml';
import { webhookConfigurations } from '../webhook/configuration.ts';
import { celPrefixList, DEFAULT_GPU_RESOURCE_PREFIXES } from '../webhook/gpu-requests.ts';
import { nodeGatingPolicy } from '../webhook/node-policy.ts';

const NAMESPACE = '__RELEASE_NAMESPACE__';
const CA = '__CA_BUNDLE__';
const MORE_EXCLUDED = 'more-excluded-namespaces';
const FULLNAME = '__RELEASE_FULLNAME__';

/**
 * The chart's labels (Helm owns these objects: helm.sh/chart, managed-by Helm) in place of the
 * builders' (managed-by attestor, for what `attestor dev` installs), plus the annotations of the
 * certificate mode (cert-manager's CA injection).
 */
function chartMetadata(body: string, annotations: boolean): string {
  return body.replace(
    /^( *)labels:\n(?:\1 +.*\n)+/gm,
    (_all, indent: string) =>
      `${indent}labels: {{- include "attestor.labels" . | nindent ${indent.length + 2} }}\n` +
      (annotations
        ? `${indent}{{- with include "attestor.webhookAnnotations" . }}\n${indent}annotations: {{- . | nindent ${indent.length + 2} }}\n${indent}{{- end }}\n`
        : ''),
  );
}

export function chartWebhookTemplate(): string {
  const { validating, mutating } = webhookConfigurations({
    name: FULLNAME,
    endpoint: { service: { namespace: NAMESPACE, name: `${FULLNAME}-webhook`, port: 9443 } },
    caBundlePem: CA,
    // The operator's own pods must schedule while no replica serves the webhook; the release
    // may add namespaces whose GPU pods must run on nodes before they are attested.
    excludedNamespaces: ['kube-system', NAMESPACE, MORE_EXCLUDED],
  });
  const caBase64 = Buffer.from(CA).toString('base64');
  const body = [validating, mutating].map((doc) => yaml.dump(doc, { noRefs: true, lineWidth: 200 })).join('---\n');
  return (
    '# Generated from src/webhook/configuration.ts by hack/generate-manifests.ts: do not edit.\n' +
    chartMetadata(body, true)
      .replaceAll(NAMESPACE, '{{ .Release.Namespace }}')
      .replaceAll(FULLNAME, '{{ include "attestor.fullname" . }}')
      .replace(
        new RegExp(`^( *)- ${MORE_EXCLUDED}$`, 'gm'),
        '$1{{- range .Values.webhook.excludedNamespaces }}\n$1- {{ . }}\n$1{{- end }}',
      )
      // cert-manager mode: no caBundle here, cert-manager's CA injector writes it.
      .replace(
        new RegExp(`^( *)caBundle: ${caBase64}$`, 'gm'),
        '$1{{- with include "attestor.webhookCaBundle" . }}\n$1caBundle: {{ . }}\n$1{{- end }}',
      )
      .replace(/timeoutSeconds: \d+/g, 'timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}')
      // The operator gets the same list (--gpu-resource-prefixes): both judge GPU pods alike.
      .replaceAll(celPrefixList(DEFAULT_GPU_RESOURCE_PREFIXES), '{{ .Values.webhook.gpuResourcePrefixes | toJson }}')
  );
}

export function chartNodePolicyTemplate(): string {
  const { policy, binding } = nodeGatingPolicy({
    name: `${FULLNAME}-node-gating`,
    operatorUsernames: [`system:serviceaccount:${NAMESPACE}:${FULLNAME}-operator`],
  });
  const body = [policy, binding].map((doc) => yaml.dump(doc, { noRefs: true, lineWidth: 200 })).join('---\n');
  return (
    '# Generated from src/webhook/node-policy.ts by hack/generate-manifests.ts: do not edit.\n' +
    chartMetadata(body, false)
      .replaceAll(NAMESPACE, '{{ .Release.Namespace }}')
      .replaceAll(FULLNAME, '{{ include "attestor.fullname" . }}')
  );
}
