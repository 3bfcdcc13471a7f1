/**
 * PCS signed JSON: TCB info and QE identity responses, whose ECDSA signature covers the exact
 * bytes of the `tcbInfo` / `enclaveIdentity` member as sent, with the issuer chain PCS returns in
 * the `TCB-Info-Issuer-Chain` / `SGX-Enclave-Identity-Issuer-Chain` header (PEM or URL-encoded
 * PEM). The chain must verify to a trust anchor and start with Intel's TCB Signing certificate.
 */
import { verify as cryptoVerify, type X509Certificate } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import { commonName, type ValidityPeriod } from '../certificate-chain.ts';
import type { CheckId } from '../check-registry.ts';
import { pemCertificates } from '../pem.ts';
import { ParseError, type Reason, reason } from '../verdict.ts';
import { type ChainResult, parseCertificates, type TrustAnchor, validityProblem, verifyChain } from './chain.ts';
import type { TdxVerifierCache } from './chain-cache.ts';

/** The signed JSON pieces, by the check of their parse problems. */
export type SignedJsonCheck = 'tdx.collateral.tcb-info' | 'tdx.collateral.qe-identity';

/** Intel's subject CN for the certificate that signs TCB info and QE identity. */
export const TCB_SIGNING_CN = 'Intel SGX TCB Signing';

/** A verified (or at least parsed) signed JSON member, with what failed. */
export interface SignedJson {
  /** JSON.parse of the signed member; undefined when the body does not parse. */
  readonly value: unknown;
  readonly reasons: readonly Reason[];
  /** The verified issuer chain (TCB Signing certificate first, without the anchor) and its anchor. */
  readonly signer?: { readonly certs: readonly X509Certificate[]; readonly anchor: TrustAnchor };
}

/**
 * Parses a PCS signed JSON response and checks its signature with the issuer chain's leaf, the
 * chain against the trust anchors and its validity at `at`. `check` is the collateral's check id
 * prefix (e.g. `tdx.collateral.tcb-info`); reasons use `<check>` for parse problems and
 * `<check>.signature` for anything about who signed it. With a cache, a response already verified
 * with the same chain is not parsed or verified again (the chain's validity still is, at `at`).
 */
export function verifySignedJson(
  body: string | Uint8Array,
  member: 'tcbInfo' | 'enclaveIdentity',
  issuerChain: string | undefined,
  anchors: readonly TrustAnchor[],
  at: Date,
  check: SignedJsonCheck,
  cache?: TdxVerifierCache,
): SignedJson {
  const text =
    typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const compute = (): SignedJsonResult => examineSignedJson(text, member, issuerChain, anchors, check, cache);
  const result = cache
    ? cache.memo(
        `signed-json/${member}`,
        `${text}\0${issuerChain ?? ''}`,
        anchors,
        compute,
        (r) => r.reasons.length === 0,
      )
    : compute();
  const reasons = [...result.reasons];
  const problem = result.windows === undefined ? undefined : validityProblem(result.windows, at);
  if (problem !== undefined) reasons.push(reason(`${check}.signature` as const, `issuer chain: ${problem}`));
  return { value: result.value, reasons, ...(result.signer ? { signer: result.signer } : {}) };
}

interface SignedJsonResult extends SignedJson {
  /** Validity of the issuer chain, checked per verification time. */
  readonly windows?: readonly ValidityPeriod[];
}

function examineSignedJson(
  text: string,
  member: 'tcbInfo' | 'enclaveIdentity',
  issuerChain: string | undefined,
  anchors: readonly TrustAnchor[],
  check: SignedJsonCheck,
  cache?: TdxVerifierCache,
): SignedJsonResult {
  let signed: string;
  let signature: Uint8Array;
  let value: unknown;
  try {
    signed = rawJsonMember(text, member, check);
    const sigHex = rawJsonMember(text, 'signature', check);
    const sig = JSON.parse(sigHex) as unknown;
    if (typeof sig !== 'string' || !/^[0-9a-fA-F]{128}$/.test(sig))
      throw new ParseError(check, 'signature is not 64 bytes of hex');
    signature = new Uint8Array(Buffer.from(sig, 'hex'));
    value = JSON.parse(signed) as unknown;
  } catch (err) {
    if (err instanceof ParseError) return { value: undefined, reasons: [reason(err.check, err.message)] };
    return { value: undefined, reasons: [reason(check, `response is not JSON: ${errorMessage(err)}`)] };
  }
  const reasons: Reason[] = [];
  const signer = signingCertificate(issuerChain, anchors, `${check}.signature` as const, reasons, cache);
  if (signer !== undefined) {
    let ok = false;
    try {
      ok = cryptoVerify(
        'sha256',
        Buffer.from(signed, 'utf8'),
        { key: signer.leaf.publicKey, dsaEncoding: 'ieee-p1363' },
        signature,
      );
    } catch {
      ok = false;
    }
    if (!ok)
      reasons.push(
        reason(
          `${check}.signature` as const,
          `the ${member} signature does not verify with ${commonName(signer.leaf.subject)}`,
        ),
      );
  }
  return {
    value,
    reasons,
    ...(signer ? { windows: signer.windows, signer: { certs: signer.certs, anchor: signer.anchor } } : {}),
  };
}

