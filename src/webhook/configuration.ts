/**
 * The ValidatingWebhookConfiguration and MutatingWebhookConfiguration that route API requests to
 * the webhook server: pure builders (a URL for the local control plane, a Service for the Helm
 * chart) and an installer. Everything fails closed (failurePolicy: Fail).
 *
 * Pods are matched by two entries: AI worker pods by their labels (objectSelector) in any
 * namespace, and every pod in a namespace labelled attestor.dev/enforce=true (namespaceSelector).
 * A pod matched by both is judged twice by the same rules, so the verdicts agree, and the
 * mutation is idempotent (the second call sees the first one's nodeSelector and adds nothing).
 *
 * Nodes have no webhook: who may open a node (the attested label, the unattested taint) needs no
 * Manifest, so the API server enforces it itself with the ValidatingAdmissionPolicy of
 * node-policy.ts, and node registration never depends on the operator being up.
 */
import * as k8s from '@kubernetes/client-node';
import { WEBHOOK_NAMES, type WebhookName } from './admission.ts';

export const ENFORCE_NAMESPACE_LABEL = 'attestor.dev/enforce';
export const AI_WORKER_POD_LABELS = { 'app.kubernetes.io/managed-by': 'attestor', 'app.kubernetes.io/name': 'ai-worker' } as const;
export const DEFAULT_CONFIGURATION_NAME = 'attestor';
export const DEFAULT_TIMEOUT_SECONDS = 10;
/** Pods there must schedule while the webhook is down (the control plane's own add-ons). */
export const DEFAULT_EXCLUDED_NAMESPACES = ['kube-system'];
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export type WebhookEndpoint =
  /** Base URL, e.g. https://127.0.0.1:9443; each webhook's path is appended. */
  | { url: string }
  | { service: { namespace: string; name: string; port?: number } };

export interface WebhookConfigurationOptions {
  /** Name of both configurations. Default "attestor". */
  name?: string;
  endpoint: WebhookEndpoint;
  /** PEM of the CA that signed the serving certificate. */
  caBundlePem: string;
  /** How long the API server waits for an answer (1 to 30). Default 10. */
  timeoutSeconds?: number;
  /**
   * Namespaces the binding webhook leaves alone. Default kube-system; add the operator's own
   * namespace where its pods must be able to schedule while no replica serves the webhook.
   */
  excludedNamespaces?: readonly string[];
  /**
   * Narrows every webhook further (ANDed with its own selectors): tests confine the webhooks to
   * their own namespaces so that they cannot affect anything else on the cluster.
   */
  scope?: {
    namespaceSelector?: k8s.V1LabelSelector;
  };
}

