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
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject, type X509Certificate } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import { bytesEqual, hex } from '../bytes.ts';
import { commonName, type ValidityPeriod } from '../certificate-chain.ts';
import type { CheckId } from '../check-registry.ts';
import { pemCertificates } from '../pem.ts';
import { INTEL_SGX_ROOT_CA_PEM } from '../roots/intel.ts';
import { ParseError, type Reason, reason, type Verdict, verdict } from '../verdict.ts';
import { parseCertificates, type TrustAnchor, trustAnchors, validityProblem, verifyChain } from './chain.ts';
import type { TdxVerifierCache } from './chain-cache.ts';
import { pckClaims, quoteClaims, type TdxClaims } from './claims.ts';
import {
  missingCollateral,
  missingCollateralReason,
  type SignedJson,
  type TdxCollateral,
  verifyIssuerChain,
  verifySignedJson,
} from './collateral.ts';
import { type Crl, crlSignatureProblem, crlValidityProblem, parseCrl, serialHex } from './crl.ts';
import { type PckExtension, parsePckExtension } from './pck.ts';
import { evaluateQe, parseQeIdentity } from './qe-identity.ts';
import { INTEL_QE_VENDOR_ID, parseTdxQuote, type TdxQuote } from './quote.ts';
import { evaluateTcb, parseTcbInfo } from './tcb-info.ts';

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

/** Subject CN Intel gives PCK certificates. */
export const PCK_CN = 'Intel SGX PCK Certificate';

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
    if (err instanceof ParseError) return verdict({ platform: 'tdx' }, [reason(err.check, err.message)]);
    throw err;
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

/** What the PCK chain gave: cached as a whole when it has no problems. */
interface PckResult {
  readonly problems: readonly Reason[];
  readonly leaf?: X509Certificate;
  readonly key?: KeyObject;
  readonly extension?: PckExtension;
  /** Certificates the chain verification used, leaf first, and the anchor. */
  readonly certs?: readonly X509Certificate[];
  readonly anchor?: TrustAnchor;
  readonly windows?: readonly ValidityPeriod[];
}

function examinePckChain(pem: Uint8Array, anchors: readonly TrustAnchor[]): PckResult {
  let ders: Uint8Array[];
  try {
    ders = pemCertificates(pem, 'tdx.pck-chain', { strict: true });
  } catch (err) {
    return { problems: [reason('tdx.pck-chain', errorMessage(err))] };
  }
  const parsed = parseCertificates(ders);
  if ('message' in parsed) return { problems: [reason('tdx.pck-chain', parsed.message)] };
  const leaf = parsed.certs[0] as X509Certificate;
  const problems: Reason[] = [];
  const key = p256Key(leaf);
  if (key === undefined) problems.push(reason('tdx.pck-chain', 'the PCK certificate key is not an ECDSA P-256 key'));
  if (commonName(leaf.subject) !== PCK_CN)
    problems.push(
      reason('tdx.pck-chain', `the leaf certificate is "${commonName(leaf.subject)}", expected "${PCK_CN}"`),
    );
  let extension: PckExtension | undefined;
  try {
    extension = parsePckExtension(ders[0] as Uint8Array);
  } catch (err) {
    problems.push(reason(err instanceof ParseError ? err.check : 'tdx.pck-extension', errorMessage(err)));
  }
  const chain = verifyChain(parsed.certs, anchors);
  if (!chain.ok) problems.push(reason('tdx.pck-chain', chain.message));
  return {
    problems,
    leaf,
    ...(key ? { key } : {}),
    ...(extension ? { extension } : {}),
    ...(chain.ok ? { certs: chain.certs, anchor: chain.anchor, windows: chain.windows } : {}),
  };
}

/** A certificate the root CA CRL may revoke: an intermediate of the PCK chain or a collateral issuer chain. */
interface Revocable {
  readonly cert: X509Certificate;
  /** The trust anchor its chain ends at: only that anchor's CRL speaks about it. */
  readonly anchor: TrustAnchor;
  readonly check: CheckId;
  readonly what: string;
}

