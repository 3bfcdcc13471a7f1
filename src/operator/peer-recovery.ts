/**
 * Peer recovery in the operator process (docs/design.md, "Peer recovery"): every replica serves
 * the leader's side (`/v1/coordinator/peer/...`, answered while it leads) and runs the replica's
 * side, which keeps the leader's Coordinator identity while it does not lead. Put together here
 * from src/coordinator's parts; operator.ts calls it when the Coordinator is served with peers.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Manager } from '../controllers/manager.ts';
import { type PeerAuthenticator, TokenReviewPeerAuthenticator } from '../coordinator/auth.ts';
import type { OwnEvidenceSource } from '../coordinator/coordinator-evidence.ts';
import type { CoordinatorIdentity } from '../coordinator/identity.ts';
import type { CoordinatorMetrics } from '../coordinator/metrics.ts';
import { PeerClient } from '../coordinator/peer-client.ts';
import { PeerLeader } from '../coordinator/peer-leader.ts';
import { PeerSync } from '../coordinator/peer-sync.ts';
import type { RateLimit } from '../coordinator/rate-limiter.ts';
import type { TokenReviewCacheOptions } from '../coordinator/token-review-cache.ts';
import type { CoordinatorTrust } from '../coordinator/trust.ts';
import type { Logger } from '../observability/log.ts';

/** The audience of the operator's token for peer recovery (the chart projects one for it). */
export const DEFAULT_PEER_AUDIENCE = 'attestor-peer';

export interface PeerRecoveryOptions {
  /** Where the leader's Coordinator API is reached (the chart: the Coordinator Service, which selects the leader). */
  urls: string[];
  /** The CA of the Coordinator's serving certificate (PEM). */
  ca: string;
  /** The operator's own service account token for the peer audience (re-read for each request). */
  token: () => Promise<string>;
  /** Who may ask for the identity: the operator's service account usernames. */
  usernames: string[];
  /** Default DEFAULT_PEER_AUDIENCE. */
  audience?: string;
  /** How often a replica checks the leader's identity (default in peer-sync.ts). */
  syncIntervalMs?: number;
  /** Requests per replica (default in coordinator/limits.ts). */
  rate?: RateLimit;
  /** Replaces TokenReview (tests). */
  authenticator?: PeerAuthenticator;
}

export interface PeerRecovery {
  /** For the server: the leader's side, once the identity is made. */
  readonly serverOptions: { authenticator: PeerAuthenticator; leader: () => PeerLeader | undefined; rate?: RateLimit };
  /** Starts the replica's side with the identity; runs until the signal aborts. */
  start(identity: CoordinatorIdentity, signal: AbortSignal): void;
  /** The Manifests changed: the leader's identity may have too. */
  trigger(): void;
  /** Why this replica is not ready (it does not hold the leader's identity though the leader has one). */
  readiness(): string | undefined;
  close(): Promise<void>;
}

/** Peer recovery for this process, its readiness check added to the manager; undefined (with a warning) without own evidence. */
export function peerRecovery(options: {
  kubeConfig: k8s.KubeConfig;
  peers: PeerRecoveryOptions;
  ownEvidence: OwnEvidenceSource | { none: string };
  trust: CoordinatorTrust;
  manager: Manager;
  log: Logger;
  metrics: CoordinatorMetrics;
  /** How successful TokenReviews are reused and counted (token-review-cache.ts). */
  tokenReviewCache?: TokenReviewCacheOptions;
}): PeerRecovery | undefined {
  const { peers, ownEvidence: evidence, trust, manager, log, metrics } = options;
  if ('none' in evidence) {
    log.warn('peer recovery is off: without own CVM evidence a replica cannot prove itself to the leader');
    return undefined;
  }
  const client = new PeerClient({ urls: peers.urls, ca: peers.ca, token: peers.token });
  let leader: PeerLeader | undefined;
  let sync: PeerSync | undefined;
  const readiness = () => (sync ? sync.readiness() : 'has not asked the leader for the Coordinator identity yet');
  manager.addReadinessCheck({ name: 'peer-recovery', check: readiness });
  return {
    serverOptions: {
      authenticator:
        peers.authenticator ??
        new TokenReviewPeerAuthenticator(
          options.kubeConfig,
          peers.usernames,
          [peers.audience ?? DEFAULT_PEER_AUDIENCE],
          options.tokenReviewCache,
        ),
      leader: () => leader,
      ...(peers.rate ? { rate: peers.rate } : {}),
    },
    start(identity, signal) {
      leader = new PeerLeader({ identity, evidence, trust, log, metrics });
      sync = new PeerSync({
        identity,
        transport: client,
        evidence,
        trust,
        leading: () => manager.isLeader,
        log,
        metrics,
        ...(peers.syncIntervalMs ? { intervalMs: peers.syncIntervalMs } : {}),
      });
      void sync.run(signal);
    },
    trigger: () => sync?.trigger(),
    readiness,
    close: () => client.close(),
  };
}
