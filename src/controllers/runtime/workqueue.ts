/**
 * A de-duplicating, rate-limited work queue with client-go's semantics: a key is in the queue
 * at most once, is never processed by two workers at once (an add during processing is queued
 * again when done() is called), and failed keys come back after a per-key exponential backoff.
 */
import type { OperatorMetrics } from '../../observability/metrics.ts';

export interface WorkQueueOptions {
  /** First retry delay. Default 5 ms (client-go's default). */
  baseDelayMs?: number;
  /** Longest retry delay. Default 1000 s (client-go's default). */
  maxDelayMs?: number;
  metrics?: OperatorMetrics;
}

export class WorkQueue {
  readonly name: string;
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #addedAt = new Map<string, number>();
  readonly #startedAt = new Map<string, number>();
  readonly #failures = new Map<string, number>();
  readonly #delayed = new Map<string, { timer: NodeJS.Timeout; readyAt: number }>();
  readonly #waiters: Array<(key: string | undefined) => void> = [];
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #metrics: OperatorMetrics | undefined;
  #shuttingDown = false;

  constructor(name: string, options: WorkQueueOptions = {}) {
    this.name = name;
    this.#baseDelayMs = options.baseDelayMs ?? 5;
    this.#maxDelayMs = options.maxDelayMs ?? 1_000_000;
    this.#metrics = options.metrics;
  }

  get length(): number {
    return this.#queue.length;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#metrics?.queueAdds.inc({ name: this.name, controller: this.name });
    this.#dirty.add(key);
    this.#addedAt.set(key, performance.now());
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Adds the key after a delay; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const readyAt = Date.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending && pending.readyAt <= readyAt) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#delayed.set(key, { timer, readyAt });
  }

  /** Adds the key after its backoff: base * 2^failures, capped. */
  addRateLimited(key: string): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    this.#metrics?.queueRetries.inc({ name: this.name, controller: this.name });
    this.addAfter(key, this.backoffFor(failures));
  }

  backoffFor(failures: number): number {
    return Math.min(this.#baseDelayMs * 2 ** Math.min(failures, 40), this.#maxDelayMs);
  }

  /** Clears the key's failure count (after a success). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key to process; undefined once the queue is shut down and drained. */
  async get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) return this.#take(key);
    if (this.#shuttingDown) return undefined;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile, it goes back in the queue. */
  done(key: string): void {
    this.#processing.delete(key);
    const started = this.#startedAt.get(key);
    if (started !== undefined)
      this.#metrics?.queueWorkDuration.observe(
        { name: this.name, controller: this.name },
        (performance.now() - started) / 1000,
      );
    this.#startedAt.delete(key);
    if (this.#dirty.has(key)) this.#push(key);
  }

  /** Stops accepting keys; waiting get() calls resolve with undefined. */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#queue.length = 0;
    this.#dirty.clear();
    this.#setDepth();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter(this.#take(key));
      return;
    }
    this.#queue.push(key);
    this.#setDepth();
  }

  #take(key: string): string {
    this.#processing.add(key);
    this.#dirty.delete(key);
    const added = this.#addedAt.get(key);
    if (added !== undefined)
      this.#metrics?.queueLatency.observe(
        { name: this.name, controller: this.name },
        (performance.now() - added) / 1000,
      );
    this.#addedAt.delete(key);
    this.#startedAt.set(key, performance.now());
    this.#setDepth();
    return key;
  }

  #setDepth(): void {
    this.#metrics?.queueDepth.set({ name: this.name, controller: this.name }, this.#queue.length);
  }
}
