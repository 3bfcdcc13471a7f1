/**
 * The operator process, assembled: informers (on every replica, so that caches are warm for the
 * webhook and for a takeover); on the leader, the Manifest, AIWorker, namespace mark, node gating
 * and re-appraisal controllers and the Coordinator; the Coordinator API (followers answer 503) and
 * the admission webhook on every replica; the leader label on the own pod (D12), the
 * attestor_gpu_nodes gauge, leader election and the probe server. `attestor operator`,
 * `attestor dev` and the tests start it here.
 */
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { createAIWorkerController } from '../controllers/aiworker/controller.ts';
import { createNamespaceMarkController } from '../controllers/aiworker/namespace-mark.ts';
import type { WorkloadPodSettings } from '../controllers/aiworker/workload.ts';
import { createInformers, type Informers } from '../controllers/informers.ts';
import { Manager, type ManagerExit } from '../controllers/manager.ts';
import { createManifestController } from '../controllers/manifest/controller.ts';
import { createNodeGatingController, type EvictionOptions } from '../controllers/node-gating/controller.ts';
import {
  registerAttestationExpiryGauge,
  registerGpuNodesGauge,
  registerRolloutProgressGauge,
} from '../controllers/node-gating/metrics.ts';
import { RolloutProgress } from '../controllers/node-gating/rollout-progress.ts';
import { ACTIVE_MANIFEST_KEY, createReappraisalController } from '../controllers/reappraisal/controller.ts';
import { EventRecorder } from '../controllers/runtime/events.ts';
import { keyOf } from '../controllers/runtime/informer.ts';
import { type Authenticator, TokenReviewAuthenticator } from '../coordinator/auth.ts';
import { Coordinator } from '../coordinator/coordinator.ts';
import { CoordinatorIdentity, type OwnEvidenceSource } from '../coordinator/identity.ts';
import type { CoordinatorLimits } from '../coordinator/limits.ts';
import { CoordinatorMetrics } from '../coordinator/metrics.ts';
import { NodeAttestationStore } from '../coordinator/node-attestation-store.ts';
import type { RateLimit } from '../coordinator/rate-limiter.ts';
import { type CoordinatorServer, startCoordinatorServer } from '../coordinator/server.ts';
import type { TokenReviewCacheOptions } from '../coordinator/token-review-cache.ts';
import { registerTokenReviewCounter } from '../coordinator/token-review-metrics.ts';
import type { CoordinatorTrust } from '../coordinator/trust.ts';
import { TokenReviewWorkloadAuthenticator, type WorkloadAuthenticator } from '../coordinator/workload-auth.ts';
import { WorkloadMetrics } from '../coordinator/workload-metrics.ts';
import { ApiWorkloadPods } from '../coordinator/workload-pods.ts';
import { WorkloadCoordinator } from '../coordinator/workloads.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { OperatorMetrics } from '../observability/metrics.ts';
import { instrumentedKubeConfig } from '../observability/rest-client-metrics.ts';
import { WORKLOAD_AUDIENCE } from '../protocol/workload.ts';
import { WebhookMetrics } from '../webhook/metrics.ts';
import { startWebhookServer, type WebhookServer } from '../webhook/server.ts';
import { type PeerRecovery, type PeerRecoveryOptions, peerRecovery } from './peer-recovery.ts';

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
  /** The Coordinator API; absent: not served (controllers only). */
  coordinator?: CoordinatorOptions;
  /** The admission webhook server (every replica serves it); absent: not served. */
  webhook?: WebhookServerOptions;
  /**
   * This replica's own pod. While it leads, the pod carries LEADER_LABEL, so that the Coordinator
   * Service (which selects on it) sends agents to the replica that holds nonces and grants.
   */
  selfPod?: { name: string; namespace: string };
  /** GPU pods on nodes that lose their attestation: timing. Namespaces kube-system and `namespace` are never touched. */
  eviction?: Omit<EvictionOptions, 'excludedNamespaces'>;
  /** Watch resource.k8s.io/v1 ResourceSlices to find DRA GPU nodes (Kubernetes 1.34 and later). Default true. */
  resourceSlices?: boolean;
  /** Resource-name prefixes that make a pod a GPU pod (webhook, eviction); the webhook configurations must use the same. Default: gpu-requests.ts. */
  gpuResourcePrefixes?: readonly string[];
  /** What pod-CVM AI worker pods need (`attestor init`'s image, the Coordinator's URL and CA); absent: such AIWorkers are held at 0. */
  workload?: WorkloadPodSettings;
}

/** Label the leading replica sets on its own pod. */
export const LEADER_LABEL = 'attestor.dev/leader';

