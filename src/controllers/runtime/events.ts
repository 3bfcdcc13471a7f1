/**
 * Kubernetes Events (core/v1), so `kubectl describe` and `kubectl get events` show what the
 * operator did and why. Repeats of the same event on the same object within the series window
 * increase its count instead of creating new objects. Messages never carry secrets.
 *
 * Recording never waits for the API server: an event goes into a queue that one writer empties in
 * order (as client-go's recorder does), so that a reconcile or a Coordinator answer is not held up
 * by its Events. Past MAX_PENDING queued events, new ones are dropped with a warning: events are
 * best effort, and a stalled API server must not grow the operator's memory.
 */
import * as k8s from '@kubernetes/client-node';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../observability/log.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

const SERIES_WINDOW_MS = 10 * 60 * 1000;
/** Events queued at most (by default); more are dropped (and counted in the warning). */
export const MAX_PENDING_EVENTS = 1000;

export class EventRecorder {
  readonly #core: k8s.CoreV1Api;
  readonly #component: string;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #recent = new Map<string, { name: string; namespace: string; count: number; last: number }>();
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  #dropped = 0;

  readonly #maxPending: number;

  constructor(
    kubeConfig: k8s.KubeConfig,
    component: string,
    instance: string,
    log: Logger,
    options: { maxPending?: number } = {},
  ) {
    this.#maxPending = options.maxPending ?? MAX_PENDING_EVENTS;
    this.#core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.#component = component;
    this.#instance = instance;
    this.#log = log;
  }

  /**
   * Queues an event, stamped now, and returns at once; failures are logged, never thrown (events
   * are best effort). `flush()` waits until it is written.
   */
  record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date();
    if (this.#pending >= this.#maxPending) {
      if (this.#dropped++ % 100 === 0)
        this.#log.warn(
          { dropped: this.#dropped, reason, object: `${target.kind}/${target.name}` },
          'event queue full: dropping events',
        );
      return Promise.resolve();
    }
    this.#pending++;
    this.#tail = this.#tail
      .then(() => this.#write(target, type, reason, message, now))
      .finally(() => {
        this.#pending--;
      });
    return Promise.resolve();
  }

  /** Resolves when every event queued so far has been written (or given up on). */
  flush(): Promise<void> {
    return this.#tail;
  }

  async #write(target: EventTarget, type: EventType, reason: string, message: string, now: Date): Promise<void> {
    const namespace = target.namespace || 'default';
    const seriesKey = `${target.kind}/${namespace}/${target.name}/${target.uid}/${type}/${reason}/${message}`;
    const previous = this.#recent.get(seriesKey);
    try {
      if (previous && now.getTime() - previous.last < SERIES_WINDOW_MS) {
        previous.count++;
        previous.last = now.getTime();
        await this.#core.patchNamespacedEvent(
          { name: previous.name, namespace: previous.namespace, body: { count: previous.count, lastTimestamp: now } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
        return;
      }
      const name = `${target.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
      await this.#core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name, namespace },
          involvedObject: {
            apiVersion: target.apiVersion,
            kind: target.kind,
            name: target.name,
            namespace: target.namespace,
            uid: target.uid,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: this.#component },
          reportingComponent: this.#component,
          reportingInstance: this.#instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
      this.#recent.set(seriesKey, { name, namespace, count: 1, last: now.getTime() });
      if (this.#recent.size > 4096) this.#prune(now.getTime());
    } catch (err) {
      this.#recent.delete(seriesKey);
      this.#log.warn(
        { err: errorMessage(err), reason, object: `${target.kind}/${target.name}` },
        'could not record event',
      );
    }
  }

  #prune(now: number): void {
    for (const [key, value] of this.#recent) if (now - value.last >= SERIES_WINDOW_MS) this.#recent.delete(key);
  }
}
