/** What one node's agent may ask of the Coordinator, and how many Events a node may cause (flags: cli/operator.ts). */
import { DEFAULT_NONCES_PER_NODE } from './nonces.ts';
import type { RateLimit } from './rate-limiter.ts';

export interface CoordinatorLimits {
  /** Outstanding nonces per node; more drop the node's own oldest. */
  noncesPerNode: number;
  /** Nonce, evidence and activation requests per node. */
  requests: RateLimit;
  /** Watch (long poll) requests per node. */
  watches: RateLimit;
  /** Events per node. */
  events: RateLimit;
}

export const DEFAULT_COORDINATOR_LIMITS: CoordinatorLimits = {
  noncesPerNode: DEFAULT_NONCES_PER_NODE,
  requests: { burst: 20, intervalMs: 3000 },
  watches: { burst: 5, intervalMs: 5000 },
  events: { burst: 10, intervalMs: 30_000 },
};

/**
 * POST /v1/coordinator/attest per client address: each answer costs a CVM report from the
 * firmware. Behind a Service that rewrites source addresses, clients share one bucket.
 */
export const DEFAULT_CLIENT_ATTEST_RATE: RateLimit = { burst: 10, intervalMs: 1000 };

/**
 * Peer recovery requests (`/v1/coordinator/peer/...`) per replica (its pod, from its pod-bound
 * token; per service account for a token bound to no pod): a replica asks once per sync interval
 * (default 10 s) and on every Manifest change, and each recovery costs the leader an appraisal
 * and a CVM report.
 */
export const DEFAULT_PEER_RATE: RateLimit = { burst: 10, intervalMs: 1000 };