export interface WebhookServerOptions {
  host: string;
  port: number;
  /** Serving certificate files, re-read when they change (certificate rotation without restart). */
  tls: { certFile: string; keyFile: string };
  /** Clients with a certificate from this CA only (the API server's webhook client certificate), or anyone. */
  clientAuth: { caFile: string } | 'none';
}

export interface CoordinatorOptions {
  host: string;
  port: number;
  /** PEM text, or files re-read when they change (the chart's Secret, renewed by cert-manager or by hand). */
  tls: { cert: string; key: string } | { certFile: string; keyFile: string; reloadIntervalMs?: number };
  /** Service account usernames of node agents, e.g. system:serviceaccount:attestor-system:attestor-agent. */
  agentUsernames: string[];
  /** Audiences the agents' projected tokens carry. Default ["attestor"]. */
  audiences?: string[];
  trust: CoordinatorTrust;
  grantTtlSeconds?: number;
  /** Per-node limits on agents' requests, nonces and Events (defaults: DEFAULT_COORDINATOR_LIMITS). */
  limits?: Partial<CoordinatorLimits>;
  /** Replaces TokenReview (tests of the Coordinator alone). */
  authenticator?: Authenticator;
  /** How long a successful TokenReview is reused (token-review-cache.ts; default 10 s, 0: every request is reviewed). */
  tokenReviewCacheTtlMs?: number;
  /**
   * The Coordinator's own CVM evidence (configfs-tsm in a confidential pod, simulated under
   * `attestor dev`), or why there is none: then POST /v1/coordinator/attest answers 503 saying so.
   */
  ownEvidence: OwnEvidenceSource | { none: string };
  /** POST /v1/coordinator/attest per client address (default in coordinator/limits.ts). */
  clientAttestRate?: RateLimit;
  /**
   * Peer recovery: replicas share the leader's Coordinator identity (root CA, mesh CA, history),
   * so that a failover keeps it. Absent (or without own evidence): each replica has its own, and
   * the CA keys are not even transferable.
   */
  peers?: PeerRecoveryOptions;
  /** Replaces TokenReview for the workload paths (tests of the Coordinator alone). */
  workloadAuthenticator?: WorkloadAuthenticator;
  /** The cluster's DNS domain, for the Service names in workload certificates. Default cluster.local. */
  clusterDomain?: string;
}

export interface RunningOperator {
  readonly manager: Manager;
  readonly informers: Informers;
  readonly metrics: OperatorMetrics;
  /** The Coordinator while this replica leads. */
  readonly coordinator: () => Coordinator | undefined;
  /** Its workload side (pod-CVM workload certificates) while this replica leads. */
  readonly workloads: () => WorkloadCoordinator | undefined;
  /** This process's Coordinator identity (CAs, transition chain, own evidence) once made; every replica has one. */
  readonly identity: () => CoordinatorIdentity | undefined;
  /** Resolves with the Coordinator API's port once it listens (undefined when not served). */
  readonly coordinatorPort: Promise<number | undefined>;
  /** Resolves with the webhook server's port once it listens (undefined when not served). */
  readonly webhookPort: Promise<number | undefined>;
  /** Resolves when the operator stopped: by stop() or because it lost leadership. */
  readonly done: Promise<ManagerExit>;
  stop(): Promise<ManagerExit>;
}

export const DEFAULT_LEASE_NAME = 'attestor-operator';

