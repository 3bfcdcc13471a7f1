/**
 * The ValidatingWebhookConfiguration and MutatingWebhookConfiguration that route API requests to
 * the webhook server: pure builders (a URL for the local control plane, a Service for the Helm
 * chart); configuration-installer.ts applies them. Everything fails closed (failurePolicy: Fail);
 * what each entry matches is kept as narrow as the rule allows, because while no replica serves
 * the webhook, whatever an entry matches is refused.
 *
 * - Pod rules (runtime class, policy, digests, tolerations): pods any AIWorker selector can match
 *   (objectSelector on the label all of them require), in any namespace; and every pod in a
 *   namespace labelled attestor.dev/enforce=true. pods/status updates only when they change the
 *   policy annotations or the AIWorker selector labels (matchConditions), so the kubelets'
 *   status updates never reach the webhook.
 * - GPU pods (matchConditions in CEL, gpu-requests.ts), in every namespace but the excluded ones:
 *   the attested-node nodeSelector at CREATE, and the binding check for a spec.nodeName set at
 *   CREATE or changed by an UPDATE. Pods without GPUs never reach the webhook.
 * - Bindings: in namespaces that hold AIWorkers (labelled by the operator) or are enforced. A
 *   Binding carries no pod labels or resources, so nothing narrower can be selected; elsewhere the
 *   nodeSelector set at CREATE keeps GPU pods off nodes without the attested label.
 * A request matched by two entries is judged twice by the same pure rules: the verdicts agree.
 *
 * Nodes have no webhook: who may open a node (the attested label, the unattested taint) needs no
 * Manifest, so the API server enforces it itself with the ValidatingAdmissionPolicy of
 * node-policy.ts, and node registration never depends on the operator being up.
 */
import type * as k8s from '@kubernetes/client-node';
import { AI_WORKER_NAMESPACE_LABEL } from '../api/aiworker.ts';
import {
  AI_WORKER_POD_SELECTOR,
  AI_WORKER_SELECTOR_KEYS,
  KATA_POLICY_ANNOTATION,
  POLICY_HASH_ANNOTATION,
} from '../api/aiworker-labels.ts';
import { WEBHOOK_NAMES, type WebhookName } from './admission.ts';
import { DEFAULT_GPU_RESOURCE_PREFIXES, gpuRequestCel } from './gpu-requests.ts';

export const ENFORCE_NAMESPACE_LABEL = 'attestor.dev/enforce';
/** Pods with these labels are judged in any namespace: every AIWorker selector requires them. */
export const AI_WORKER_POD_LABELS = AI_WORKER_POD_SELECTOR;
export const DEFAULT_CONFIGURATION_NAME = 'attestor';
export const DEFAULT_TIMEOUT_SECONDS = 10;
/** Pods there must schedule while the webhook is down (the control plane's own add-ons). */
export const DEFAULT_EXCLUDED_NAMESPACES = ['kube-system'];
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export type WebhookEndpoint =
  /** Base URL, e.g. https://127.0.0.1:9443; each webhook's path is appended. */
  { url: string } | { service: { namespace: string; name: string; port?: number } };

export interface WebhookConfigurationOptions {
  /** Name of both configurations. Default "attestor". */
  name?: string;
  endpoint: WebhookEndpoint;
  /** PEM of the CA that signed the serving certificate. */
  caBundlePem: string;
  /** How long the API server waits for an answer (1 to 30). Default 10. */
  timeoutSeconds?: number;
  /**
   * Namespaces whose GPU pods and bindings the webhooks leave alone. Default kube-system; add the
   * operator's own namespace so that its pods schedule while no replica serves the webhook, and
   * a namespace whose GPU pods must run on nodes before they are attested (at the cost that
   * nothing keeps them off nodes that are not attested).
   */
  excludedNamespaces?: readonly string[];
  /** Resource-name prefixes that count as GPUs (default: gpu-requests.ts); the operator's must be the same. */
  gpuResourcePrefixes?: readonly string[];
  /**
   * Narrows every webhook further (ANDed with its own selectors): tests confine the webhooks to
   * their own namespaces so that they cannot affect anything else on the cluster.
   */
  scope?: {
    /** For the namespaced webhooks (pods, GPU pods, bindings). */
    namespaceSelector?: k8s.V1LabelSelector;
  };
}

