/**
 * A short cache of successful TokenReviews, in front of the API server's `createTokenReview`.
 * A caller sends several requests with one token within seconds (an agent's nonce, evidence and
 * activation; a pod init's rounds), and each was a TokenReview on an API server that is the
 * bottleneck at fleet size. The kubelet and kube-apiserver cache webhook token reviews for the
 * same reason (`--authentication-token-webhook-cache-ttl`).
 *
 * Revocation: a cached success means a token stays accepted for up to the TTL after the API server
 * would refuse it (a deleted pod's or service account's bound token). That is the trade the API
 * server's own webhook token cache makes, and it is small here: the token only names the caller,
 * the caller's evidence and its pod are still read and verified on every request. Only successes
 * are kept; a refusal or an error is not cached and not handed to a later caller, so a token is
 * never refused for longer than the API server refuses it, and failures fail closed as before.
 */
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { TokenReviewCounter, TokenReviewOutcome } from './token-review-metrics.ts';

export type TokenReviewStatus = k8s.V1TokenReviewStatus;

/** One TokenReview on the API server: the token and the audiences to require, the status back. */
export type TokenReviewer = (token: string, audiences: string[] | undefined) => Promise<TokenReviewStatus | undefined>;

export const DEFAULT_TOKEN_REVIEW_TTL_MS = 10_000;
export const DEFAULT_TOKEN_REVIEW_CACHE_ENTRIES = 10_000;

export interface TokenReviewCacheOptions {
  /** How long a success is reused (default 10 s; 0 keeps nothing). Never past the token's `exp`. */
  ttlMs?: number;
  /** Most successes kept; the oldest goes first (default 10,000). */
  maxEntries?: number;
  /** The clock, in ms since the epoch (tests). */
  now?: () => number;
  /** Counts each answer by audience and outcome (token-review-metrics.ts); none: not counted. */
  counter?: TokenReviewCounter;
}

/** The API server's TokenReview through `kubeConfig`. */
export function apiTokenReviewer(kubeConfig: k8s.KubeConfig): TokenReviewer {
  const api = kubeConfig.makeApiClient(k8s.AuthenticationV1Api);
  return async (token, audiences) =>
    (
      await api.createTokenReview({
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } },
      })
    ).status;
}

export class TokenReviewCache {
  readonly #review: TokenReviewer;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #counter: TokenReviewCounter | undefined;
  /** Successes by key, oldest first (a Map keeps insertion order). */
  readonly #entries = new Map<string, { status: TokenReviewStatus; expiresAt: number }>();
  readonly #inFlight = new Map<string, Promise<TokenReviewStatus | undefined>>();

  constructor(review: TokenReviewer, options: TokenReviewCacheOptions = {}) {
    this.#review = review;
    this.#ttlMs = options.ttlMs ?? DEFAULT_TOKEN_REVIEW_TTL_MS;
    this.#maxEntries = options.maxEntries ?? DEFAULT_TOKEN_REVIEW_CACHE_ENTRIES;
    this.#now = options.now ?? Date.now;
    this.#counter = options.counter;
  }

  /** The number of successes held (tests, metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The TokenReview status for `token` and `audiences`: a success reviewed less than the TTL ago,
   * the answer of a review of the same key already under way, or a new review. The status is
   * shared between callers: read it, never change it. A review that throws throws to every
   * caller that waited on it.
   */
  review(token: string, audiences: string[] | undefined): Promise<TokenReviewStatus | undefined> {
    const key = cacheKey(token, audiences);
    const now = this.#now();
    const count = (outcome: TokenReviewOutcome) =>
      this.#counter?.inc({ audience: audiences?.join(',') ?? '', outcome });
    const entry = this.#entries.get(key);
    if (entry) {
      if (entry.expiresAt > now) {
        count('cached');
        return Promise.resolve(entry.status);
      }
      this.#entries.delete(key);
    }
    const pending = this.#inFlight.get(key);
    if (pending) {
      count('cached');
      return pending;
    }
    const started = this.#review(token, audiences).then(
      (status) => {
        this.#inFlight.delete(key);
        count(accepted(status) ? 'reviewed' : 'refused');
        // Counted from when the review started: the API server said yes then, not later.
        const expiresAt = Math.min(now + this.#ttlMs, tokenExpiry(token) ?? Number.POSITIVE_INFINITY);
        if (accepted(status) && expiresAt > this.#now()) this.#keep(key, status, expiresAt);
        return status;
      },
      (err: unknown) => {
        this.#inFlight.delete(key);
        count('error');
        throw err;
      },
    );
    this.#inFlight.set(key, started);
    return started;
  }

  #keep(key: string, status: TokenReviewStatus, expiresAt: number): void {
    if (this.#maxEntries <= 0) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { status, expiresAt });
  }
}

/** Only what the API server authenticated with a username is worth keeping. */
function accepted(status: TokenReviewStatus | undefined): status is TokenReviewStatus {
  return status?.authenticated === true && !!status.user?.username;
}

/** SHA-256 of the token and the audiences: the raw token is never a key. */
function cacheKey(token: string, audiences: string[] | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify([token, audiences ?? null]))
    .digest('base64url');
}

/**
 * The `exp` of a JWT's payload in ms, read without verifying anything: it can only shorten how
 * long a success is kept (the API server checked the token; this number never lengthens the TTL).
 * Undefined for a token that is not a JWT or has no numeric `exp`.
 */
export function tokenExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const exp: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
