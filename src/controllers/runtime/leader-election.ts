/**
 * Lease-based leader election (coordination.k8s.io/v1), following client-go: a candidate takes
 * the Lease when it is free or its holder has not renewed it for leaseDuration (measured on the
 * local clock from when this process last saw it change, so clocks need not agree), writes with
 * the resourceVersion it read (optimistic concurrency), renews every retryPeriod, and steps down
 * when it cannot renew within renewDeadline. On a clean stop it releases the Lease so another
 * replica takes over at once. A candidate may defer: while `defer()` says so, it lets a Lease it
 * could take go for one more leaseDuration first, so that a replica that holds state the others
 * lack (the Coordinator identity, by peer recovery) takes over before one that does not.
 */

import { setTimeout as delay } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { errorMessage, isNotFound } from '../../errors.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';

export interface LeaderElectionOptions {
  kubeConfig: k8s.KubeConfig;
  namespace: string;
  leaseName: string;
  identity: string;
  /** How long a Lease is valid without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it steps down. Default 10 s. */
  renewDeadlineMs?: number;
  /** Time between attempts. Default 2 s. */
  retryPeriodMs?: number;
  /** While true, a Lease this candidate could take (free or expired) is left for one leaseDuration to others first. */
  defer?: () => boolean;
  log: Logger;
  metrics?: OperatorMetrics;
}

export interface LeaderCallbacks {
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

interface ObservedRecord {
  holder: string;
  renewTime: string;
  observedAt: number;
}

export class LeaderElector {
  readonly #api: k8s.CoordinationV1Api;
  readonly #options: Required<Omit<LeaderElectionOptions, 'metrics' | 'kubeConfig' | 'log' | 'defer'>>;
  readonly #defer: (() => boolean) | undefined;
  /** When this candidate first found the Lease takeable (while it defers). */
  #takeableSince: number | undefined;
  readonly #log: Logger;
  readonly #metrics: OperatorMetrics | undefined;
  #observed: ObservedRecord | undefined;
  #leading = false;

  constructor(options: LeaderElectionOptions) {
    this.#api = options.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    this.#options = {
      namespace: options.namespace,
      leaseName: options.leaseName,
      identity: options.identity,
      leaseDurationMs: options.leaseDurationMs ?? 15_000,
      renewDeadlineMs: options.renewDeadlineMs ?? 10_000,
      retryPeriodMs: options.retryPeriodMs ?? 2_000,
    };
    this.#defer = options.defer;
    this.#log = options.log.child({ lease: `${options.namespace}/${options.leaseName}`, identity: options.identity });
    this.#metrics = options.metrics;
    this.#metrics?.leaderStatus.set({ name: options.leaseName }, 0);
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Campaigns until it leads, leads until it loses the Lease or the signal aborts. Returns after
   * leadership ended (the caller decides whether to campaign again or exit, as controller-runtime
   * exits).
   */
  async run(signal: AbortSignal, callbacks: LeaderCallbacks): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.#options;
    this.#log.info('campaigning for leadership');
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew()) break;
      await sleep(jitter(retryPeriodMs), signal);
    }
    if (signal.aborted) return;
    this.#setLeading(true);
    this.#log.info('became leader');
    callbacks.onStartedLeading();
    let lastRenew = Date.now();
    while (!signal.aborted) {
      await sleep(retryPeriodMs, signal);
      if (signal.aborted) break;
      if (await this.#tryAcquireOrRenew()) {
        lastRenew = Date.now();
        continue;
      }
      if (Date.now() - lastRenew >= renewDeadlineMs || !this.#heldByMe()) {
        this.#log.warn('lost leadership: could not renew the lease');
        break;
      }
    }
    const released = signal.aborted ? await this.#release() : false;
    this.#setLeading(false);
    if (released) this.#log.info('released leadership');
    callbacks.onStoppedLeading();
  }

  #heldByMe(): boolean {
    return this.#observed?.holder === this.#options.identity;
  }

  #setLeading(leading: boolean): void {
    this.#leading = leading;
    this.#metrics?.leaderStatus.set({ name: this.#options.leaseName }, leading ? 1 : 0);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName, identity, leaseDurationMs } = this.#options;
    const now = new Date();
    let lease: k8s.V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name: leaseName, namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.#log.warn({ err: errorMessage(err) }, 'cannot read lease');
        return false;
      }
      try {
        await this.#api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name: leaseName, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
              acquireTime: micro(now),
              renewTime: micro(now),
              leaseTransitions: 0,
            },
          },
        });
        this.#observed = { holder: identity, renewTime: micro(now).toISOString(), observedAt: Date.now() };
        return true;
      } catch (createErr) {
        this.#log.debug({ err: errorMessage(createErr) }, 'lost the race to create the lease');
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = spec.renewTime ? new Date(spec.renewTime).toISOString() : '';
    if (!this.#observed || this.#observed.holder !== holder || this.#observed.renewTime !== renewTime) {
      this.#observed = { holder, renewTime, observedAt: Date.now() };
    }
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(leaseDurationMs / 1000)) * 1000;
    if (holder !== '' && holder !== identity && this.#observed.observedAt + durationMs > Date.now()) {
      this.#takeableSince = undefined;
      return false; // held by someone else and not expired
    }
    const mine = holder === identity;
    if (!mine && this.#deferring(leaseDurationMs)) return false;
    const updated: k8s.V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        acquireTime: mine && spec.acquireTime ? micro(new Date(spec.acquireTime)) : micro(now),
        renewTime: micro(now),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      await this.#api.replaceNamespacedLease({ name: leaseName, namespace, body: updated });
      this.#observed = { holder: identity, renewTime: micro(now).toISOString(), observedAt: Date.now() };
      if (!mine) this.#log.info({ previousHolder: holder || '(none)' }, 'acquired lease');
      return true;
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, 'lease update refused (conflict or API error)');
      return false;
    }
  }

  /** Whether to leave a takeable Lease alone a while longer (see `defer`). */
  #deferring(leaseDurationMs: number): boolean {
    if (!this.#defer?.()) return false;
    const now = Date.now();
    if (this.#takeableSince === undefined) {
      this.#takeableSince = now;
      this.#log.info(
        { forMs: leaseDurationMs },
        'deferring: leaving the takeable lease to the other candidates for one lease duration',
      );
    }
    return now - this.#takeableSince < leaseDurationMs;
  }

  async #release(): Promise<boolean> {
    const { namespace, leaseName, identity } = this.#options;
    try {
      const lease = await this.#api.readNamespacedLease({ name: leaseName, namespace });
      if (lease.spec?.holderIdentity !== identity) return false;
      await this.#api.replaceNamespacedLease({
        name: leaseName,
        namespace,
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: micro(new Date()),
            renewTime: micro(new Date()),
          },
        },
      });
      return true;
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, 'could not release the lease');
      return false;
    }
  }
}

function micro(date: Date): k8s.V1MicroTime {
  return new k8s.V1MicroTime(date.getTime());
}

function jitter(ms: number): number {
  return ms * (1 + Math.random() * 0.2);
}

async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // aborted
  }
}
