/**
 * A small LRU cache of checked endorsement chains, keyed by the certificate bytes and the roots.
 * The chain (three RSA-4096 signatures, X.509 and ASN.1 parsing) costs more than the report's own
 * ECDSA check, and a node's VCEK changes only with its TCB. Only time-independent results are
 * cached: validity periods and CRLs are checked on every verification.
 */
import { createHash } from 'node:crypto';
import type { Reason } from '../verdict.ts';
import type { ChainPath } from './chain.ts';
import type { EndorsementCertificate } from './endorsement.ts';

/** The time-independent outcome of reading and chaining an endorsement certificate. */
export interface PreparedEndorsement {
  readonly leaf: EndorsementCertificate | null;
  readonly path: ChainPath | null;
  readonly reasons: readonly Reason[];
}

/** LRU cache for verifySnp's `cache` option; share one per process (or per roots). */
export class SnpEndorsementCache {
  readonly #max: number;
  readonly #entries = new Map<string, PreparedEndorsement>();

  constructor(maxEntries = 256) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Returns the cached entry for these certificates under these roots, or computes and stores it. */
  getOrCompute(
    rootsId: string,
    certificates: Uint8Array | string,
    compute: () => PreparedEndorsement,
  ): PreparedEndorsement {
    const key = createHash('sha256')
      .update(rootsId)
      .update(typeof certificates === 'string' ? 's' : 'b')
      .update(certificates)
      .digest('hex');
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      // Re-insert to mark as most recently used.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const value = compute();
    this.#entries.set(key, value);
    if (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    return value;
  }
}