export function webhookConfigurations(options: WebhookConfigurationOptions): {
  validating: k8s.V1ValidatingWebhookConfiguration;
  mutating: k8s.V1MutatingWebhookConfiguration;
} {
  const name = options.name ?? DEFAULT_CONFIGURATION_NAME;
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30)
    throw new RangeError(`timeoutSeconds must be an integer from 1 to 30, got ${timeoutSeconds}`);
  const caBundle = Buffer.from(options.caBundlePem, 'utf8').toString('base64');
  const clientConfig = (webhook: WebhookName): k8s.AdmissionregistrationV1WebhookClientConfig => {
    const path = `/${webhook}`;
    if ('url' in options.endpoint) return { url: options.endpoint.url.replace(/\/+$/, '') + path, caBundle };
    const s = options.endpoint.service;
    return {
      service: { namespace: s.namespace, name: s.name, path, ...(s.port !== undefined ? { port: s.port } : {}) },
      caBundle,
    };
  };
  const scopeNamespaces = options.scope?.namespaceSelector;
  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    timeoutSeconds,
  };
  const excluded = excluding(options.excludedNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES);
  const podRule = (operations: string[], resources: string[]): k8s.V1RuleWithOperations => ({
    apiGroups: [''],
    apiVersions: ['v1'],
    operations,
    resources,
    scope: 'Namespaced',
  });
  const requestsGpus: k8s.V1MatchCondition = {
    name: 'requests-gpus',
    expression: gpuRequestCel(options.gpuResourcePrefixes ?? DEFAULT_GPU_RESOURCE_PREFIXES),
  };
  const podRules = (
    scope: string,
    selectors: { objectSelector: k8s.V1LabelSelector; namespaceSelector: k8s.V1LabelSelector },
  ): k8s.V1ValidatingWebhook => ({
    ...common,
    name: `${scope}-pods.validate.attestor.dev`,
    clientConfig: clientConfig('validate-pods'),
    rules: [
      podRule(['CREATE', 'UPDATE'], ['pods']),
      // Ephemeral containers are added through their own subresource: they must be pinned too.
      podRule(['UPDATE'], ['pods/ephemeralcontainers']),
      // The API server keeps label and annotation changes made through pods/status.
      podRule(['UPDATE'], ['pods/status']),
    ],
    matchConditions: [
      { name: 'status-changes-policy-or-selector-labels', expression: statusChangesJudgedMetadataCel() },
    ],
    ...selectors,
  });
  const bindings = (scope: string, namespaceSelector: k8s.V1LabelSelector): k8s.V1ValidatingWebhook => ({
    ...common,
    name: `${scope}-bindings.validate.attestor.dev`,
    clientConfig: clientConfig('validate-bindings'),
    // The scheduler binds through pods/binding; the legacy bindings resource does the same.
    rules: [podRule(['CREATE'], ['pods/binding', 'bindings'])],
    objectSelector: {},
    namespaceSelector: allOf(namespaceSelector, excluded, scopeNamespaces),
  });

  const validating: k8s.V1ValidatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'attestor', 'app.kubernetes.io/managed-by': 'attestor' } },
    webhooks: [
      podRules('ai-worker', {
        objectSelector: { matchLabels: { ...AI_WORKER_POD_LABELS } },
        namespaceSelector: allOf(scopeNamespaces),
      }),
      podRules('enforced', {
        objectSelector: {},
        namespaceSelector: allOf({ matchLabels: { [ENFORCE_NAMESPACE_LABEL]: 'true' } }, scopeNamespaces),
      }),
      {
        ...common,
        name: 'gpu-pods.validate.attestor.dev',
        clientConfig: clientConfig('validate-gpu-pods'),
        rules: [podRule(['CREATE', 'UPDATE'], ['pods'])],
        matchConditions: [requestsGpus, { name: 'sets-node-name', expression: setsNodeNameCel() }],
        objectSelector: {},
        namespaceSelector: allOf(excluded, scopeNamespaces),
      },
      bindings('ai-worker', { matchLabels: { [AI_WORKER_NAMESPACE_LABEL]: 'true' } }),
      bindings('enforced', { matchLabels: { [ENFORCE_NAMESPACE_LABEL]: 'true' } }),
    ],
  };
  const mutating: k8s.V1MutatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'attestor', 'app.kubernetes.io/managed-by': 'attestor' } },
    webhooks: [
      {
        ...common,
        name: 'gpu-pods.mutate.attestor.dev',
        clientConfig: clientConfig('mutate-pods'),
        rules: [podRule(['CREATE'], ['pods'])],
        matchConditions: [requestsGpus],
        objectSelector: {},
        namespaceSelector: allOf(excluded, scopeNamespaces),
        // IfNeeded: should a later mutating webhook drop the nodeSelector, ours runs again.
        reinvocationPolicy: 'IfNeeded',
      },
    ],
  };
  return { validating, mutating };
}

