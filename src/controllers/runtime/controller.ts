/**
 * A controller: keys from watches go into a rate-limited queue; workers take them one at a time
 * and call the reconciler, which reads the current state itself and makes it right. The result
 * is "done", "requeue after N ms", or a thrown error (requeue with backoff).
 */

import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';
import { WorkQueue, type WorkQueueOptions } from './workqueue.ts';

export interface ReconcileResult {
  /** Reconcile this key again after the delay (e.g. to re-check an expiry). */
  requeueAfterMs?: number;
}

// biome-ignore lint/suspicious/noConfusingVoidType: a reconciler that has nothing to say returns nothing
export type Reconcile = (key: string) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  name: string;
  reconcile: Reconcile;
  log: Logger;
  metrics?: OperatorMetrics;
  /** Concurrent reconciles (different keys only). Default 1. */
  workers?: number;
  queue?: Omit<WorkQueueOptions, 'metrics'>;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #reconcile: Reconcile;
  readonly #log: Logger;
  readonly #metrics: OperatorMetrics | undefined;
  readonly #workers: number;
  #running: Promise<void>[] = [];

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#reconcile = options.reconcile;
    this.#log = options.log.child({ controller: options.name });
    this.#metrics = options.metrics;
    this.#workers = options.workers ?? 1;
    this.queue = new WorkQueue(options.name, { ...options.queue, metrics: options.metrics });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    if (this.#running.length > 0) return;
    this.#metrics?.maxConcurrentReconciles.set({ controller: this.name }, this.#workers);
    this.#metrics?.activeWorkers.set({ controller: this.name }, 0);
    this.#log.info({ workers: this.#workers }, 'starting workers');
    this.#running = Array.from({ length: this.#workers }, () => this.#work());
  }

  /** Stops taking keys and waits for reconciles in flight to finish. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.#running);
    this.#running = [];
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.#process(key);
    }
  }

  async #process(key: string): Promise<void> {
    const started = performance.now();
    this.#metrics?.activeWorkers.inc({ controller: this.name });
    try {
      const result = await this.#reconcile(key);
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined) {
        this.queue.addAfter(key, result.requeueAfterMs);
        this.#metrics?.reconcileTotal.inc({ controller: this.name, result: 'requeue_after' });
      } else {
        this.#metrics?.reconcileTotal.inc({ controller: this.name, result: 'success' });
      }
    } catch (err) {
      this.#metrics?.reconcileTotal.inc({ controller: this.name, result: 'error' });
      this.#metrics?.reconcileErrors.inc({ controller: this.name });
      const retries = this.queue.numRequeues(key);
      this.#log.error({ key, err: errorMessage(err), retries }, 'reconcile failed; requeued with backoff');
      this.queue.addRateLimited(key);
    } finally {
      this.#metrics?.activeWorkers.dec({ controller: this.name });
      this.#metrics?.reconcileTime.observe({ controller: this.name }, (performance.now() - started) / 1000);
      this.queue.done(key);
    }
  }
}
