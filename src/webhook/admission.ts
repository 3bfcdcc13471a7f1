/**
 * The admission webhooks as functions from an AdmissionRequest to an answer. They gather what
 * the pure rules need (the active Manifest and NodeAttestations from informers, the bound pod
 * from the API server) and fail closed: whatever cannot be judged is refused.
 */
import type * as k8s from '@kubernetes/client-node';
import { selectActiveManifest } from '../api/active-manifest.ts';
import type { Manifest } from '../api/manifest.ts';
import type { NodeAttestation } from '../api/node-attestation.ts';
import { errorMessage, isNotFound } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { judgeBinding, judgeNodeName } from './binding-rules.ts';
import { DEFAULT_GPU_RESOURCE_PREFIXES, requestsGpus } from './gpu-requests.ts';
import { gpuNodeSelectorPatch } from './pod-mutation.ts';
import { judgePod, judgePodUpdate } from './pod-rules.ts';
import {
  type AdmissionRequest,
  type AdmissionResponse,
  allowed,
  denied,
  failed,
  isObject,
  type Violation,
} from './review.ts';

/** What the webhooks read the active Manifest from (an Informer<Manifest> is one). */
export interface ManifestSource {
  readonly synced: boolean;
  list(): readonly Manifest[];
}

/** What the binding webhook reads NodeAttestations from (an Informer<NodeAttestation> is one). */
export interface NodeAttestationSource {
  readonly synced: boolean;
  get(name: string): NodeAttestation | undefined;
}

/** Reads a pod from the API server (a CoreV1Api is one). */
export interface PodReader {
  readNamespacedPod(param: { name: string; namespace: string }): Promise<k8s.V1Pod>;
}

export interface AdmissionDeps {
  manifests: ManifestSource;
  nodeAttestations: NodeAttestationSource;
  pods: PodReader;
  /** Resource-name prefixes that count as GPUs (default: gpu-requests.ts). */
  gpuResourcePrefixes?: readonly string[];
  now: () => Date;
  log: Logger;
}

export const WEBHOOK_NAMES = ['validate-pods', 'mutate-pods', 'validate-gpu-pods', 'validate-bindings'] as const;
/** Each webhook is served at /<name>. */
export type WebhookName = (typeof WEBHOOK_NAMES)[number];

/**
 * What became of an admission request: allowed, denied by the rules, or not judged (an error,
 * answered with a refusal). Not a Verdict: that word is the attestation verdict on evidence
 * (attestation/verdict.ts).
 */
export type AdmissionOutcome = 'allowed' | 'denied' | 'error';

export interface Judgement {
  response: AdmissionResponse;
  outcome: AdmissionOutcome;
}

export type AdmissionHandler = (request: AdmissionRequest) => Promise<Judgement>;