export function webhookConfigurations(options: WebhookConfigurationOptions): {
  validating: k8s.V1ValidatingWebhookConfiguration;
  mutating: k8s.V1MutatingWebhookConfiguration;
} {
  const name = options.name ?? DEFAULT_CONFIGURATION_NAME;
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30) throw new RangeError(`timeoutSeconds must be an integer from 1 to 30, got ${timeoutSeconds}`);
  const caBundle = Buffer.from(options.caBundlePem, 'utf8').toString('base64');
  const clientConfig = (webhook: WebhookName): k8s.AdmissionregistrationV1WebhookClientConfig => {
    const path = `/${webhook}`;
    if ('url' in options.endpoint) return { url: options.endpoint.url.replace(/\/+$/, '') + path, caBundle };
    const s = options.endpoint.service;
    return { service: { namespace: s.namespace, name: s.name, path, ...(s.port !== undefined ? { port: s.port } : {}) }, caBundle };
  };
  const scopeNamespaces = options.scope?.namespaceSelector;
  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    matchPolicy: 'Equivalent',
    timeoutSeconds,
  };
  const podEntries = <T>(webhook: WebhookName, kind: 'validate' | 'mutate', rules: k8s.V1RuleWithOperations[], extra: Partial<T>): T[] => [
    {
      ...common,
      ...extra,
      name: `ai-worker-pods.${kind}.attestor.dev`,
      clientConfig: clientConfig(webhook),
      rules,
      objectSelector: { matchLabels: { ...AI_WORKER_POD_LABELS } },
      namespaceSelector: allOf(scopeNamespaces),
    } as T,
    {
      ...common,
      ...extra,
      name: `enforced-pods.${kind}.attestor.dev`,
      clientConfig: clientConfig(webhook),
      rules,
      objectSelector: {},
      namespaceSelector: allOf({ matchLabels: { [ENFORCE_NAMESPACE_LABEL]: 'true' } }, scopeNamespaces),
    } as T,
  ];
  const podRule = (operations: string[], resources: string[]): k8s.V1RuleWithOperations => ({ apiGroups: [''], apiVersions: ['v1'], operations, resources, scope: 'Namespaced' });

  const validating: k8s.V1ValidatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'attestor', 'app.kubernetes.io/managed-by': 'attestor' } },
    webhooks: [
      // Ephemeral containers are added through their own subresource: they must be pinned too.
      ...podEntries<k8s.V1ValidatingWebhook>('validate-pods', 'validate', [podRule(['CREATE', 'UPDATE'], ['pods']), podRule(['UPDATE'], ['pods/ephemeralcontainers'])], {}),
      {
        ...common,
        name: 'bindings.validate.attestor.dev',
        clientConfig: clientConfig('validate-bindings'),
        // The scheduler binds through pods/binding; the legacy bindings resource does the same.
        rules: [podRule(['CREATE'], ['pods/binding', 'bindings'])],
        objectSelector: {},
        namespaceSelector: allOf(excluding(options.excludedNamespaces ?? DEFAULT_EXCLUDED_NAMESPACES), scopeNamespaces),
      },
    ],
  };
  const mutating: k8s.V1MutatingWebhookConfiguration = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'attestor', 'app.kubernetes.io/managed-by': 'attestor' } },
    // IfNeeded: should a later mutating webhook drop the nodeSelector, ours runs again.
    webhooks: podEntries<k8s.V1MutatingWebhook>('mutate-pods', 'mutate', [podRule(['CREATE'], ['pods'])], { reinvocationPolicy: 'IfNeeded' }),
  };
  return { validating, mutating };
}

/** Creates or replaces both configurations. */
export async function installWebhookConfigurations(kubeConfig: k8s.KubeConfig, options: WebhookConfigurationOptions): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  const { validating, mutating } = webhookConfigurations(options);
  const name = validating.metadata!.name!;
  await createOrReplace(
    () => api.createValidatingWebhookConfiguration({ body: validating }),
    async () => {
      const current = await api.readValidatingWebhookConfiguration({ name });
      await api.replaceValidatingWebhookConfiguration({ name, body: { ...validating, metadata: { ...validating.metadata, resourceVersion: current.metadata!.resourceVersion } } });
    },
  );
  await createOrReplace(
    () => api.createMutatingWebhookConfiguration({ body: mutating }),
    async () => {
      const current = await api.readMutatingWebhookConfiguration({ name });
      await api.replaceMutatingWebhookConfiguration({ name, body: { ...mutating, metadata: { ...mutating.metadata, resourceVersion: current.metadata!.resourceVersion } } });
    },
  );
}

/** Deletes both configurations (absent ones are fine). */
export async function deleteWebhookConfigurations(kubeConfig: k8s.KubeConfig, name = DEFAULT_CONFIGURATION_NAME): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  const ignoreMissing = (err: unknown) => {
    if ((err as { code?: number }).code !== 404) throw err;
  };
  await api.deleteValidatingWebhookConfiguration({ name }).catch(ignoreMissing);
  await api.deleteMutatingWebhookConfiguration({ name }).catch(ignoreMissing);
}

async function createOrReplace(create: () => Promise<unknown>, replace: () => Promise<void>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    await replace();
  }
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
    matchExpressions.push(...(s.matchExpressions ?? []).map((e) => ({ ...e, values: e.values ? [...e.values] : undefined })));
  }
  return {
    ...(Object.keys(matchLabels).length > 0 ? { matchLabels } : {}),
    ...(matchExpressions.length > 0 ? { matchExpressions } : {}),
  };
}

export { WEBHOOK_NAMES };
