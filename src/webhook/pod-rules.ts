/**
 * What a pod in attestor's scope (AI worker pods, pods in enforced namespaces) must meet to be
 * admitted: a runtime class and a Kata agent policy the active Manifest allows, images pinned
 * by digest, and no toleration of the unattested taint. Pure: pod and Manifest in, violations out.
 */

import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { AI_WORKER_SELECTOR_KEYS, KATA_POLICY_ANNOTATION, POLICY_HASH_ANNOTATION } from '../api/aiworker-labels.ts';
import type { Manifest } from '../api/manifest.ts';
import { UNATTESTED_TAINT } from '../api/node-gating.ts';
import type { Violation } from './review.ts';

const DIGEST_SUFFIX = /@sha256:[0-9a-f]{64}$/;

const policyField = `metadata.annotations[${KATA_POLICY_ANNOTATION}]`;
const policyHashField = `metadata.annotations[${POLICY_HASH_ANNOTATION}]`;

/** Every rule the pod breaks, in field order; empty when it may be admitted. */
export function judgePod(pod: k8s.V1Pod, manifest: Manifest | undefined): Violation[] {
  const violations: Violation[] = [];
  const spec = pod.spec;
  if (!spec) return [{ field: 'spec', message: 'is missing' }];
  const annotations = pod.metadata?.annotations ?? {};

  if (!manifest) {
    // Without reference values nothing can be judged: no confidential workload is admitted.
    violations.push({
      field: 'spec.runtimeClassName',
      message: 'cannot be checked: no Manifest is active, so no confidential workload is admitted',
    });
    violations.push({ field: policyField, message: 'cannot be checked: no Manifest is active' });
  } else {
    const name = manifest.metadata.name ?? '(unnamed)';
    const classes = manifest.spec.runtimeClasses ?? [];
    const runtimeClass = spec.runtimeClassName;
    if (!runtimeClass) {
      violations.push({
        field: 'spec.runtimeClassName',
        message: `is not set (Manifest ${name} allows: ${classes.join(', ')})`,
      });
    } else if (!classes.includes(runtimeClass)) {
      violations.push({
        field: 'spec.runtimeClassName',
        message: `${JSON.stringify(runtimeClass)} is not allowed by Manifest ${name} (allowed: ${classes.join(', ')})`,
      });
    }
    violations.push(...judgePolicy(annotations, manifest));
  }

  const containerLists: Array<[string, Array<{ image?: string }> | undefined]> = [
    ['initContainers', spec.initContainers],
    ['containers', spec.containers],
    ['ephemeralContainers', spec.ephemeralContainers],
  ];
  for (const [list, containers] of containerLists) {
    (containers ?? []).forEach((c, i) => {
      const image = c.image;
      if (typeof image !== 'string' || !DIGEST_SUFFIX.test(image)) {
        violations.push({
          field: `spec.${list}[${i}].image`,
          message: `${JSON.stringify(image ?? '')} is not pinned by digest`,
        });
      }
    });
  }

  (spec.tolerations ?? []).forEach((t, i) => {
    if (t.key === UNATTESTED_TAINT.key) {
      violations.push({
        field: `spec.tolerations[${i}]`,
        message: `tolerates the ${UNATTESTED_TAINT.key} taint: pods in attestor's scope run only on attested nodes`,
      });
    } else if (!t.key && t.operator === 'Exists') {
      violations.push({
        field: `spec.tolerations[${i}]`,
        message: `tolerates every taint, the ${UNATTESTED_TAINT.key} taint included: pods in attestor's scope run only on attested nodes`,
      });
    }
  });
  return violations;
}

function judgePolicy(annotations: Record<string, string>, manifest: Manifest): Violation[] {
  const name = manifest.metadata.name ?? '(unnamed)';
  const encoded = annotations[KATA_POLICY_ANNOTATION];
  if (encoded === undefined || encoded === '') {
    return [{ field: policyField, message: 'is missing: the pod must carry its Kata agent policy (base64)' }];
  }
  // Only canonical base64 (padded, no whitespace, no URL alphabet): Buffer.from() silently skips
  // what is not base64, and the hash must be of exactly the bytes Kata decodes. The round trip
  // checks that in one pass (a regular expression took 8 times as long on a 40 KiB policy).
  const decoded = Buffer.from(encoded, 'base64');
  if (decoded.toString('base64') !== encoded) return [{ field: policyField, message: 'is not valid base64' }];
  const hash = createHash('sha256').update(decoded).digest('hex');
  const violations: Violation[] = [];
  if (!(manifest.spec.policies ?? []).some((p) => p.hash === hash)) {
    violations.push({ field: policyField, message: `policy with SHA-256 ${hash} is not allowed by Manifest ${name}` });
  }
  const declared = annotations[POLICY_HASH_ANNOTATION];
  if (declared !== undefined && declared !== hash) {
    violations.push({
      field: policyHashField,
      message: `${JSON.stringify(declared)} does not match the SHA-256 of the policy (${hash})`,
    });
  }
  return violations;
}

/**
 * An update is judged like a create, unless it leaves every field the rules look at as it was
 * and gives no AIWorker selector label a new value: such an update (other labels, finalizers,
 * owner references, deletion) cannot make the pod less safe, and refusing it would only keep a
 * pod admitted under an earlier Manifest from being deleted. An update that gives a pod an
 * AIWorker's selector labels brings it into scope (it may become the worker's endpoint): judged
 * in full, whether it comes through the pod itself or through pods/status (which keeps metadata
 * changes).
 */
export function judgePodUpdate(
  pod: k8s.V1Pod,
  old: k8s.V1Pod | undefined,
  manifest: Manifest | undefined,
): Violation[] {
  if (old && judgedFields(old) === judgedFields(pod) && !joinsSelectors(pod, old)) return [];
  return judgePod(pod, manifest);
}

/**
 * Whether the update sets an AIWorker selector label to a new value, so that selectors which did
 * not match the pod may match it now. Removing one cannot: every selector requires them all.
 */
function joinsSelectors(pod: k8s.V1Pod, old: k8s.V1Pod): boolean {
  const labels = pod.metadata?.labels ?? {};
  const before = old.metadata?.labels ?? {};
  return AI_WORKER_SELECTOR_KEYS.some((k) => labels[k] !== undefined && labels[k] !== before[k]);
}

function judgedFields(pod: k8s.V1Pod): string {
  const images = (list: Array<{ name?: string; image?: string }> | undefined) =>
    (list ?? []).map((c) => [c.name, c.image]);
  const annotations = pod.metadata?.annotations ?? {};
  return JSON.stringify([
    pod.spec?.runtimeClassName ?? null,
    annotations[KATA_POLICY_ANNOTATION] ?? null,
    annotations[POLICY_HASH_ANNOTATION] ?? null,
    images(pod.spec?.initContainers),
    images(pod.spec?.containers),
    images(pod.spec?.ephemeralContainers),
    (pod.spec?.tolerations ?? []).map((t) => [t.key ?? '', t.operator ?? '', t.value ?? '', t.effect ?? '']),
  ]);
}