function checkCollateral(
  quote: TdxQuote,
  pck: PckResult,
  collateral: TdxCollateral,
  anchors: readonly TrustAnchor[],
  options: TdxVerifyOptions,
  reasons: Reason[],
  claims: TdxClaims,
): TdxClaims {
  const at = options.at;
  const revocable: Revocable[] = [];
  if (pck.anchor !== undefined) {
    for (const cert of pck.certs?.slice(1) ?? [])
      revocable.push({ cert, anchor: pck.anchor, check: 'tdx.pck-revoked', what: 'the PCK chain' });
  }
  if (collateral.pckCrl !== undefined)
    checkPckCrl(collateral, collateral.pckCrl, pck, anchors, options, reasons, revocable);

  const signedBy = ({ signer }: SignedJson, what: string): void => {
    if (signer === undefined) return;
    for (const cert of signer.certs)
      revocable.push({ cert, anchor: signer.anchor, check: 'tdx.collateral.tcb-signing-revoked', what });
  };
  if (collateral.tcbInfo !== undefined) {
    const check = 'tdx.collateral.tcb-info';
    const signed = verifySignedJson(
      collateral.tcbInfo,
      'tcbInfo',
      collateral.tcbInfoIssuerChain,
      anchors,
      at,
      check,
      options.cache,
    );
    reasons.push(...signed.reasons);
    signedBy(signed, 'the TCB info issuer chain');
    const info = parseCollateral(signed.value, parseTcbInfo, check, reasons);
    if (info !== undefined) {
      freshness(info.issueDate, info.nextUpdate, at, `${check}.validity` as const, 'TCB info', reasons);
      if (pck.extension === undefined) {
        reasons.push(reason('tdx.tcb-status', 'no PCK TCB to evaluate against TCB info'));
      } else {
        const e = evaluateTcb(info, pck.extension, quote.body);
        reasons.push(...e.problems);
        claims = {
          ...claims,
          tcbStatus: e.status,
          ...(e.level ? { tcbDate: e.level.tcbDate } : {}),
          advisoryIds: e.advisoryIds,
          ...(e.moduleStatus ? { tdxModuleTcbStatus: e.moduleStatus } : {}),
        };
      }
    }
  }

  if (collateral.qeIdentity !== undefined) {
    const check = 'tdx.collateral.qe-identity';
    const chain = collateral.qeIdentityIssuerChain ?? collateral.tcbInfoIssuerChain;
    const signed = verifySignedJson(collateral.qeIdentity, 'enclaveIdentity', chain, anchors, at, check, options.cache);
    reasons.push(...signed.reasons);
    signedBy(signed, 'the QE identity issuer chain');
    const identity = parseCollateral(signed.value, parseQeIdentity, check, reasons);
    if (identity !== undefined) {
      freshness(identity.issueDate, identity.nextUpdate, at, `${check}.validity` as const, 'QE identity', reasons);
      const e = evaluateQe(identity, quote.certification.qeReport);
      reasons.push(...e.problems);
      claims = { ...claims, qeTcbStatus: e.status };
    }
  }

  if (collateral.rootCrl !== undefined) checkRootCrl(collateral.rootCrl, pck, anchors, options, reasons, revocable);
  return claims;
}

/** A CRL parsed and its signature checked by one of `issuers`, memoised by CRL bytes and issuers. */
interface CheckedCrl {
  readonly crl?: Crl;
  /** The issuer whose name and key the CRL carries, when one does. */
  readonly issuer?: X509Certificate;
  readonly problems: readonly Reason[];
}

function checkedCrl(
  data: Uint8Array,
  issuers: readonly X509Certificate[],
  check: 'tdx.collateral.pck-crl' | 'tdx.collateral.root-crl',
  cache: TdxVerifierCache | undefined,
): CheckedCrl {
  const compute = (): CheckedCrl => {
    const problems: Reason[] = [];
    const crl = parseCollateral(data, (d) => parseCrl(d as Uint8Array, check), check, problems);
    if (crl === undefined) return { problems };
    if (issuers.length === 0) return { crl, problems };
    const signature = issuers.map((i) => crlSignatureProblem(crl, i));
    const index = signature.indexOf(undefined);
    if (index < 0) problems.push(reason(`${check}.signature` as const, signature[0] as string));
    return { crl, problems, ...(index >= 0 ? { issuer: issuers[index] } : {}) };
  };
  if (!cache) return compute();
  const key = Buffer.concat([data, ...issuers.map((i) => i.raw)]);
  return cache.memo(`crl/${issuers.length}`, key, [], compute, (r) => r.problems.length === 0);
}

/**
 * The root CA CRL: issued by the anchor the PCK chain ends at (or, without one, any anchor), and
 * checked against every certificate that anchor issued on the way: the PCK CA and the TCB Signing
 * certificate of TCB info and QE identity.
 */
