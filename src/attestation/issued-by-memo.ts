/**
 * A bounded memo of certificate links that verified: "child was issued (names) and signed (key)
 * by issuer, and issuer is a CA" is a pure function of the two certificates' DER bytes, so once a
 * link has verified it need not be verified again. The key is the SHA-256 fingerprint of each
 * certificate's full DER (OpenSSL's, kept by Node's X509Certificate), so only the same byte
 * strings ever find an entry. Links that fail are not remembered: refusals are rare, and junk
 * evidence must not evict the fleet's good links. Least recently used out first.
 */
import type { X509Certificate } from 'node:crypto';

/**
 * 16,384 links of at most about 350 bytes each (the key over two 95-character fingerprints and a
 * Set slot; measured): at most about 6 MB. A fleet of 500 nodes of 8 GPUs has 8,000 links of its
 * own (each GPU's leaf and device certificate) and a handful shared.
 */
export const ISSUED_BY_MEMO_LINKS = 16_384;

export class IssuedByMemo {
  readonly #links = new Set<string>();
  readonly #max: number;
  hits = 0;
  misses = 0;
  constructor(maxLinks = ISSUED_BY_MEMO_LINKS) {
    this.#max = maxLinks;
  }

  /** Whether this exact link (the same DER bytes of both) verified before; a hit makes it the most recent. */
  has(child: X509Certificate, issuer: X509Certificate): boolean {
    const key = linkKey(child, issuer);
    if (!this.#links.has(key)) {
      this.misses++;
      return false;
    }
    this.hits++;
    this.#links.delete(key);
    this.#links.add(key);
    return true;
  }

  /** Remembers a link that verified. */
  add(child: X509Certificate, issuer: X509Certificate): void {
    const key = linkKey(child, issuer);
    this.#links.delete(key);
    if (this.#links.size >= this.#max) this.#links.delete(this.#links.values().next().value!);
    this.#links.add(key);
  }

  get size(): number {
    return this.#links.size;
  }

  /** Forgets every link (benches that measure a cold start). */
  clear(): void {
    this.#links.clear();
  }
}

function linkKey(child: X509Certificate, issuer: X509Certificate): string {
  return `${child.fingerprint256}>${issuer.fingerprint256}`;
}

/** The process's memo: the links of every verifier (SNP, TDX, NVIDIA, the mesh CA) are pure, so one memo serves all. */
export const issuedByMemo = new IssuedByMemo();
