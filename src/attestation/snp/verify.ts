/**
 * Authenticity of an SEV-SNP report: its signature, the endorsement certificate's chain to a
 * pinned AMD root, and the report fields the certificate vouches for (TCB, chip, key kind,
 * product). No reference values here: see appraise.ts. Never throws for bad evidence.
 */
import { asReason, type Reason, reason, verdict } from '../verdict.ts';
import { type SortedCertificates, sortCertificates } from './certificates.ts';
import { buildChain, type ChainPath, chainValidityReasons } from './chain.ts';
import { type SnpClaims, snpClaims } from './claims.ts';
import { checkCrl } from './crl.ts';
import { type EndorsementCertificate, parseEndorsementCertificate } from './endorsement.ts';
import type { PreparedEndorsement, SnpEndorsementCache } from './endorsement-cache.ts';
import { decodeKeyInfo } from './key-info.ts';
import { productFromCpuid } from './product.ts';
import { parseSnpReport, reportFormatProblems, type SnpReport } from './report.ts';
import { amdRoots, type SnpRoots } from './roots.ts';
import { checkReportSignature } from './signature.ts';
import { tcbAbove, tcbClaims } from './tcb.ts';

export interface SnpEvidence {
  /** The 1184-byte ATTESTATION_REPORT. */
  readonly report: Uint8Array;
  /**
   * The certificates that came with the report (the certificate table of an extended report):
   * the VCEK/VLEK as DER or PEM, or a PEM bundle of VCEK/VLEK [+ ASK/ASVK + ARK].
   */
  readonly certificates?: Uint8Array | string;
}

/** AMD collateral for one report (files, the cache or KDS; this package never fetches). */
export interface SnpCollateral {
  /** The VCEK/VLEK (as SnpEvidence.certificates) for a report that came without one. */
  readonly certificates?: Uint8Array | string;
  /** AMD KDS CRL (DER) for the product; when given, the chain's ASK/ASVK must not be revoked. */
  readonly crl?: Uint8Array;
}

export interface SnpVerifyOptions {
  /** The time at which certificates (and the CRL) must be valid. */
  readonly at: Date;
  /** Trust anchors; default AMD's pinned roots. Evidence never adds to them. */
  readonly trust?: SnpRoots;
  readonly collateral?: SnpCollateral;
  /** Cache of checked chains (see SnpEndorsementCache). */
  readonly cache?: SnpEndorsementCache;
}

/** A verdict whose claims are complete whenever it is verified. */
export type SnpVerdict =
  | { readonly verified: true; readonly reasons: readonly Reason[]; readonly claims: SnpClaims }
  | { readonly verified: false; readonly reasons: readonly Reason[]; readonly claims: SnpClaims | null };

/** Reads the certificates and finds the chain to a root: the time-independent, cacheable part. */
export function prepareEndorsement(certificates: Uint8Array | string, roots: SnpRoots): PreparedEndorsement {
  let leaf: EndorsementCertificate;
  let sorted: SortedCertificates;
  try {
    sorted = sortCertificates(certificates);
    leaf = parseEndorsementCertificate(sorted.leaf.der, sorted.leaf.x509);
  } catch (err) {
    return { leaf: null, path: null, reasons: [asReason(err)] };
  }
  const { path, reasons } = buildChain(leaf, sorted.intermediates, roots);
  return { leaf, path, reasons };
}