export function createAdmissionHandlers(deps: AdmissionDeps): Record<WebhookName, AdmissionHandler> {
  const activeManifest = (): Manifest | undefined => {
    if (!deps.manifests.synced) throw new NotReady('the Manifest cache has not synced yet');
    return selectActiveManifest(deps.manifests.list());
  };
  const nodeAttestation = (node: string): NodeAttestation | undefined => {
    if (!deps.nodeAttestations.synced) throw new NotReady('the NodeAttestation cache has not synced yet');
    return deps.nodeAttestations.get(node);
  };
  const gpuResourcePrefixes = deps.gpuResourcePrefixes ?? DEFAULT_GPU_RESOURCE_PREFIXES;
  const judgement = (request: AdmissionRequest, webhook: WebhookName, violations: Violation[]): Judgement => {
    if (violations.length === 0) return { response: allowed(request.uid), outcome: 'allowed' };
    deps.log.info(
      {
        webhook,
        uid: request.uid,
        ...subject(request),
        user: request.userInfo.username,
        violations: violations.length,
      },
      `denied: ${violations.map((v) => v.field).join(', ')}`,
    );
    return { response: denied(request.uid, violations), outcome: 'denied' };
  };

  const handlers: Record<WebhookName, (request: AdmissionRequest) => Promise<Judgement> | Judgement> = {
    'validate-pods': (request) => {
      // pods/status keeps label and annotation changes: the configuration sends those that touch
      // the policy annotations or the AIWorker selector labels, judged like any update.
      expect(request, 'pods', ['', 'ephemeralcontainers', 'status'], ['CREATE', 'UPDATE']);
      if (request.subResource === 'status' && request.operation !== 'UPDATE')
        throw new BadRequest('pods/status is judged on UPDATE only');
      const pod = objectOf<k8s.V1Pod>(request.object, 'object');
      const manifest = activeManifest();
      const violations =
        request.operation === 'UPDATE' ? judgePodUpdate(pod, oldPodOf(request), manifest) : judgePod(pod, manifest);
      return judgement(request, 'validate-pods', violations);
    },
    'mutate-pods': (request) => {
      expect(request, 'pods', [''], ['CREATE']);
      const pod = objectOf<k8s.V1Pod>(request.object, 'object');
      // The Manifest decides whether nodes are gated at all; only GPU pods need it.
      const patch = requestsGpus(pod, gpuResourcePrefixes)
        ? gpuNodeSelectorPatch(pod, activeManifest(), gpuResourcePrefixes)
        : [];
      return { response: allowed(request.uid, patch), outcome: 'allowed' };
    },
    'validate-gpu-pods': (request) => {
      // A GPU pod created with spec.nodeName skips the scheduler and the binding webhook.
      expect(request, 'pods', [''], ['CREATE', 'UPDATE']);
      const pod = objectOf<k8s.V1Pod>(request.object, 'object');
      const oldPod = request.operation === 'UPDATE' ? oldPodOf(request) : undefined;
      if (request.operation === 'UPDATE' && !oldPod) throw new BadRequest('an UPDATE without oldObject');
      const node = pod.spec?.nodeName;
      const facts = { pod, oldPod, gpuResourcePrefixes, now: deps.now() };
      const violations =
        node && node !== oldPod?.spec?.nodeName
          ? judgeNodeName({ ...facts, nodeAttestation: nodeAttestation(node), activeManifest: activeManifest() })
          : [];
      return judgement(request, 'validate-gpu-pods', violations);
    },
    'validate-bindings': async (request) => {
      // The scheduler binds through pods/binding; the older bindings resource does the same.
      if (request.resource.resource === 'bindings') expect(request, 'bindings', [''], ['CREATE']);
      else expect(request, 'pods', ['binding'], ['CREATE']);
      const binding = objectOf<k8s.V1Binding>(request.object, 'object');
      const namespace = request.namespace || binding.metadata?.namespace;
      const name = binding.metadata?.name || request.name;
      if (!namespace || !name) throw new BadRequest('the binding names no pod');
      const manifest = activeManifest();
      const node = binding.target?.name;
      const target = node ? nodeAttestation(node) : undefined;
      let pod: k8s.V1Pod;
      try {
        // Read now, never from a cache: the decision must be about the pod as it is.
        pod = await deps.pods.readNamespacedPod({ name, namespace });
      } catch (err) {
        if (isNotFound(err))
          return judgement(request, 'validate-bindings', [
            { field: 'metadata.name', message: `pod ${namespace}/${name} not found` },
          ]);
        throw err;
      }
      const violations = judgeBinding({
        binding,
        pod,
        nodeAttestation: target,
        activeManifest: manifest,
        now: deps.now(),
        gpuResourcePrefixes,
      });
      return judgement(request, 'validate-bindings', violations);
    },
  };

  const guarded = {} as Record<WebhookName, AdmissionHandler>;
  for (const [webhook, handler] of Object.entries(handlers) as Array<
    [WebhookName, (r: AdmissionRequest) => Promise<Judgement> | Judgement]
  >) {
    guarded[webhook] = async (request) => {
      try {
        return await handler(request);
      } catch (err) {
        // Fail closed: a request we could not judge is refused, never let through.
        if (err instanceof BadRequest) {
          deps.log.warn({ webhook, uid: request.uid, err: err.message }, 'refused a request this webhook cannot judge');
          return { response: failed(request.uid, `attestor ${webhook}: ${err.message}`, 400), outcome: 'error' };
        }
        if (err instanceof NotReady)
          return {
            response: failed(request.uid, `attestor ${webhook}: not ready: ${err.message}`, 503),
            outcome: 'error',
          };
        deps.log.error(
          { webhook, uid: request.uid, ...subject(request), err: errorMessage(err) },
          'admission failed; refusing',
        );
        return {
          response: failed(request.uid, `attestor ${webhook}: internal error: ${errorMessage(err)}`, 500),
          outcome: 'error',
        };
      }
    };
  }
  return guarded;
}

class BadRequest extends Error {}
class NotReady extends Error {}

function expect(request: AdmissionRequest, resource: string, subResources: string[], operations: string[]): void {
  const sub = request.subResource ?? '';
  if (request.resource.resource !== resource || !subResources.includes(sub)) {
    throw new BadRequest(
      `this webhook judges ${resource}${subResources
        .filter(Boolean)
        .map((s) => ` ${resource}/${s}`)
        .join(',')}, not ${request.resource.resource}${sub ? '/' + sub : ''}`,
    );
  }
  if (!operations.includes(request.operation))
    throw new BadRequest(`this webhook judges ${operations.join(' and ')}, not ${request.operation}`);
}

function oldPodOf(request: AdmissionRequest): k8s.V1Pod | undefined {
  return request.oldObject === undefined || request.oldObject === null
    ? undefined
    : objectOf<k8s.V1Pod>(request.oldObject, 'oldObject');
}

function objectOf<T>(value: unknown, what: string): T {
  if (!isObject(value)) throw new BadRequest(`request.${what} is missing or not an object`);
  return value as T;
}

function subject(request: AdmissionRequest): Record<string, string | undefined> {
  const meta = isObject(request.object) && isObject(request.object.metadata) ? request.object.metadata : {};
  return {
    resource: request.resource.resource,
    namespace: request.namespace,
    name: request.name || (meta.name as string | undefined) || (meta.generateName as string | undefined),
  };
}
