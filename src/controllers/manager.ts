/**
 * The Manager runs what an operator process is made of: informers (on every replica, so caches
 * are warm for the webhook and for a fast takeover), controllers (on the leader only), the probe
 * and metrics server, and leader election. It stops everything in order on shutdown.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Logger } from '../observability/log.ts';
import type { OperatorMetrics } from '../observability/metrics.ts';
import { type ProbeServer, type ReadinessCheck, startProbeServer } from '../observability/probe-server.ts';
import type { Controller } from './runtime/controller.ts';
import type { Informer } from './runtime/informer.ts';
import { type LeaderElectionOptions, LeaderElector } from './runtime/leader-election.ts';

/** Something the leader runs besides controllers (e.g. a periodic scan). */
export interface LeaderRunnable {
  name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface ManagerOptions {
  log: Logger;
  metrics: OperatorMetrics;
  /** Leader election; without it this process leads at once (single replica, tests). */
  leaderElection?: Omit<LeaderElectionOptions, 'log' | 'metrics'>;
  /** /healthz, /readyz and /metrics; absent: no server. */
  probe?: { host: string; port: number };
}

export type ManagerExit = 'stopped' | 'lost-leadership';

export class Manager {
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  readonly #informers: Informer<k8s.KubernetesObject>[] = [];
  readonly #controllers: Controller[] = [];
  readonly #leaderRunnables: LeaderRunnable[] = [];
  readonly #readiness: ReadinessCheck[] = [];
  readonly #options: ManagerOptions;
  #elector: LeaderElector | undefined;
  #probe: ProbeServer | undefined;
  #leading = false;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.log = options.log;
    this.metrics = options.metrics;
  }

  addInformer<T extends k8s.KubernetesObject>(informer: Informer<T>): Informer<T> {
    this.#informers.push(informer as unknown as Informer<k8s.KubernetesObject>);
    this.#readiness.push({
      name: `informer-${informer.resource}`,
      check: () =>
        !informer.synced
          ? 'not synced'
          : !informer.healthy
            ? `watch failing: ${informer.lastError ?? 'restarting'}`
            : undefined,
    });
    return informer;
  }

  addController(controller: Controller): Controller {
    this.#controllers.push(controller);
    return controller;
  }

  addLeaderRunnable(runnable: LeaderRunnable): void {
    this.#leaderRunnables.push(runnable);
  }

  addReadinessCheck(check: ReadinessCheck): void {
    this.#readiness.push(check);
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  get probePort(): number | undefined {
    return this.#probe?.port;
  }

  /** Runs until the signal aborts (returns "stopped") or leadership is lost ("lost-leadership"). */
  async run(signal: AbortSignal): Promise<ManagerExit> {
    if (this.#options.probe) {
      this.#probe = await startProbeServer({
        ...this.#options.probe,
        registry: this.metrics.registry,
        readiness: () => this.#readiness,
      });
      this.log.info({ port: this.#probe.port }, 'serving /healthz, /readyz and /metrics');
    }
    for (const informer of this.#informers) informer.start();
    try {
      await Promise.all(this.#informers.map((i) => i.waitForSync(signal)));
      this.log.info({ informers: this.#informers.map((i) => i.resource) }, 'caches synced');
      let exit: ManagerExit = 'stopped';
      if (!this.#options.leaderElection) {
        await this.#startLeading();
        await new Promise<void>((resolve) =>
          signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        await this.#stopLeading();
      } else {
        this.#elector = new LeaderElector({ ...this.#options.leaderElection, log: this.log, metrics: this.metrics });
        let stopped: Promise<void> = Promise.resolve();
        await this.#elector.run(signal, {
          onStartedLeading: () => void this.#startLeading(),
          onStoppedLeading: () => {
            stopped = this.#stopLeading();
          },
        });
        await stopped;
        if (!signal.aborted) exit = 'lost-leadership';
      }
      return exit;
    } catch (err) {
      if (signal.aborted) return 'stopped';
      throw err;
    } finally {
      await Promise.all(this.#informers.map((i) => i.stop()));
      await this.#probe?.close();
    }
  }

  async #startLeading(): Promise<void> {
    this.#leading = true;
    for (const c of this.#controllers) c.start();
    for (const r of this.#leaderRunnables) await r.start();
  }

  async #stopLeading(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    for (const r of this.#leaderRunnables) await r.stop();
    await Promise.all(this.#controllers.map((c) => c.stop()));
  }
}
