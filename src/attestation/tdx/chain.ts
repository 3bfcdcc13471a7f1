/**
 * The PCK chain and PCS issuer chains, leaf first, to a pinned trust anchor (default the Intel
 * SGX Root CA): the shared path check of ../certificate-chain.ts on Node's X509Certificate, with
 * the validity periods kept apart so that a cached chain result stays correct for any time.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import { chainToAnchor, type ValidityPeriod, validityPeriod, validityProblems } from '../certificate-chain.ts';

/** A certificate the verifier trusts by configuration (default: the pinned Intel SGX Root CA). */
export interface TrustAnchor {
  readonly cert: X509Certificate;
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprint: string;
}

/** Builds trust anchors from PEM or DER; a bad anchor is a configuration bug, so this throws. */
export function trustAnchors(certs: readonly (string | Uint8Array)[]): TrustAnchor[] {
  return certs.map((c) => {
    const cert = new X509Certificate(typeof c === 'string' ? c : Buffer.from(c));
    return { cert, fingerprint: createHash('sha256').update(cert.raw).digest('hex') };
  });
}

export type ChainResult =
  | {
      readonly ok: true;
      /** The chain's certificates, leaf first, without the anchor. */
      readonly certs: readonly X509Certificate[];
      readonly anchor: TrustAnchor;
      /** Of the certificates and the anchor. */
      readonly windows: readonly ValidityPeriod[];
    }
  | { readonly ok: false; readonly message: string };

/** Parses DER certificates with Node's X509Certificate; a message when one does not parse. */
export function parseCertificates(ders: readonly Uint8Array[]): { certs: X509Certificate[] } | { message: string } {
  const certs: X509Certificate[] = [];
  for (const [i, der] of ders.entries()) {
    try {
      certs.push(new X509Certificate(Buffer.from(der.buffer, der.byteOffset, der.byteLength)));
    } catch (err) {
      return { message: `certificate ${i + 1} does not parse: ${errorMessage(err)}` };
    }
  }
  return { certs };
}

/** Verifies that `chain` (leaf first) leads to one of `anchors` (certificate-chain.ts). */
export function verifyChain(chain: readonly X509Certificate[], anchors: readonly TrustAnchor[]): ChainResult {
  const checked = chainToAnchor(
    chain,
    anchors.map((a) => a.cert),
  );
  const anchor = anchors.find((a) => a.cert === checked.anchor);
  if (checked.problems.length > 0 || anchor === undefined)
    return { ok: false, message: checked.problems.join('; ') || 'the chain does not lead to a trusted root' };
  return { ok: true, certs: checked.path, anchor, windows: [...checked.path, anchor.cert].map(validityPeriod) };
}

/** Every certificate in `windows` that is not valid at `at`, as one message; undefined when all are. */
export function validityProblem(windows: readonly ValidityPeriod[], at: Date): string | undefined {
  const problems = validityProblems(windows, at);
  return problems.length > 0 ? problems.join('; ') : undefined;
}