export function startOperator(given: OperatorOptions): RunningOperator {
  const metrics = given.metrics ?? new OperatorMetrics();
  // Every API call the operator makes is counted and timed (rest_client_* metrics).
  const options = { ...given, kubeConfig: instrumentedKubeConfig(given.kubeConfig, metrics.restClient) };
  const identity = options.identity ?? `${hostname()}_${process.pid}`;
  const log = options.log.child({ identity });
  let coordinatorIdentity: CoordinatorIdentity | undefined;
  let peers: PeerRecovery | undefined;
  const informers = createInformers(options.kubeConfig, log, metrics, { resourceSlices: options.resourceSlices });
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
          // A replica that holds the leader's identity takes over before one that does not (peer recovery).
          defer: () => peers !== undefined && !coordinatorIdentity?.replica,
        }
      : undefined,
  });
  for (const informer of Object.values(informers)) manager.addInformer(informer);
  const events = new EventRecorder(options.kubeConfig, 'attestor-operator', identity, log);
  const recorders = [events];
  manager.addController(
    createManifestController({ kubeConfig: options.kubeConfig, manifests: informers.manifests, events, log, metrics }),
  );
  const aiWorkers = manager.addController(
    createAIWorkerController({
      kubeConfig: options.kubeConfig,
      informers,
      events,
      log,
      metrics,
      ...(options.workload ? { workload: options.workload } : {}),
      meshCa: () => coordinatorIdentity?.meshCa?.certificate,
    }),
  );
  manager.addController(createNamespaceMarkController({ kubeConfig: options.kubeConfig, informers, log, metrics }));
  registerGpuNodesGauge(metrics.registry, informers);
  registerAttestationExpiryGauge(metrics.registry, informers);
  const rollout = new RolloutProgress(new Date());
  registerRolloutProgressGauge(metrics.registry, informers, rollout);
  manager.addController(
    createNodeGatingController({
      rollout,
      kubeConfig: options.kubeConfig,
      nodes: informers.nodes,
      nodeAttestations: informers.nodeAttestations,
      manifests: informers.manifests,
      resourceSlices: informers.resourceSlices,
      eviction: {
        ...options.eviction,
        excludedNamespaces: [...new Set(['kube-system', options.namespace])],
        ...(options.gpuResourcePrefixes ? { gpuResourcePrefixes: options.gpuResourcePrefixes } : {}),
      },
      events,
      log,
      metrics,
    }),
  );

  const identityAbort = new AbortController();
  let coordinator: Coordinator | undefined;
  let workloads: WorkloadCoordinator | undefined;
  let server: CoordinatorServer | undefined;
  let coordinatorPort: Promise<number | undefined> = Promise.resolve(undefined);
  if (options.coordinator) {
    const c = options.coordinator;
    const coordinatorMetrics = new CoordinatorMetrics(metrics.registry);
    // One TokenReview cache configuration for every authenticator in front of the Coordinator.
    const reviewCache: TokenReviewCacheOptions = {
      ...(c.tokenReviewCacheTtlMs !== undefined ? { ttlMs: c.tokenReviewCacheTtlMs } : {}),
      counter: registerTokenReviewCounter(metrics.registry),
    };
    const store = new NodeAttestationStore(options.kubeConfig);
    const coordinatorEvents = new EventRecorder(options.kubeConfig, 'attestor-coordinator', identity, log);
    recorders.push(coordinatorEvents);
    if (c.peers)
      peers = peerRecovery({
        ...c,
        peers: c.peers,
        kubeConfig: options.kubeConfig,
        manager,
        log,
        metrics: coordinatorMetrics,
        tokenReviewCache: reviewCache,
      });
    // A new active Manifest: appraise the nodes' last evidence again.
    const reappraisal = manager.addController(
      createReappraisalController({
        manifests: informers.manifests,
        nodeAttestations: informers.nodeAttestations,
        reappraiser: () => coordinator,
        log,
        metrics,
      }),
    );
    // The Coordinator lives on the leader: nonces, pending grants and retained evidence are in its memory.
    manager.addLeaderRunnable({
      name: 'coordinator',
      start: async () => {
        coordinator = await Coordinator.create({
          manifests: informers.manifests,
          nodes: informers.nodes,
          ...(informers.resourceSlices ? { resourceSlices: informers.resourceSlices } : {}),
          nodeAttestations: informers.nodeAttestations,
          store,
          trust: c.trust,
          events: coordinatorEvents,
          log,
          metrics: coordinatorMetrics,
          grantTtlSeconds: c.grantTtlSeconds,
          limits: c.limits,
        });
        // Settle the active Manifest at once: agents that attested under another one hear of it.
        reappraisal.enqueue(ACTIVE_MANIFEST_KEY);
        // The identity follows the Manifests from the chain it holds (its leader's, if it mirrored one).
        void identityMade.then((i) => i.lead());
      },
      stop: () => {
        coordinator?.close();
        coordinator = undefined;
      },
    });
    // Its workload side: `attestor init` in pod-CVM pods (nonces, grants and holds in the leader's memory).
    const workloadMetrics = new WorkloadMetrics(metrics.registry, coordinatorMetrics.appraisals);
    const workloadPods = new ApiWorkloadPods(options.kubeConfig);
    manager.addLeaderRunnable({
      name: 'workload-coordinator',
      start: async () => {
        workloads = await WorkloadCoordinator.create({
          manifests: informers.manifests,
          aiWorkers: informers.aiWorkers,
          pods: workloadPods,
          podExists: (namespace, name, uid) => informers.pods.get(name, namespace)?.metadata?.uid === uid,
          nodes: informers.nodes,
          nodeAttestations: informers.nodeAttestations,
          nodeEvidence: (node) => coordinator?.acceptedEvidence(node),
          identity: () => coordinatorIdentity,
          trust: c.trust,
          events: coordinatorEvents,
          log,
          metrics: workloadMetrics,
          grantTtlSeconds: c.grantTtlSeconds,
          limits: c.limits,
          ...(c.clusterDomain ? { clusterDomain: c.clusterDomain } : {}),
        });
      },
      stop: () => {
        workloads = undefined;
      },
    });
    // The identity follows the active Manifest on every replica, from the moment the cache is
    // complete (a half-listed cache must never become a transition); only the leader serves it.
    const identityMade = CoordinatorIdentity.create({
      manifests: informers.manifests,
      evidence: c.ownEvidence,
      trust: c.trust,
      transferable: peers !== undefined,
      log,
      metrics: coordinatorMetrics,
    }).then((made) => {
      coordinatorIdentity = made;
      return made;
    });
    // Once the identity follows a new Manifest, its mesh CA decides which pods count as attested.
    const recountWorkers = () => {
      for (const w of informers.aiWorkers.list()) aiWorkers.enqueue(keyOf(w));
    };
    const settleIdentity = () => {
      if (!informers.manifests.synced) return;
      void identityMade.then((i) => i.settle()).then(recountWorkers);
      peers?.trigger();
    };
    informers.manifests.onChange(settleIdentity);
    void Promise.all([identityMade, informers.manifests.waitForSync(identityAbort.signal)]).then(
      ([made]) => {
        settleIdentity();
        peers?.start(made, identityAbort.signal);
      },
      () => undefined,
    );
    const authenticator =
      c.authenticator ??
      new TokenReviewAuthenticator(options.kubeConfig, c.agentUsernames, c.audiences ?? ['attestor'], reviewCache);
    coordinatorPort = startCoordinatorServer({
      host: c.host,
      port: c.port,
      tls: c.tls,
      authenticator,
      coordinator: () => coordinator,
      identity: () => coordinatorIdentity,
      ...(c.clientAttestRate ? { clientAttestRate: c.clientAttestRate } : {}),
      ...(peers ? { peers: peers.serverOptions } : {}),
      workloads: {
        authenticator:
          c.workloadAuthenticator ??
          new TokenReviewWorkloadAuthenticator(options.kubeConfig, [WORKLOAD_AUDIENCE], reviewCache),
        workloads: () => workloads,
      },
      log,
      metrics: coordinatorMetrics,
    }).then((s) => {
      server = s;
      log.info({ port: s.port }, 'serving the Coordinator API');
      return s.port;
    });
  }

  let webhook: WebhookServer | undefined;
  let webhookPort: Promise<number | undefined> = Promise.resolve(undefined);
  if (options.webhook) {
    const w = options.webhook;
    webhookPort = startWebhookServer({
      host: w.host,
      port: w.port,
      tls: w.tls,
      clientAuth: w.clientAuth,
      manifests: informers.manifests,
      nodeAttestations: informers.nodeAttestations,
      pods: options.kubeConfig.makeApiClient(k8s.CoreV1Api),
      ...(options.gpuResourcePrefixes ? { gpuResourcePrefixes: options.gpuResourcePrefixes } : {}),
      log,
      metrics: new WebhookMetrics(metrics.registry),
    }).then((s) => {
      webhook = s;
      manager.addReadinessCheck({ name: 'webhook', check: () => s.notReady() });
      log.info({ port: s.port }, 'serving the admission webhook');
      return s.port;
    });
  }

  let unlabelled: Promise<void> = Promise.resolve();
  if (options.selfPod) {
    const { name, namespace } = options.selfPod;
    const core = options.kubeConfig.makeApiClient(k8s.CoreV1Api);
    const setLabel = async (value: 'true' | null) => {
      try {
        await core.patchNamespacedPod(
          { name, namespace, body: { metadata: { labels: { [LEADER_LABEL]: value } } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      } catch (err) {
        // Not fatal: agents that reach a follower get 503 and retry.
        log.warn({ pod: `${namespace}/${name}`, err: errorMessage(err) }, 'could not label the own pod');
      }
    };
    manager.addLeaderRunnable({ name: 'leader-label', start: () => setLabel('true'), stop: () => setLabel(null) });
    // A restarted container keeps its pod, and so a label from its previous life: drop it first.
    unlabelled = setLabel(null);
  }

  const abort = identityAbort;
  const done = unlabelled
    .then(() => manager.run(abort.signal))
    .finally(async () => {
      await Promise.all([coordinatorPort.catch(() => undefined), webhookPort.catch(() => undefined)]);
      await server?.close();
      await peers?.close();
      await webhook?.close();
      // Events still queued go out, unless the API server is gone (then they are lost: best effort).
      await flushWithin(recorders, EVENT_FLUSH_MS);
    });
  return {
    manager,
    informers,
    metrics,
    coordinator: () => coordinator,
    workloads: () => workloads,
    identity: () => coordinatorIdentity,
    coordinatorPort,
    webhookPort,
    done,
    stop: async () => {
      abort.abort();
      return done;
    },
  };
}

/** How long a stopping operator waits for its queued Events. */
const EVENT_FLUSH_MS = 5000;

async function flushWithin(recorders: readonly EventRecorder[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(recorders.map((r) => r.flush())),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
