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

/** Makes one namespace's mark agree with the AIWorkers in the cache (an AIWorker being deleted still counts). */
export function namespaceMarker(
  core: k8s.CoreV1Api,
  informers: Pick<Informers, 'aiWorkers' | 'namespaces'>,
): NamespaceMarker {
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  return async (name) => {
    const patch = namespaceMarkPatch(informers.namespaces.get(name), informers.aiWorkers.list(name).length > 0);
    if (!patch) return;
    try {
      await core.patchNamespace({ name, body: patch }, merge);
    } catch (err) {
      if (!isNotFound(err)) throw err;
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
