/**
 * An informer that never silently stops. client-node's ListWatch relists on 410 and reconnects
 * after timeouts, but on any other failure (connection refused, 5xx, 403, a failed list) it
 * emits `error` and stops for good. This wrapper restarts it with exponential backoff
 * (1 s doubling to 30 s) and reports whether its cache is synced and its watch healthy.
 * Objects it hands out are the cache's own: never mutate them.
 *
 * A `transform` (src/controllers/cache-fields.ts) cuts each object down to what its readers use
 * before it enters the cache and before any handler sees it: client-node's ListWatch has no such
 * hook, so the list function and the Watch it is given are wrapped. The previous version of an
 * object (for update handlers) is read from the cache just before the new one replaces it, so the
 * informer holds each object once.
 */

import * as k8s from '@kubernetes/client-node';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';

export type ListFunction<T extends k8s.KubernetesObject> = () => Promise<k8s.KubernetesListObject<T>>;
export type EventHandler<T> = (obj: T) => void;
export type UpdateHandler<T> = (obj: T, old: T | undefined) => void;
/** Cuts an object down to what is read of it. Pure; returns a new object (or the same one). */
export type Transform<T> = (obj: T) => T;

export interface InformerOptions<T extends k8s.KubernetesObject> {
  kubeConfig: k8s.KubeConfig;
  /** Watch path, e.g. /api/v1/nodes or /apis/attestor.dev/v1alpha1/manifests. */
  path: string;
  list: ListFunction<T>;
  labelSelector?: string;
  /** Name for logs and metrics (e.g. "nodes"). */
  resource: string;
  /** Applied to every object from the list and from each watch event, before the cache holds it. */
  transform?: Transform<T>;
  log: Logger;
  metrics?: OperatorMetrics;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class Informer<T extends k8s.KubernetesObject> {
  readonly resource: string;
  readonly #listWatch: k8s.ListWatch<T>;
  readonly #log: Logger;
  readonly #metrics: OperatorMetrics | undefined;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #add: EventHandler<T>[] = [];
  readonly #update: UpdateHandler<T>[] = [];
  readonly #delete: EventHandler<T>[] = [];
  #synced = false;
  #syncedWaiters: Array<() => void> = [];
  #healthy = false;
  #failures = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopped = true;
  #lastError: string | undefined;
  // The version an update replaces, read from the cache just before ListWatch applies the update
  // (ListWatch does not pass it): the one of the watch event being applied, or during a relist
  // the cache as it was before the list (released once the list is applied).
  #replacing: T | undefined;
  #beforeRelist: Map<string, T> | undefined;

  constructor(options: InformerOptions<T>) {
    this.resource = options.resource;
    this.#log = options.log.child({ informer: options.resource });
    this.#metrics = options.metrics;
    this.#minBackoffMs = options.minBackoffMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    const transform = options.transform ?? ((obj: T) => obj);
    const list: ListFunction<T> = async () => {
      const result = await options.list();
      const items = result.items.map(transform);
      if (this.#listWatch.list().length > 0)
        this.#beforeRelist = new Map(this.#listWatch.list().map((obj) => [keyOf(obj), obj]));
      // ListWatch applies the list synchronously after this promise resolves; mark synced after that.
      setImmediate(() => this.#onListed());
      return { ...result, items };
    };
    this.#listWatch = new k8s.ListWatch<T>(
      options.path,
      this.#transformingWatch(new k8s.Watch(options.kubeConfig), transform),
      list,
      false,
      options.labelSelector,
    );
    this.#listWatch.on(k8s.ADD, (obj) => {
      for (const h of this.#add) this.#safely(() => h(obj));
    });
    this.#listWatch.on(k8s.UPDATE, (obj) => {
      const old = this.#beforeRelist?.get(keyOf(obj)) ?? this.#replacing;
      for (const h of this.#update) this.#safely(() => h(obj, old));
    });
    this.#listWatch.on(k8s.DELETE, (obj) => {
      for (const h of this.#delete) this.#safely(() => h(obj));
    });
    this.#listWatch.on(k8s.ERROR, (err) => this.#onError(err));
    this.#listWatch.on(k8s.CONNECT, () => {
      this.#healthy = true;
    });
  }

  onAdd(handler: EventHandler<T>): this {
    this.#add.push(handler);
    return this;
  }

  onUpdate(handler: UpdateHandler<T>): this {
    this.#update.push(handler);
    return this;
  }

  onDelete(handler: EventHandler<T>): this {
    this.#delete.push(handler);
    return this;
  }

  /** Any change: add, update or delete. */
  onChange(handler: EventHandler<T>): this {
    return this.onAdd(handler).onUpdate(handler).onDelete(handler);
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** False while the informer is waiting to restart after a failure. */
  get healthy(): boolean {
    return this.#healthy && !this.#stopped;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#listWatch.start().catch((err) => this.#onError(err));
  }

  /** Resolves once the first list has been applied to the cache. */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return;
    await new Promise<void>((resolve, reject) => {
      this.#syncedWaiters.push(resolve);
      signal?.addEventListener('abort', () => reject(new Error(`stopped before ${this.resource} synced`)), {
        once: true,
      });
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#listWatch.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#listWatch.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#listWatch.list(namespace);
  }

  /**
   * The Watch ListWatch is given, with each event's object transformed and the cached version it
   * replaces noted while ListWatch applies it (synchronously, inside the callback).
   */
  #transformingWatch(watch: k8s.Watch, transform: Transform<T>): k8s.Watch {
    const transforming: Pick<k8s.Watch, 'watch'> = {
      watch: (path, query, callback, done) =>
        watch.watch(
          path,
          query,
          (phase, obj, raw) => {
            if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, obj, raw);
            const object = transform(obj as T);
            this.#replacing = this.#listWatch.get(object.metadata?.name ?? '', object.metadata?.namespace);
            try {
              return callback(phase, object, raw);
            } finally {
              this.#replacing = undefined;
            }
          },
          done,
        ),
    };
    return transforming as k8s.Watch;
  }

  #onListed(): void {
    this.#beforeRelist = undefined;
    this.#failures = 0;
    this.#healthy = true;
    this.#lastError = undefined;
    if (!this.#synced) {
      this.#synced = true;
      this.#log.debug('cache synced');
      for (const w of this.#syncedWaiters.splice(0)) w();
    }
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    this.#healthy = false;
    this.#lastError = errorMessage(err);
    const delay = Math.min(this.#minBackoffMs * 2 ** this.#failures, this.#maxBackoffMs);
    this.#failures++;
    this.#metrics?.informerRestarts.inc({ resource: this.resource });
    this.#log.warn({ err: this.#lastError, retryInMs: delay }, 'watch failed; restarting informer');
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (this.#stopped) return;
      void this.#listWatch.start().catch((e) => this.#onError(e));
    }, delay);
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'event handler threw');
    }
  }
}

export function keyOf(obj: k8s.KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : `${obj.metadata?.name}`;
}
