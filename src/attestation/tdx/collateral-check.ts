/**
 * Intel's collateral for one quote, checked: TCB info and QE identity signed under the trust
 * anchor (TCB Signing certificate), current, and evaluated against the quote (TCB status, the
 * quoting enclave's identity); the PCK CRL signed by the CA that issued this PCK certificate (D16)
 * and the root CA CRL, each current and revoking nothing on the way. Which pieces are missing is
 * verify.ts's question; every piece given is checked here.
 */
import type { X509Certificate } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import { commonName } from '../certificate-chain.ts';
import type { CheckId } from '../check-registry.ts';
import { ParseError, type Reason, reason } from '../verdict.ts';
import { type TrustAnchor, validityProblem } from './chain.ts';
import type { TdxVerifierCache } from './chain-cache.ts';
import type { TdxClaims } from './claims.ts';
import type { TdxCollateral } from './collateral.ts';
import { type Crl, crlSignatureProblem, crlValidityProblem, parseCrl, serialHex } from './crl.ts';
import type { PckResult } from './pck-chain.ts';
import { evaluateQe, parseQeIdentity } from './qe-identity.ts';
import type { TdxQuote } from './quote.ts';
import { type SignedJson, verifyIssuerChain, verifySignedJson } from './signed-json.ts';
import { evaluateTcb, parseTcbInfo } from './tcb-info.ts';
import type { TdxVerifyOptions } from './verify.ts';

/** A certificate the root CA CRL may revoke: an intermediate of the PCK chain or a collateral issuer chain. */
interface Revocable {
  readonly cert: X509Certificate;
  /** The trust anchor its chain ends at: only that anchor's CRL speaks about it. */
  readonly anchor: TrustAnchor;
  readonly check: CheckId;
  readonly what: string;
}

export function checkCollateral(
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
