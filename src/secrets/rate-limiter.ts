/**
 * A token bucket per client address: `burst` exchanges at once, refilled at `perMinute`. Bounded:
 * at most `maxAddresses` buckets, the fullest (least recently limited) dropped first, since a
 * full bucket is the same as none. Pure: time is a parameter.
 */
export interface RateLimit {
  perMinute: number;
  burst: number;
  maxAddresses?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly #limit: Required<RateLimit>;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: RateLimit) {
    this.#limit = { maxAddresses: 100_000, ...limit };
  }

  /** Whether `address` may make one more exchange at `nowMs`; takes a token when it may. */
  take(address: string, nowMs: number): boolean {
    const { perMinute, burst } = this.#limit;
    const bucket = this.#buckets.get(address) ?? { tokens: burst, at: nowMs };
    const refilled = Math.min(burst, bucket.tokens + (Math.max(0, nowMs - bucket.at) * perMinute) / 60_000);
    this.#buckets.delete(address);
    if (refilled < 1) {
      this.#buckets.set(address, { tokens: refilled, at: nowMs });
      return false;
    }
    this.#buckets.set(address, { tokens: refilled - 1, at: nowMs });
    this.#evict();
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(): void {
    // Map order is insertion order, and take() re-inserts: the first entries are the least recently used.
    while (this.#buckets.size > this.#limit.maxAddresses) {
      const oldest = this.#buckets.keys().next().value as string;
      this.#buckets.delete(oldest);
    }
  }
}
