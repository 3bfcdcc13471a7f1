/**
 * Marks every namespace that holds an AIWorker (AI_WORKER_NAMESPACE_LABEL=true) and unmarks it
 * when the last one is gone: the binding webhook judges bindings only in marked and enforced
 * namespaces, so that a cluster whose operator is down still schedules every other pod.
 * A mark someone removes comes back at once (the namespace informer sees the change).
 */
import * as k8s from '@kubernetes/client-node';
import { AI_WORKER_NAMESPACE_LABEL } from '../../api/aiworker.ts';
import { isNotFound } from '../../errors.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';
import type { Informers } from '../informers.ts';
import { Controller } from '../runtime/controller.ts';

export interface NamespaceMarkPatch {
  metadata: { labels: Record<string, 'true' | null> };
}

/**
 * The merge patch that makes a namespace's mark say whether it holds AIWorkers; undefined when it
 * does already. A namespace the cache does not have yet counts as unmarked. Pure.
 */
export function namespaceMarkPatch(
  namespace: k8s.V1Namespace | undefined,
  holdsAIWorkers: boolean,
): NamespaceMarkPatch | undefined {
  // A namespace on its way out is left alone: its pods are going too.
  if (namespace?.metadata?.deletionTimestamp) return undefined;
  const marked = namespace?.metadata?.labels?.[AI_WORKER_NAMESPACE_LABEL] === 'true';
  if (marked === holdsAIWorkers) return undefined;
  return { metadata: { labels: { [AI_WORKER_NAMESPACE_LABEL]: holdsAIWorkers ? 'true' : null } } };
}

export type NamespaceMarker = (namespace: string) => Promise<void>;

/**
 * Makes one namespace's mark agree with the AIWorkers in the cache (an AIWorker being deleted still
 * counts). Both the AIWorker controller and the namespace controller call it, for many workers of
 * one namespace at once: calls for one namespace run one after another, and a namespace this
 * wrote stands in for the cache's copy until the cache has caught up, so that one mark is one write.
 * Callers that share the namespace informer share one marker.
 */
export function namespaceMarker(
  core: k8s.CoreV1Api,
  informers: Pick<Informers, 'aiWorkers' | 'namespaces'>,
): NamespaceMarker {
  let marker = markers.get(informers.namespaces);
  if (!marker) {
    marker = newNamespaceMarker(core, informers);
    markers.set(informers.namespaces, marker);
  }
  return marker;
}

const markers = new WeakMap<object, NamespaceMarker>();

function newNamespaceMarker(
  core: k8s.CoreV1Api,
  informers: Pick<Informers, 'aiWorkers' | 'namespaces'>,
): NamespaceMarker {
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  // What this wrote, and the resourceVersion the cache held then (while it still holds that, it is behind).
  const written = new Map<string, { cachedVersion: string | undefined; namespace: k8s.V1Namespace }>();
  const running = new Map<string, Promise<void>>();
  const mark = async (name: string) => {
    const cached = informers.namespaces.get(name);
    const ours = written.get(name);
    const latest = ours && ours.cachedVersion === cached?.metadata?.resourceVersion ? ours.namespace : cached;
    if (ours && latest === cached) written.delete(name);
    const patch = namespaceMarkPatch(latest, informers.aiWorkers.list(name).length > 0);
    if (!patch) return;
    try {
      const namespace = await core.patchNamespace({ name, body: patch }, merge);
      written.set(name, { cachedVersion: cached?.metadata?.resourceVersion, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  };
  return async (name) => {
    const previous = running.get(name) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => mark(name));
    running.set(name, next);
    try {
      await next;
    } finally {
      if (running.get(name) === next) running.delete(name);
    }
  };
}

export interface NamespaceMarkControllerDeps {
  kubeConfig: k8s.KubeConfig;
  informers: Pick<Informers, 'aiWorkers' | 'namespaces'>;
  log: Logger;
  metrics?: OperatorMetrics;
}

export function createNamespaceMarkController(deps: NamespaceMarkControllerDeps): Controller {
  const mark = namespaceMarker(deps.kubeConfig.makeApiClient(k8s.CoreV1Api), deps.informers);
  const controller = new Controller({
    name: 'aiworker-namespace',
    log: deps.log,
    metrics: deps.metrics,
    reconcile: mark,
  });
  deps.informers.aiWorkers.onChange((w) => {
    if (w.metadata.namespace) controller.enqueue(w.metadata.namespace);
  });
  deps.informers.namespaces.onChange((ns) => {
    if (ns.metadata?.name) controller.enqueue(ns.metadata.name);
  });
  return controller;
}