function checkRootCrl(
  data: Uint8Array,
  pck: PckResult,
  anchors: readonly TrustAnchor[],
  options: TdxVerifyOptions,
  reasons: Reason[],
  revocable: readonly Revocable[],
): void {
  const check = 'tdx.collateral.root-crl';
  const { crl, issuer, problems } = checkedCrl(
    data,
    (pck.anchor ? [pck.anchor] : anchors).map((a) => a.cert),
    check,
    options.cache,
  );
  reasons.push(...problems);
  if (crl === undefined) return;
  const stale = crlValidityProblem(crl, options.at);
  if (stale !== undefined) reasons.push(reason(`${check}.validity` as const, stale));
  if (issuer === undefined) return; // signature refused above: its list proves nothing
  const seen = new Set<string>();
  for (const r of revocable) {
    if (r.anchor.cert !== issuer && !r.anchor.cert.raw.equals(issuer.raw)) continue;
    const key = `${r.check}/${r.cert.fingerprint256}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (crl.revokedSerials.has(serialHex(r.cert.serialNumber))) {
      reasons.push(
        reason(
          r.check,
          `${commonName(r.cert.subject)} (serial ${r.cert.serialNumber}) in ${r.what} is revoked by the root CA CRL`,
        ),
      );
    }
  }
}

/**
 * The PCK CRL counts only when the CA that issued this PCK certificate signed it: a CRL of
 * another Intel CA (the Processor CA's for a Platform CA PCK) is genuine but silent about this
 * certificate. So it is checked with the PCK's issuer from the verified quote chain, and an issuer
 * chain given with it must name that same CA.
 */
function checkPckCrl(
  collateral: TdxCollateral,
  data: Uint8Array,
  pck: PckResult,
  anchors: readonly TrustAnchor[],
  options: TdxVerifyOptions,
  reasons: Reason[],
  revocable: Revocable[],
): void {
  const check = 'tdx.collateral.pck-crl';
  const issuer = pck.certs === undefined ? undefined : (pck.certs[1] ?? pck.anchor?.cert);
  if (issuer === undefined)
    reasons.push(reason(`${check}.signature` as const, 'no verified PCK issuer to check the PCK CRL with'));
  if (collateral.pckCrlIssuerChain !== undefined) {
    const chain = verifyIssuerChain(
      collateral.pckCrlIssuerChain,
      anchors,
      `${check}.signature` as const,
      options.cache,
    );
    if (!chain.ok) {
      reasons.push(reason(`${check}.signature` as const, `CRL issuer chain: ${chain.message}`));
    } else {
      const problem = validityProblem(chain.windows, options.at);
      if (problem !== undefined) reasons.push(reason(`${check}.signature` as const, `CRL issuer chain: ${problem}`));
      const named = chain.certs[0] as X509Certificate;
      if (issuer !== undefined && !sameSubjectAndKey(named, issuer)) {
        reasons.push(
          reason(
            `${check}.issuer` as const,
            `the CRL issuer chain names ${commonName(named.subject)}, not the CA that issued the PCK certificate (${commonName(issuer.subject)})`,
          ),
        );
      }
      for (const cert of chain.certs)
        revocable.push({ cert, anchor: chain.anchor, check: 'tdx.pck-revoked', what: 'the PCK CRL issuer chain' });
    }
  }
  const { crl, problems } = checkedCrl(data, issuer ? [issuer] : [], check, options.cache);
  reasons.push(...problems);
  if (crl === undefined) return;
  const stale = crlValidityProblem(crl, options.at);
  if (stale !== undefined) reasons.push(reason(`${check}.validity` as const, stale));
  if (pck.leaf !== undefined && crl.revokedSerials.has(serialHex(pck.leaf.serialNumber))) {
    reasons.push(
      reason('tdx.pck-revoked', `the PCK certificate (serial ${pck.leaf.serialNumber}) is revoked by the PCK CRL`),
    );
  }
}

function sameSubjectAndKey(a: X509Certificate, b: X509Certificate): boolean {
  if (a.subject !== b.subject) return false;
  try {
    return a.publicKey
      .export({ type: 'spki', format: 'der' })
      .equals(b.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}

/** Parses a piece of collateral, turning a ParseError into a reason. */
function parseCollateral<T>(
  value: unknown,
  parse: (v: unknown) => T,
  check: CheckId,
  reasons: Reason[],
): T | undefined {
  if (value === undefined) return undefined;
  try {
    return parse(value);
  } catch (err) {
    if (err instanceof ParseError) {
      reasons.push(reason(err.check, err.message));
      return undefined;
    }
    reasons.push(reason(check, `does not parse: ${errorMessage(err)}`));
    return undefined;
  }
}

function freshness(issueDate: Date, nextUpdate: Date, at: Date, check: CheckId, what: string, reasons: Reason[]): void {
  if (at.getTime() < issueDate.getTime())
    reasons.push(
      reason(
        check,
        `${what} was issued at ${issueDate.toISOString()}, after the verification time ${at.toISOString()}`,
      ),
    );
  else if (at.getTime() > nextUpdate.getTime())
    reasons.push(
      reason(check, `${what} expired at ${nextUpdate.toISOString()} (nextUpdate; time ${at.toISOString()})`),
    );
}

/** The certificate's key if it is a valid P-256 key (Node throws on keys it cannot decode). */
function p256Key(cert: X509Certificate): KeyObject | undefined {
  try {
    const key = cert.publicKey;
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? key : undefined;
  } catch {
    return undefined;
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