/** Verifies the report's authenticity; every failed check is a reason, none throws. */
export function verifySnp(evidence: SnpEvidence, options: SnpVerifyOptions): SnpVerdict {
  const roots = options.trust ?? amdRoots();
  const reasons: Reason[] = [];

  let report: SnpReport | null = null;
  try {
    report = parseSnpReport(evidence.report);
  } catch (err) {
    reasons.push(asReason(err));
  }

  let leaf: EndorsementCertificate | null = null;
  let path: ChainPath | null = null;
  const certificates = evidence.certificates ?? options.collateral?.certificates;
  if (certificates === undefined) {
    reasons.push(
      reason('snp.certificates', 'no VCEK/VLEK: the evidence has no certificate table and none is in the collateral'),
    );
  } else {
    const prepare = (): PreparedEndorsement => prepareEndorsement(certificates, roots);
    const endorsement = options.cache ? options.cache.getOrCompute(roots.id, certificates, prepare) : prepare();
    ({ leaf, path } = endorsement);
    reasons.push(...endorsement.reasons);
    if (leaf) reasons.push(...chainValidityReasons(leaf.x509, path, options.at));
    const crl = options.collateral?.crl;
    if (crl !== undefined && path) reasons.push(...checkCrl(crl, path.anchor.ark, [path.intermediate], options.at));
  }

  if (report === null) return verdict(null, reasons) as SnpVerdict;

  for (const problem of reportFormatProblems(report)) reasons.push(reason('snp.report.reserved', problem));

  const cpuidProduct = report.cpuid ? productFromCpuid(report.cpuid.family, report.cpuid.model) : null;
  const certProduct = leaf?.product ?? null;
  if (cpuidProduct !== null && certProduct !== null && cpuidProduct !== certProduct) {
    reasons.push(
      reason('snp.product.cpuid', `report CPUID says ${cpuidProduct}, the certificate says ${leaf!.productName}`),
    );
  }
  const product = cpuidProduct ?? certProduct;
  if (product === null) {
    const cpuid = report.cpuid
      ? `CPUID family ${report.cpuid.family.toString(16)}h model ${report.cpuid.model.toString(16)}h`
      : 'no CPUID (version 2)';
    reasons.push(
      reason(
        'snp.product.unknown',
        `unknown product: ${cpuid}, certificate product ${leaf?.productName ?? 'unavailable'}`,
      ),
    );
  }

  if (leaf) {
    reasons.push(...checkReportSignature(report, leaf.publicKey));
    reasons.push(...endorsementBindingReasons(report, leaf));
  }
  return verdict(snpClaims(report, product, leaf, path?.anchor.product ?? null), reasons) as SnpVerdict;
}

/** The report fields the endorsement certificate vouches for: key kind, TCB (equal to REPORTED_TCB, not above CURRENT_TCB), chip. */
function endorsementBindingReasons(report: SnpReport, leaf: EndorsementCertificate): Reason[] {
  const out: Reason[] = [];
  const key = decodeKeyInfo(report.keyInfo);
  if (key.signingKey !== leaf.kind) {
    const says =
      key.signingKey === null
        ? `SIGNING_KEY ${key.signingKeyValue} (${key.signingKeyValue === 7 ? 'none' : 'reserved'})`
        : key.signingKey.toUpperCase();
    out.push(
      reason(
        'snp.signing-key',
        `report names ${says} as its signing key, the certificate is a ${leaf.kind.toUpperCase()}`,
      ),
    );
  }
  if (report.reportedTcb !== leaf.tcb) {
    // Decode both with the certificate's product: the certificate is what the TCB is matched against.
    const r = tcbClaims(report.reportedTcb, leaf.product);
    const c = tcbClaims(leaf.tcb, leaf.product);
    out.push(
      reason('snp.tcb.certificate', `REPORTED_TCB ${r.raw} differs from the ${leaf.kind.toUpperCase()}'s TCB ${c.raw}`),
    );
  }
  // A certificate for a TCB the platform does not run (go-sev-guest validateTcb: certificate TCB <= CURRENT_TCB).
  const above = tcbAbove(leaf.tcb, report.currentTcb, leaf.product);
  if (above.length > 0) {
    const c = tcbClaims(leaf.tcb, leaf.product);
    const cur = tcbClaims(report.currentTcb, leaf.product);
    out.push(
      reason(
        'snp.tcb.certificate-current',
        `the ${leaf.kind.toUpperCase()}'s TCB ${c.raw} is above CURRENT_TCB ${cur.raw} (${above.join(', ')})`,
      ),
    );
  }
  if (leaf.kind === 'vcek' && !key.maskChipId) {
    const hwId = leaf.extensions.hwId!;
    // Turin hwIDs are 8 bytes: the first 8 bytes of CHIP_ID (go-sev-guest kds.TurinHWIDSize).
    const chip = report.chipId.subarray(0, hwId.length);
    if (!Buffer.from(chip).equals(Buffer.from(hwId))) {
      out.push(
        reason(
          'snp.chip-id',
          `CHIP_ID ${Buffer.from(report.chipId).toString('hex').slice(0, 16)}... differs from the VCEK hwID ${Buffer.from(hwId).toString('hex').slice(0, 16)}...`,
        ),
      );
    }
  }
  return out;
}
