/**
 * The operator process: informers, the Manifest and AIWorker controllers, leader election and
 * the probe server, assembled. `attestor operator`, `attestor dev` and the tests start it here.
 */
import type * as k8s from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { createAIWorkerController } from '../controllers/aiworker/controller.ts';
import { createInformers, type Informers } from '../controllers/informers.ts';
import { createManifestController } from '../controllers/manifest/controller.ts';
import { Manager, type ManagerExit } from '../controllers/manager.ts';
import { EventRecorder } from '../controllers/runtime/events.ts';
import type { Logger } from '../observability/log.ts';
import { OperatorMetrics } from '../observability/metrics.ts';

export interface OperatorOptions {
  kubeConfig: k8s.KubeConfig;
  log: Logger;
  /** Namespace of the leader-election Lease (the operator's own namespace). */
  namespace: string;
  /** Campaign for a Lease before reconciling (needed with more than one replica). */
  leaderElect: boolean;
  leaseName?: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Address of /healthz, /readyz, /metrics; undefined: no server. */
  probe?: { host: string; port: number };
  metrics?: OperatorMetrics;
}

export interface RunningOperator {
  readonly manager: Manager;
  readonly informers: Informers;
  readonly metrics: OperatorMetrics;
  /** Resolves when the operator stopped: by stop() or because it lost leadership. */
  readonly done: Promise<ManagerExit>;
  stop(): Promise<ManagerExit>;
}

export const DEFAULT_LEASE_NAME = 'attestor-operator';

export function startOperator(options: OperatorOptions): RunningOperator {
  const metrics = options.metrics ?? new OperatorMetrics();
  const identity = options.identity ?? `${hostname()}_${process.pid}`;
  const log = options.log.child({ identity });
  const informers = createInformers(options.kubeConfig, log, metrics);
  const manager = new Manager({
    log,
    metrics,
    probe: options.probe,
    leaderElection: options.leaderElect
      ? {
          kubeConfig: options.kubeConfig,
          namespace: options.namespace,
          leaseName: options.leaseName ?? DEFAULT_LEASE_NAME,
          identity,
          leaseDurationMs: options.leaseDurationMs,
          renewDeadlineMs: options.renewDeadlineMs,
          retryPeriodMs: options.retryPeriodMs,
        }
      : undefined,
  });
  for (const informer of Object.values(informers)) manager.addInformer(informer);
  const events = new EventRecorder(options.kubeConfig, 'attestor-operator', identity, log);
  manager.addController(createManifestController({ kubeConfig: options.kubeConfig, manifests: informers.manifests, events, log, metrics }));
  manager.addController(createAIWorkerController({ kubeConfig: options.kubeConfig, informers, events, log, metrics }));

  const abort = new AbortController();
  const done = manager.run(abort.signal);
  return {
    manager,
    informers,
    metrics,
    done,
    stop: async () => {
      abort.abort();
      return done;
    },
  };
}