/**
 * CEL: true for every request but a pods/status UPDATE that leaves the Kata policy annotations
 * and the AIWorker selector labels as they were (the kubelets' status updates). A key is read as
 * a list of zero or one value, so that absent and present-but-empty differ and nothing can fail.
 */
export function statusChangesJudgedMetadataCel(): string {
  const value = (obj: string, field: string) =>
    `(has(${obj}.metadata.${field}) && k in ${obj}.metadata.${field} ? [${obj}.metadata.${field}[k]] : [])`;
  const changed = (field: 'labels' | 'annotations', keys: readonly string[]) =>
    `|| ${JSON.stringify(keys)}.exists(k, ${value('object', field)} != ${value('oldObject', field)})`;
  // request.subResource is absent, not empty, for the pod itself.
  return [
    '!has(request.subResource) || request.subResource != "status"',
    changed('annotations', [KATA_POLICY_ANNOTATION, POLICY_HASH_ANNOTATION]),
    changed('labels', AI_WORKER_SELECTOR_KEYS),
  ].join('\n');
}

/** CEL: the request sets spec.nodeName (a CREATE with it, or an UPDATE that changes it). */
export function setsNodeNameCel(): string {
  return [
    'has(object.spec.nodeName) && object.spec.nodeName != ""',
    '&& (request.operation == "CREATE" || !has(oldObject.spec.nodeName) || oldObject.spec.nodeName != object.spec.nodeName)',
  ].join('\n');
}

function excluding(namespaces: readonly string[]): k8s.V1LabelSelector | undefined {
  if (namespaces.length === 0) return undefined;
  return { matchExpressions: [{ key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: [...namespaces] }] };
}

/** The conjunction of label selectors (an empty selector matches everything). */
export function allOf(...selectors: Array<k8s.V1LabelSelector | undefined>): k8s.V1LabelSelector {
  const matchLabels: Record<string, string> = {};
  const matchExpressions: k8s.V1LabelSelectorRequirement[] = [];
  for (const s of selectors) {
    if (!s) continue;
    for (const [k, v] of Object.entries(s.matchLabels ?? {})) {
      if (k in matchLabels && matchLabels[k] !== v) {
        // Two different values for one key match nothing; say so rather than pick one.
        matchExpressions.push({ key: k, operator: 'In', values: [v] });
        continue;
      }
      matchLabels[k] = v;
    }
    matchExpressions.push(
      ...(s.matchExpressions ?? []).map((e) => ({ ...e, values: e.values ? [...e.values] : undefined })),
    );
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

export { WEBHOOK_NAMES };
