/**
 * Who may open a GPU node to AI workers, enforced by the API server itself: a
 * ValidatingAdmissionPolicy (CEL, admissionregistration.k8s.io/v1) and its binding. Only the
 * operator's identities may set or change the attestor.dev/gpu-attested label or lift the
 * attestor.dev/unattested taint, through `nodes` and `nodes/status` alike (the API server keeps
 * labels on status updates, so a node identity could otherwise label itself there). Closing a
 * node (removing the label, adding the taint) is open to anyone: it can only make the cluster
 * safer. The rule needs no Manifest, so it needs no webhook: no round trip, nothing that can be
 * down, and node registration never waits for the operator.
 *
 * Pure builders (for `attestor dev`, the tests and the Helm chart) and an installer.
 */
import * as k8s from '@kubernetes/client-node';
import { GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../api/node-gating.ts';
import { isConflict, isNotFound } from '../errors.ts';

export const DEFAULT_NODE_POLICY_NAME = 'node-gating.attestor.dev';

export interface NodePolicyOptions {
  /** Name of the policy and its binding. Default node-gating.attestor.dev. */
  name?: string;
  /** Identities that may open nodes, e.g. system:serviceaccount:attestor-system:attestor-operator. */
  operatorUsernames: readonly string[];
  /** Narrows the binding to these nodes (tests confine it to their own). Default: every node. */
  nodeSelector?: k8s.V1LabelSelector;
}

/** A CEL string literal (JSON's escapes are CEL's). */
const cel = (text: string): string => JSON.stringify(text);

const LABEL = cel(GPU_ATTESTED_LABEL);
const TAINT = cel(UNATTESTED_TAINT.key);

/** The label is absent, or was there with the same value before. */
export const LABEL_RULE = [
  `!has(object.metadata.labels) || !(${LABEL} in object.metadata.labels) ||`,
  `(oldObject != null && has(oldObject.metadata.labels) && ${LABEL} in oldObject.metadata.labels &&`,
  ` oldObject.metadata.labels[${LABEL}] == object.metadata.labels[${LABEL}])`,
].join('\n');

/** Every unattested taint the node had is still there (same key and effect). */
export const TAINT_RULE = [
  'oldObject == null || !has(oldObject.spec) || !has(oldObject.spec.taints) ||',
  `oldObject.spec.taints.all(t, t.key != ${TAINT} ||`,
  ' (has(object.spec) && has(object.spec.taints) && object.spec.taints.exists(n, n.key == t.key && n.effect == t.effect)))',
].join('\n');

export function nodeGatingPolicy(options: NodePolicyOptions): {
  policy: k8s.V1ValidatingAdmissionPolicy;
  binding: k8s.V1ValidatingAdmissionPolicyBinding;
} {
  if (options.operatorUsernames.length === 0)
    throw new RangeError('the node gating policy needs at least one operator username');
  const name = options.name ?? DEFAULT_NODE_POLICY_NAME;
  const labels = { 'app.kubernetes.io/name': 'attestor', 'app.kubernetes.io/managed-by': 'attestor' };
  const who = "(request.userInfo.username == '' ? '(anonymous)' : request.userInfo.username)";
  const policy: k8s.V1ValidatingAdmissionPolicy = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicy',
    metadata: { name, labels },
    spec: {
      // An expression that cannot be evaluated refuses the request (fail closed).
      failurePolicy: 'Fail',
      matchConstraints: {
        matchPolicy: 'Equivalent',
        resourceRules: [
          {
            apiGroups: [''],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['nodes', 'nodes/status'],
            scope: 'Cluster',
          },
        ],
      },
      // The operator is not judged at all.
      matchConditions: [
        {
          name: 'not-the-operator',
          expression: `!(request.userInfo.username in [${options.operatorUsernames.map(cel).join(', ')}])`,
        },
      ],
      validations: [
        {
          expression: LABEL_RULE,
          messageExpression: `'metadata.labels[${GPU_ATTESTED_LABEL}]: only the attestor operator may set this label (set to "' + object.metadata.labels[${LABEL}] + '" by ' + ${who} + ')'`,
          reason: 'Forbidden',
        },
        {
          expression: TAINT_RULE,
          messageExpression: `'spec.taints: only the attestor operator may lift the ${UNATTESTED_TAINT.key} taint (lifted by ' + ${who} + ')'`,
          reason: 'Forbidden',
        },
      ],
    },
  };
  const binding: k8s.V1ValidatingAdmissionPolicyBinding = {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingAdmissionPolicyBinding',
    metadata: { name, labels },
    spec: {
      policyName: name,
      validationActions: ['Deny'],
      ...(options.nodeSelector ? { matchResources: { objectSelector: options.nodeSelector } } : {}),
    },
  };
  return { policy, binding };
}

/** Creates or replaces the policy and its binding. */
export async function installNodeGatingPolicy(kubeConfig: k8s.KubeConfig, options: NodePolicyOptions): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  const { policy, binding } = nodeGatingPolicy(options);
  const name = policy.metadata!.name!;
  try {
    await api.createValidatingAdmissionPolicy({ body: policy });
  } catch (err) {
    if (!isConflict(err)) throw err;
    const current = await api.readValidatingAdmissionPolicy({ name });
    await api.replaceValidatingAdmissionPolicy({
      name,
      body: { ...policy, metadata: { ...policy.metadata, resourceVersion: current.metadata!.resourceVersion } },
    });
  }
  try {
    await api.createValidatingAdmissionPolicyBinding({ body: binding });
  } catch (err) {
    if (!isConflict(err)) throw err;
    const current = await api.readValidatingAdmissionPolicyBinding({ name });
    await api.replaceValidatingAdmissionPolicyBinding({
      name,
      body: { ...binding, metadata: { ...binding.metadata, resourceVersion: current.metadata!.resourceVersion } },
    });
  }
}

/** Deletes the policy and its binding (absent ones are fine). */
export async function deleteNodeGatingPolicy(
  kubeConfig: k8s.KubeConfig,
  name = DEFAULT_NODE_POLICY_NAME,
): Promise<void> {
  const api = kubeConfig.makeApiClient(k8s.AdmissionregistrationV1Api);
  const ignoreMissing = (err: unknown) => {
    if (!isNotFound(err)) throw err;
  };
  await api.deleteValidatingAdmissionPolicyBinding({ name }).catch(ignoreMissing);
  await api.deleteValidatingAdmissionPolicy({ name }).catch(ignoreMissing);
}
