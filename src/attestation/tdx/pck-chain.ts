/**
 * The PCK chain in a TDX quote's certification data: strict PEM, each certificate parsed, the leaf
 * Intel's PCK certificate with a P-256 key and an SGX extension, the chain verified to a trust
 * anchor. Time-independent, so verify.ts caches the result for a chain it has seen.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import { commonName, type ValidityPeriod } from '../certificate-chain.ts';
import { pemCertificates } from '../pem.ts';
import { ParseError, type Reason, reason } from '../verdict.ts';
import { parseCertificates, type TrustAnchor, verifyChain } from './chain.ts';
import { type PckExtension, parsePckExtension } from './pck.ts';

/** Subject CN Intel gives PCK certificates. */
export const PCK_CN = 'Intel SGX PCK Certificate';

/** What the PCK chain gave: cached as a whole when it has no problems. */
export interface PckResult {
  readonly problems: readonly Reason[];
  readonly leaf?: X509Certificate;
  readonly key?: KeyObject;
  readonly extension?: PckExtension;
  /** Certificates the chain verification used, leaf first, and the anchor. */
  readonly certs?: readonly X509Certificate[];
  readonly anchor?: TrustAnchor;
  readonly windows?: readonly ValidityPeriod[];
}

export function examinePckChain(pem: Uint8Array, anchors: readonly TrustAnchor[]): PckResult {
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

/** The certificate's key if it is a valid P-256 key (Node throws on keys it cannot decode). */
function p256Key(cert: X509Certificate): KeyObject | undefined {
  try {
    const key = cert.publicKey;
    return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? key : undefined;
  } catch {
    return undefined;
  }
}
