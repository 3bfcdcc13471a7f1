/**
 * A small cache for the expensive, time-independent parts of GPU verification: certificate chain
 * structure (signatures, names, CA flags; keyed by the certificate bytes and the anchors) and
 * RIM XML signatures (keyed by the SHA-384 of the document). OCSP answers, and who signed them,
 * are remembered by ocsp-answer.ts's own memos, and verified certificate links by
 * ../issued-by-memo.ts, for the whole process. Validity periods (certificates, a delegated
 * OCSP responder, an answer's thisUpdate/nextUpdate) are always checked at the caller's time, so a
 * cached entry never extends trust past them.
 */
import { issuedByMemo } from '../issued-by-memo.ts';
import { deviceChainMemo, internedCertificates } from './certificates.ts';
import { answerMemo, signerMemo } from './ocsp-answer.ts';

/**
 * Forgets what the process-wide memos of GPU verification hold: for benches that measure a cold
 * start; never needed for correctness.
 */
export function clearProcessMemos(): void {
  issuedByMemo.clear();
  deviceChainMemo.clear();
  internedCertificates.clear();
  answerMemo.clear();
  signerMemo.clear();
}

/** Bounded map, least recently used entry out first; counts hits so benches and tests can see it work. */
export class VerificationCache {
  readonly #entries = new Map<string, unknown>();
  readonly #max: number;
  hits = 0;
  misses = 0;
  constructor(maxEntries = 512) {
    this.#max = maxEntries;
  }
  get<T>(key: string): T | undefined {
    const v = this.#entries.get(key) as T | undefined;
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Least recently used out first: what every node shares (RIMs, the anchors' chains) stays.
    this.#entries.delete(key);
    this.#entries.set(key, v);
    return v;
  }
  set<T>(key: string, value: T): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, value);
  }
  get size(): number {
    return this.#entries.size;
  }
}
