/**
 * Trust anchors for SEV-SNP chains: ARKs (and the ASK/ASVK they signed), checked once when the
 * set is built. The default set is AMD's, pinned in ../roots/amd.ts; simulators pass their own.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { SnpProduct } from '../reference-values.ts';
import { AMD_ROOTS } from '../roots/amd.ts';
import type { SnpSigningKey } from './key-info.ts';

/** One product's ARK with its intermediates, as PEM (the shape of AMD_ROOTS). */
export interface SnpRootSet {
  readonly product: SnpProduct;
  readonly arkPem: string;
  /** ASK: signs VCEKs. */
  readonly askPem?: string;
  /** ASVK: signs VLEKs. */
  readonly asvkPem?: string;
}

export interface SnpAnchor {
  readonly product: SnpProduct;
  readonly ark: X509Certificate;
  /** Intermediates already verified against this ARK, with the key kind each may sign. */
  readonly intermediates: ReadonlyArray<{ readonly cert: X509Certificate; readonly signs: SnpSigningKey }>;
}

/** A checked, immutable set of trust anchors. */
export class SnpRoots {
  readonly anchors: readonly SnpAnchor[];
  /** Fingerprint of the whole set: cache entries made under other roots never match. */
  readonly id: string;

  /** Throws Error if a pinned certificate is malformed or not signed as claimed: a bug, not evidence. */
  constructor(sets: readonly SnpRootSet[]) {
    const hash = createHash('sha256');
    this.anchors = sets.map((set) => {
      const ark = new X509Certificate(set.arkPem);
      if (!ark.ca || !ark.checkIssued(ark) || !ark.verify(ark.publicKey))
        throw new Error(`${set.product} ARK is not a self-signed CA certificate`);
      hash.update(ark.raw);
      const intermediates: Array<{ cert: X509Certificate; signs: SnpSigningKey }> = [];
      for (const [pem, signs] of [
        [set.askPem, 'vcek'],
        [set.asvkPem, 'vlek'],
      ] as const) {
        if (pem === undefined) continue;
        const cert = new X509Certificate(pem);
        if (!cert.ca || !cert.checkIssued(ark) || !cert.verify(ark.publicKey))
          throw new Error(
            `${set.product} ${signs === 'vcek' ? 'ASK' : 'ASVK'} is not a CA certificate signed by the ARK`,
          );
        hash.update(cert.raw);
        intermediates.push({ cert, signs });
      }
      return { product: set.product, ark, intermediates };
    });
    this.id = hash.digest('hex');
  }
}

let amd: SnpRoots | undefined;

/** AMD's pinned roots for Milan, Genoa and Turin (built on first use). */
export function amdRoots(): SnpRoots {
  amd ??= new SnpRoots(AMD_ROOTS);
  return amd;
}