/** The verified leaf of a TCB Signing issuer chain and the chain's validity, or undefined with reasons added. */
function signingCertificate(
  issuerChain: string | undefined,
  anchors: readonly TrustAnchor[],
  check: CheckId,
  reasons: Reason[],
  cache?: TdxVerifierCache,
):
  | {
      leaf: X509Certificate;
      certs: readonly X509Certificate[];
      anchor: TrustAnchor;
      windows: readonly ValidityPeriod[];
    }
  | undefined {
  if (issuerChain === undefined) {
    reasons.push(
      reason(check, 'no issuer chain given (the TCB Signing certificate), so the signature cannot be checked'),
    );
    return undefined;
  }
  const result = verifyIssuerChain(issuerChain, anchors, check, cache);
  if (!result.ok) {
    reasons.push(reason(check, `issuer chain: ${result.message}`));
    return undefined;
  }
  const leaf = result.certs[0] as X509Certificate;
  if (commonName(leaf.subject) !== TCB_SIGNING_CN) {
    reasons.push(reason(check, `signed by "${commonName(leaf.subject)}", expected "${TCB_SIGNING_CN}"`));
    return undefined;
  }
  return { leaf, certs: result.certs, anchor: result.anchor, windows: result.windows };
}

/** Decodes a PCS issuer chain (PEM or URL-encoded PEM) and verifies it to the anchors; memoised when ok. */
export function verifyIssuerChain(
  text: string,
  anchors: readonly TrustAnchor[],
  check: CheckId,
  cache?: TdxVerifierCache,
): ChainResult {
  const compute = (): ChainResult => {
    let ders: Uint8Array[];
    try {
      ders = decodeIssuerChain(text, check);
    } catch (err) {
      return { ok: false, message: errorMessage(err) };
    }
    const parsed = parseCertificates(ders);
    return 'message' in parsed ? { ok: false, message: parsed.message } : verifyChain(parsed.certs, anchors);
  };
  return cache ? cache.memo('issuer-chain', text, anchors, compute, (r) => r.ok) : compute();
}

/**
 * The exact text of a top-level member's value in a JSON object, as the signer saw it.
 * JSON.parse then re-serialising would not do: the signature covers the bytes as sent.
 */
export function rawJsonMember(text: string, key: string, check: CheckId): string {
  let i = skipWs(text, 0);
  if (text[i] !== '{') throw new ParseError(check, 'response is not a JSON object');
  i = skipWs(text, i + 1);
  let found: string | undefined;
  while (text[i] !== '}') {
    if (text[i] !== '"') throw new ParseError(check, `expected a member name at offset ${i}`);
    const keyEnd = scanString(text, i, check);
    let name: string;
    try {
      name = JSON.parse(text.slice(i, keyEnd)) as string;
    } catch {
      throw new ParseError(check, `member name at offset ${i} is not a JSON string`);
    }
    i = skipWs(text, keyEnd);
    if (text[i] !== ':') throw new ParseError(check, `expected ':' at offset ${i}`);
    const start = skipWs(text, i + 1);
    const end = scanValue(text, start, check);
    if (name === key) {
      if (found !== undefined) throw new ParseError(check, `member "${key}" appears twice`);
      found = text.slice(start, end);
    }
    i = skipWs(text, end);
    if (text[i] === ',') i = skipWs(text, i + 1);
    else if (text[i] !== '}') throw new ParseError(check, `expected ',' or '}' at offset ${i}`);
  }
  if (skipWs(text, i + 1) !== text.length) throw new ParseError(check, 'data after the JSON object');
  if (found === undefined) throw new ParseError(check, `response has no "${key}" member`);
  return found;
}

function skipWs(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
}

/** End offset (exclusive) of the string starting at `i`. */
function scanString(text: string, i: number, check: CheckId): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === '"') return j + 1;
  }
  throw new ParseError(check, 'unterminated JSON string');
}

/** End offset (exclusive) of the JSON value starting at `i`; JSON.parse validates it later. */
function scanValue(text: string, i: number, check: CheckId): number {
  const c = text[i];
  if (c === '"') return scanString(text, i, check);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text[j];
      if (d === '"') j = scanString(text, j, check) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new ParseError(check, 'unterminated JSON value');
  }
  let j = i;
  while (j < text.length && !/[,}\]\s]/.test(text[j] as string)) j++;
  if (j === i) throw new ParseError(check, `expected a JSON value at offset ${i}`);
  return j;
}

/**
 * Decodes an issuer chain as PCS returns it in a response header (URL-encoded PEM, e.g.
 * `TCB-Info-Issuer-Chain`) or as plain PEM.
 */
export function decodeIssuerChain(text: string, check: CheckId): Uint8Array[] {
  let pem = text.trim();
  if (pem.includes('%')) {
    try {
      pem = decodeURIComponent(pem);
    } catch {
      throw new ParseError(check, 'issuer chain is neither PEM nor URL-encoded PEM');
    }
  }
  return pemCertificates(pem, check, { strict: true });
}
