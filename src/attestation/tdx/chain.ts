/**
 * X.509 chains to a pinned trust anchor. The evidence supplies leaf-first certificates; the walk
 * goes up from the leaf and stops at the first certificate a trust anchor signed, so a root that
 * travels with the evidence is never trusted for what it is: it must be the pinned one, byte for
 * byte, or the chain is refused. Signatures and structure are checked here; validity at a time is a
 * separate step so that a cached chain result stays correct for any verification time.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { errorMessage } from '../../errors.ts';

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

/** One certificate's validity window, kept so that time checks do not need the certificate. */
export interface ValidityWindow {
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export type ChainResult =
  | {
      readonly ok: true;
      readonly certs: readonly X509Certificate[];
      readonly anchor: TrustAnchor;
      readonly windows: readonly ValidityWindow[];
    }
  | { readonly ok: false; readonly message: string };

/** Parses DER certificates with Node's X509Certificate; undefined plus a message when one does not parse. */
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

/**
 * Verifies that `chain` (leaf first) leads to one of `anchors`: every certificate is issued and
 * signed by the next one (names, key identifiers, key usage, CA flag) until one is signed by an
 * anchor. After that point the chain may only hold a byte-identical copy of that anchor.
 */
export function verifyChain(chain: readonly X509Certificate[], anchors: readonly TrustAnchor[]): ChainResult {
  const used: X509Certificate[] = [];
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i] as X509Certificate;
    used.push(cert);
    for (const anchor of anchors) {
      if (issuedBy(cert, anchor.cert)) {
        // What follows may only be the anchor itself (evidence usually carries the root): any other
        // certificate there would be bytes nobody checks.
        const rest = chain.slice(i + 1);
        if (rest.length > 1 || (rest.length === 1 && !(rest[0] as X509Certificate).raw.equals(anchor.cert.raw))) {
          return {
            ok: false,
            message: `certificate ${i + 2} (${cn((rest[0] as X509Certificate).subject)}) follows the one the trusted root issued but is not that trusted root`,
          };
        }
        return { ok: true, certs: used, anchor, windows: [...used, anchor.cert].map(windowOf) };
      }
    }
    const issuer = chain[i + 1];
    if (issuer === undefined) break;
    if (!issuedBy(cert, issuer)) {
      return {
        ok: false,
        message: `certificate ${i + 1} (${cn(cert.subject)}) is not issued and signed by certificate ${i + 2} (${cn(issuer.subject)})`,
      };
    }
  }
  return {
    ok: false,
    message: `the chain (${chain.map((c) => cn(c.subject)).join(' -> ')}) does not lead to a trusted root`,
  };
}

/** The first certificate in `windows` that is not valid at `at`, as a message; undefined when all are. */
export function validityProblem(windows: readonly ValidityWindow[], at: Date): string | undefined {
  const t = at.getTime();
  for (const w of windows) {
    if (t < w.notBefore.getTime())
      return `${cn(w.subject)} is not valid before ${w.notBefore.toISOString()} (time ${at.toISOString()})`;
    if (t > w.notAfter.getTime())
      return `${cn(w.subject)} expired at ${w.notAfter.toISOString()} (time ${at.toISOString()})`;
  }
  return undefined;
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  if (!issuer.ca || !cert.checkIssued(issuer)) return false;
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function windowOf(cert: X509Certificate): ValidityWindow {
  return { subject: cert.subject, notBefore: cert.validFromDate, notAfter: cert.validToDate };
}

/** The CN of a Node-formatted distinguished name, for messages. */
export function cn(dn: string): string {
  const m = /(?:^|\n)CN=([^\n]*)/.exec(dn);
  return m?.[1] ?? dn.replace(/\n/g, ', ');
}
