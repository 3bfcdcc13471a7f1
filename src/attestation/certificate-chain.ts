/**
 * X.509 paths to a pinned trust anchor, one way for every verifier. The evidence supplies
 * certificates leaf first; each must be issued (names) and signed (key) by the next, and the last
 * by an anchor. A root that travels with the evidence is never trusted for what it is: it must be
 * a byte-identical copy of the anchor that issued the certificate below it, or the chain is
 * refused. Signatures and names are checked here (OpenSSL through Node's X509Certificate);
 * validity at a time is a separate step, so that a cached path stays correct at any time.
 * What a chain must carry beyond that (NVIDIA's key usages and path lengths, AMD's product and
 * key kind) is each verifier's own.
 */
import type { X509Certificate } from 'node:crypto';
import { issuedByMemo } from './issued-by-memo.ts';

/** The CN of a Node-formatted distinguished name (subject or issuer), for messages; the whole name without one. */
export function commonName(dn: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1] ?? dn.replace(/\n/g, ', ');
}

/**
 * Whether `issuer`, a CA, issued `child`: its subject is the child's issuer and its key verifies
 * the child's signature. A link that verified is remembered by both certificates' DER
 * fingerprints (issued-by-memo.ts): the same two byte strings are checked once per process.
 */
export function issuedBy(child: X509Certificate, issuer: X509Certificate, memo = issuedByMemo): boolean {
  if (memo.has(child, issuer)) return true;
  let verified: boolean;
  try {
    verified = issuer.ca && child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    verified = false;
  }
  if (verified) memo.add(child, issuer);
  return verified;
}

/** A chain checked against anchors: the path (leaf first, without the anchor), the anchor, and every problem. */
export interface AnchoredChain {
  /** The chain's certificates leaf first, without a copy of the anchor at the end. */
  readonly path: readonly X509Certificate[];
  /** The anchor that issued the last certificate of the path; absent when none did. */
  readonly anchor?: X509Certificate;
  /** Empty when the chain leads to the anchor. */
  readonly problems: readonly string[];
}

/**
 * Checks that `chain` (leaf first) leads to one of `anchors`: every certificate issued by the
 * next, the last one by an anchor. Lists every problem found; `roles` names the leaf in messages.
 */
export function chainToAnchor(
  chain: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
  leafRole = 'leaf',
): AnchoredChain {
  if (chain.length === 0) return { path: [], problems: ['the certificate chain is empty'] };
  let path = [...chain];
  const top = path[path.length - 1]!;
  let rootCopy: X509Certificate | undefined;
  if (top.checkIssued(top)) {
    // A root in the evidence is only a copy: it counts when it is exactly a pinned anchor.
    rootCopy = anchors.find((a) => a.raw.equals(top.raw));
    if (rootCopy === undefined)
      return {
        path,
        problems: [`the chain ends in the root "${commonName(top.subject)}", which is not a pinned trust anchor`],
      };
    path = path.slice(0, -1);
    if (path.length === 0)
      return {
        path,
        problems: [`the chain holds only the root "${commonName(top.subject)}" and no ${leafRole} certificate`],
      };
  }
  const problems: string[] = [];
  for (let i = 0; i + 1 < path.length; i++) {
    const child = path[i]!;
    const parent = path[i + 1]!;
    if (!issuedBy(child, parent))
      problems.push(
        `"${commonName(child.subject)}" (position ${i}) is not issued by the next certificate "${commonName(parent.subject)}"`,
      );
  }
  const last = path[path.length - 1]!;
  const anchor = anchors.find((a) => issuedBy(last, a));
  if (anchor === undefined)
    problems.push(
      `"${commonName(last.subject)}" is not issued by a pinned trust anchor (${anchors.map((a) => `"${commonName(a.subject)}"`).join(', ') || 'none configured'})`,
    );
  else if (rootCopy !== undefined && rootCopy !== anchor)
    problems.push(
      `the chain ends in the root "${commonName(rootCopy.subject)}", not in "${commonName(anchor.subject)}", which issued the certificate below it`,
    );
  return { path, ...(anchor ? { anchor } : {}), problems };
}

/** A certificate's validity period, kept apart from the certificate so that time checks can be cached results. */
export interface ValidityPeriod {
  /** For messages: the subject's CN. */
  readonly name: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export function validityPeriod(cert: X509Certificate): ValidityPeriod {
  return { name: commonName(cert.subject), notBefore: cert.validFromDate, notAfter: cert.validToDate };
}

/** One message per period that does not cover `at` (an unreadable one never does). */
export function validityProblems(periods: readonly ValidityPeriod[], at: Date): string[] {
  const t = at.getTime();
  const out: string[] = [];
  for (const p of periods) {
    const from = p.notBefore.getTime();
    const to = p.notAfter.getTime();
    // OpenSSL parses some malformed times that do not make a Date; comparisons with NaN are all false.
    if (Number.isNaN(from) || Number.isNaN(to)) out.push(`${p.name} has an unreadable validity period`);
    else if (t < from)
      out.push(`${p.name} is not valid before ${p.notBefore.toISOString()} (time ${at.toISOString()})`);
    else if (t > to) out.push(`${p.name} expired at ${p.notAfter.toISOString()} (time ${at.toISOString()})`);
  }
  return out;
}
