/**
 * Authenticity of a TDX quote: the quote signature by the QE's attestation key, the QE report
 * that binds that key (REPORTDATA = SHA-256(attestation key || QE auth data) || 32 zero bytes)
 * signed by the PCK key, the PCK chain to a pinned root, and Intel's collateral: its signatures,
 * revocation, and the TCB and QE status it assigns. Without all of the collateral (TCB info, QE
 * identity, PCK CRL, root CA CRL) nothing says the quoting enclave is Intel's, the platform is not
 * out of date or the PCK is not revoked, so a missing piece refuses (as go-tdx-guest and Intel's
 * QVL do) unless the caller lets it pass, and then the claims say the TCB was not evaluated.
 * Every failed check is a Reason; nothing here throws for bad evidence. Whether the TD is the one
 * wanted is appraise.ts's job.
 */
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { bytesEqual, hex } from '../bytes.ts';
import { INTEL_SGX_ROOT_CA_PEM } from '../roots/intel.ts';
import { asReason, type Reason, reason, type Verdict, verdict } from '../verdict.ts';
import { type TrustAnchor, trustAnchors, validityProblem } from './chain.ts';
import type { TdxVerifierCache } from './chain-cache.ts';
import { pckClaims, quoteClaims, type TdxClaims } from './claims.ts';
import { missingCollateral, missingCollateralReason, type TdxCollateral } from './collateral.ts';
import { checkCollateral } from './collateral-check.ts';
import { examinePckChain } from './pck-chain.ts';
import { INTEL_QE_VENDOR_ID, parseTdxQuote, type TdxQuote } from './quote.ts';

export interface TdxEvidence {
  /** The quote (v4 or v5) as the TD produced it. */
  readonly quote: Uint8Array;
}

export interface TdxVerifyOptions {
  /** The time certificates, CRLs and collateral must be valid at (no clock in this package). */
  readonly at: Date;
  /** Roots to trust; default: the pinned Intel SGX Root CA. Simulated evidence passes its own. */
  readonly trust?: readonly TrustAnchor[];
  readonly collateral?: TdxCollateral;
  /**
   * Let missing collateral pass instead of refusing with `tdx.collateral.missing`; the claims then
   * say `tcbEvaluated: false` and name what was missing. Default false. Pieces given are checked.
   */
  readonly allowMissingCollateral?: boolean;
  /** Share one across calls to skip re-verifying chains already seen. */
  readonly cache?: TdxVerifierCache;
}

let intelAnchors: readonly TrustAnchor[] | undefined;

/** The pinned Intel SGX Root CA as a trust anchor list (parsed once). */
export function intelTrustAnchors(): readonly TrustAnchor[] {
  intelAnchors ??= trustAnchors([INTEL_SGX_ROOT_CA_PEM]);
  return intelAnchors;
}

/** Verifies a TDX quote. Never throws for bad evidence. */
export function verifyTdx(evidence: TdxEvidence, options: TdxVerifyOptions): Verdict<TdxClaims> {
  let quote: TdxQuote;
  try {
    quote = parseTdxQuote(evidence.quote);
  } catch (err) {
    return verdict({ platform: 'tdx' }, [asReason(err)]);
  }
  const anchors = options.trust ?? intelTrustAnchors();
  const reasons: Reason[] = [];
  let claims: TdxClaims = quoteClaims(quote);

  if (hex(quote.header.qeVendorId) !== INTEL_QE_VENDOR_ID) {
    reasons.push(
      reason('tdx.qe-vendor-id', `QE vendor ID ${hex(quote.header.qeVendorId)} is not Intel's (${INTEL_QE_VENDOR_ID})`),
    );
  }
  checkQuoteSignature(quote, reasons);
  checkQeReportData(quote, reasons);

  const pck = options.cache
    ? options.cache.memo(
        'pck-chain',
        quote.certification.pckChain,
        anchors,
        () => examinePckChain(quote.certification.pckChain, anchors),
        (p) => p.problems.length === 0,
      )
    : examinePckChain(quote.certification.pckChain, anchors);
  reasons.push(...pck.problems);
  if (pck.windows !== undefined) {
    const problem = validityProblem(pck.windows, options.at);
    if (problem !== undefined) reasons.push(reason('tdx.pck-chain.validity', problem));
  }
  if (pck.extension !== undefined) claims = { ...claims, ...pckClaims(pck.extension) };
  if (
    pck.key !== undefined &&
    !verifyP256(pck.key, quote.certification.qeReportBytes, quote.certification.qeReportSignature)
  ) {
    reasons.push(
      reason('tdx.qe-report-signature', 'the QE report signature does not verify with the PCK certificate key'),
    );
  }

  const missing = missingCollateral(options.collateral);
  claims = {
    ...claims,
    tcbEvaluated: missing.length === 0,
    ...(missing.length > 0 ? { missingCollateral: missing } : {}),
  };
  if (missing.length > 0 && options.allowMissingCollateral !== true) reasons.push(missingCollateralReason(missing));
  if (options.collateral !== undefined) {
    claims = checkCollateral(quote, pck, options.collateral, anchors, options, reasons, claims);
  }
  return verdict(claims, reasons);
}

function checkQuoteSignature(quote: TdxQuote, reasons: Reason[]): void {
  const key = attestationKey(quote.attestationKey);
  if (key === undefined) {
    reasons.push(reason('tdx.quote-signature', 'the attestation key is not a P-256 point'));
  } else if (!verifyP256(key, quote.signedBytes, quote.signature)) {
    reasons.push(
      reason(
        'tdx.quote-signature',
        'the quote signature over header and TD report body does not verify with the attestation key',
      ),
    );
  }
}

function checkQeReportData(quote: TdxQuote, reasons: Reason[]): void {
  const c = quote.certification;
  const expected = new Uint8Array(64);
  expected.set(createHash('sha256').update(quote.attestationKey).update(c.qeAuthData).digest());
  if (!bytesEqual(c.qeReport.reportData, expected)) {
    reasons.push(
      reason(
        'tdx.qe-report-data',
        `QE report data ${hex(c.qeReport.reportData)} is not SHA-256(attestation key || QE auth data) || 32 zero bytes (${hex(expected)})`,
      ),
    );
  }
}

/** The QE's raw X||Y attestation key as a KeyObject; undefined when not a P-256 point. */
function attestationKey(xy: Uint8Array): KeyObject | undefined {
  try {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(xy.subarray(0, 32)).toString('base64url'),
        y: Buffer.from(xy.subarray(32, 64)).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch {
    return undefined;
  }
}

/** ECDSA P-256 SHA-256 over `data` with a raw r||s signature. */
function verifyP256(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}
