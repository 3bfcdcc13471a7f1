/**
 * A small LRU cache for certificate chain verification, keyed by the certificate bytes as they
 * arrive (plus the trust anchors), so that a verifier seeing the same PCK chain or collateral
 * issuer chain again skips PEM decoding, X.509 parsing and the chain signatures. Only successful
 * results are kept, and they carry validity windows, not a verdict at a time: the caller still
 * checks validity at each verification's time.
 */
import { createHash } from 'node:crypto';
import type { TrustAnchor } from './chain.ts';

/** Bounded memo of verified chains; share one per verifier. */
export class TdxVerifierCache {
  readonly #entries = new Map<string, unknown>();
  readonly #max: number;
  #hits = 0;

  constructor(maxEntries = 256) {
    this.#max = maxEntries;
  }

  /** Cached entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** How often memo() answered from the cache. */
  get hits(): number {
    return this.#hits;
  }

  /**
   * The cached result of `compute` for these bytes and anchors, or `compute()` (stored when
   * `keep` says it is worth keeping: successes only).
   */
  memo<T>(
    kind: string,
    bytes: Uint8Array | string,
    anchors: readonly TrustAnchor[],
    compute: () => T,
    keep: (value: T) => boolean,
  ): T {
    const h = createHash('sha256').update(kind).update('\0').update(bytes);
    for (const a of anchors) h.update(a.fingerprint);
    const key = h.digest('hex');
    if (this.#entries.has(key)) {
      const value = this.#entries.get(key) as T;
      // Re-insert to mark as most recently used.
      this.#entries.delete(key);
      this.#entries.set(key, value);
      this.#hits++;
      return value;
    }
    const value = compute();
    if (keep(value)) {
      this.#entries.set(key, value);
      if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    }
    return value;
  }
}
