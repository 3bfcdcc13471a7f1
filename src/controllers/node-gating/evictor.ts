/**
 * Makes GPU pods leave a node that lost its attestation: through the Eviction API, so that
 * PodDisruptionBudgets are honoured while they let the pod go; a pod whose evictions are refused
 * for `pdbGraceMs` (a PodDisruptionBudget with maxUnavailable 0, two budgets, a 429) is deleted,
 * because no namespace user may keep a workload on GPUs that are not attested. Every eviction
 * and deletion is an Event on the pod naming why.
 */
import * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../api/manifest.ts';
import { errorMessage, statusCode } from '../../errors.ts';
import type { Logger } from '../../observability/log.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { podsToEvict } from './eviction.ts';

/** How often refused evictions are tried again within the grace. */
const RETRY_MS = 5_000;

export interface GpuPodEvictorOptions {
  kubeConfig: k8s.KubeConfig;
  events: EventRecorder;
  log: Logger;
  pdbGraceMs: number;
  /** Namespaces whose pods are never evicted (kube-system, the operator's own). */
  excludedNamespaces: readonly string[];
  /** Resource-name prefixes that make a pod a GPU pod. Default: gpu-requests.ts. */
  gpuResourcePrefixes?: readonly string[];
  now: () => Date;
}

export interface EvictionRound {
  /** GPU pods still on the node (their evictions refused so far). */
  remaining: number;
  /** When to try again; undefined when none remain. */
  recheckAfterMs?: number;
}

export class GpuPodEvictor {
  readonly #core: k8s.CoreV1Api;
  readonly #options: GpuPodEvictorOptions;
  /** First refused eviction per pod UID, with its node (in memory: a new leader starts the grace again). */
  readonly #refusedSince = new Map<string, { node: string; since: number }>();

  constructor(options: GpuPodEvictorOptions) {
    this.#core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.#options = options;
  }

  /** Forgets refused evictions on `node` (it is attested again, or its pods may stay for now). */
  forget(node: string): void {
    for (const [uid, entry] of this.#refusedSince) if (entry.node === node) this.#refusedSince.delete(uid);
  }

  /** Evicts (or, past the grace, deletes) the GPU pods on `node`; `why` goes into each Event. */
  async evict(
    node: string,
    why: { reason: string; message: string },
    active?: Pick<Manifest, 'spec'>,
  ): Promise<EvictionRound> {
    const { log, events, pdbGraceMs } = this.#options;
    // Read now, not from a cache: the scheduler may have bound a pod a moment ago.
    const pods = podsToEvict(
      (await this.#core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items,
      this.#options.excludedNamespaces,
      this.#options.gpuResourcePrefixes,
      active,
    );
    const uids = new Set(pods.map((p) => p.metadata!.uid!));
    for (const [uid, entry] of this.#refusedSince)
      if (entry.node === node && !uids.has(uid)) this.#refusedSince.delete(uid);
    let remaining = 0;
    let recheckAfterMs = RETRY_MS;
    for (const pod of pods) {
      const name = pod.metadata!.name!;
      const namespace = pod.metadata!.namespace!;
      const uid = pod.metadata!.uid!;
      const target = { apiVersion: 'v1', kind: 'Pod', name, namespace, uid };
      const cause = `node ${node} lost its GPU attestation (${why.reason}: ${why.message})`;
      try {
        await this.#core.createNamespacedPodEviction({
          name,
          namespace,
          body: {
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name, namespace },
            deleteOptions: { preconditions: { uid } },
          },
        });
        this.#refusedSince.delete(uid);
        log.info(
          { pod: `${namespace}/${name}`, node, reason: why.reason },
          'evicted a GPU pod from a node that is not attested',
        );
        await events.record(target, 'Warning', 'EvictedUnattestedNode', `${cause}: evicted`);
      } catch (err) {
        const code = statusCode(err);
        // Gone already, or replaced by a pod of the same name (the UID precondition failed).
        if (code === 404 || code === 409) {
          this.#refusedSince.delete(uid);
          continue;
        }
        const now = this.#options.now().getTime();
        const since = this.#refusedSince.get(uid)?.since ?? now;
        this.#refusedSince.set(uid, { node, since });
        const left = since + pdbGraceMs - now;
        if (left > 0) {
          remaining++;
          recheckAfterMs = Math.min(recheckAfterMs, left);
          log.info(
            { pod: `${namespace}/${name}`, node, err: errorMessage(err), deleteInMs: left },
            'eviction refused; the pod is deleted when the grace runs out',
          );
          continue;
        }
        try {
          await this.#core.deleteNamespacedPod({ name, namespace, body: { preconditions: { uid } } });
        } catch (deleteErr) {
          const deleteCode = statusCode(deleteErr);
          if (deleteCode === 404 || deleteCode === 409) {
            this.#refusedSince.delete(uid);
            continue;
          }
          throw deleteErr;
        }
        this.#refusedSince.delete(uid);
        log.warn(
          { pod: `${namespace}/${name}`, node, reason: why.reason },
          'deleted a GPU pod whose evictions were refused for the whole grace',
        );
        await events.record(
          target,
          'Warning',
          'DeletedUnattestedNode',
          `${cause}: evictions refused for ${Math.round((now - since) / 1000)} s (${errorMessage(err)}), deleted`,
        );
      }
    }
    return remaining > 0 ? { remaining, recheckAfterMs } : { remaining: 0 };
  }
}
