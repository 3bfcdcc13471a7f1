/**
 * SEV-SNP collateral for one report: its VCEK (plus the product's ASK/ARK chain) and the
 * product's CRL. The product comes from the report's CPUID (version 3 and later); version 2
 * reports do not say it, so their VCEK is fetched only when the operator names the product, and
 * is otherwise looked for under every product in the cache. VLEKs are not served by KDS to
 * verifiers: a VLEK-signed report must bring its VLEK in the certificate table.
 */

import { toPem } from '../attestation/pem.ts';
import type { SnpProduct } from '../attestation/reference-values.ts';
import { decodeKeyInfo } from '../attestation/snp/key-info.ts';
import { productFromCpuid, SNP_PRODUCTS } from '../attestation/snp/product.ts';
import { parseSnpReport, type SnpReport } from '../attestation/snp/report.ts';
import { ParseError } from '../attestation/verdict.ts';
import { describeMiss, foundNotes } from './notes.ts';
import type { CollateralStore } from './store.ts';

export interface SnpCollateralOptions {
  /** The product of reports that do not say it (version 2). */
  readonly product?: SnpProduct;
}

export interface SnpCertificates {
  /** VCEK PEM, followed by the ASK and ARK when the cache or KDS has them. */
  readonly pem?: string;
  /** The product the VCEK was found for. */
  readonly product?: SnpProduct;
  readonly notes: string[];
}

/** The VCEK (+ chain) for a report without a certificate table. */
export async function snpCertificates(
  store: CollateralStore,
  reportBytes: Uint8Array,
  options: SnpCollateralOptions = {},
): Promise<SnpCertificates> {
  const report = parse(reportBytes);
  if (!report) return { notes: [] }; // the verifier reports what is wrong with the report
  const key = decodeKeyInfo(report.keyInfo).signingKey;
  if (key !== 'vcek')
    return {
      notes: [
        `the report is signed by ${key === 'vlek' ? 'a VLEK, which KDS does not serve to verifiers: it must come in the certificate table' : 'no endorsement key'}`,
      ],
    };
  if (report.chipId.every((b) => b === 0))
    return {
      notes: ['the report masks CHIP_ID, so its VCEK cannot be looked up: it must come in the certificate table'],
    };

  const known = reportProduct(report) ?? options.product;
  const notes: string[] = [];
  // Without a product, only the cache is searched: guessing at KDS would cost requests per attestation.
  const candidates = known ? [known] : SNP_PRODUCTS;
  for (const product of candidates) {
    const vcek = known
      ? await store.snpVcek(product, report.chipId, report.reportedTcb)
      : await store.offline().snpVcek(product, report.chipId, report.reportedTcb);
    if (vcek.status !== 'found') {
      if (known) notes.push(describeMiss(vcek));
      continue;
    }
    notes.push(...foundNotes(vcek));
    const chain = await store.snpCertChain(product);
    if (chain.status !== 'found') notes.push(`${describeMiss(chain)} (the pinned ASK/ARK are used)`);
    else notes.push(...foundNotes(chain));
    return { pem: toPem(vcek.value) + (chain.status === 'found' ? chain.value : ''), product, notes };
  }
  if (!known)
    notes.push(
      `the report (version ${report.version}) does not name its product and no cached VCEK matches its chip and TCB; name the product to fetch it from KDS`,
    );
  return { notes };
}

/** The product's KDS CRL, when the product is known (a CRL of another product's ARK would be refused). */
export async function snpCrl(
  store: CollateralStore,
  reportBytes: Uint8Array,
  options: SnpCollateralOptions & { readonly foundProduct?: SnpProduct } = {},
): Promise<{ crl?: Uint8Array; notes: string[] }> {
  const report = parse(reportBytes);
  if (!report) return { notes: [] };
  const product = reportProduct(report) ?? options.foundProduct ?? options.product;
  if (!product) return { notes: [`no CRL: the report (version ${report.version}) does not name its product`] };
  const signer = decodeKeyInfo(report.keyInfo).signingKey === 'vlek' ? 'vlek' : 'vcek';
  const crl = await store.snpCrl(product, signer);
  if (crl.status !== 'found') return { notes: [describeMiss(crl)] };
  return { crl: crl.value, notes: foundNotes(crl) };
}

function parse(bytes: Uint8Array): SnpReport | undefined {
  try {
    return parseSnpReport(bytes);
  } catch (err) {
    if (err instanceof ParseError) return undefined;
    throw err;
  }
}

function reportProduct(report: SnpReport): SnpProduct | undefined {
  return report.cpuid ? (productFromCpuid(report.cpuid.family, report.cpuid.model) ?? undefined) : undefined;
}
