/**
 * Token buckets keyed by node: each node may spend `burst` at once and earns one token every
 * `intervalMs`. One node's agent exhausting its own bucket leaves every other node's untouched.
 * Pure apart from its state: time is a parameter.
 */
export interface RateLimit {
  /** Tokens a node may spend at once (and holds when idle). */
  burst: number;
  /** One token is earned per interval. */
  intervalMs: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  at: number;
}

export class KeyedRateLimiter {
  readonly #limit: RateLimit;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: RateLimit) {
    if (!(limit.burst >= 1) || !(limit.intervalMs > 0)) throw new Error(`invalid rate limit ${JSON.stringify(limit)}`);
    this.#limit = limit;
  }

  /** Spends one token of `key` if it has one. */
  take(key: string, now: Date): RateDecision {
    const t = now.getTime();
    const bucket = this.#refill(key, t);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.#buckets.set(key, bucket);
      if (this.#buckets.size > 10_000) this.#prune(t);
      return { allowed: true };
    }
    this.#buckets.set(key, bucket);
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) * this.#limit.intervalMs) };
  }

  #refill(key: string, t: number): Bucket {
    const bucket = this.#buckets.get(key) ?? { tokens: this.#limit.burst, at: t };
    const earned = Math.max(0, t - bucket.at) / this.#limit.intervalMs;
    return { tokens: Math.min(this.#limit.burst, bucket.tokens + earned), at: t };
  }

  /** Full buckets carry no information: drop them. */
  #prune(t: number): void {
    for (const [key] of this.#buckets) if (this.#refill(key, t).tokens >= this.#limit.burst) this.#buckets.delete(key);
  }
}
