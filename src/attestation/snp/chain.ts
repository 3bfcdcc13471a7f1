/**
 * The certificate chain VCEK/VLEK -> ASK/ASVK -> ARK (RSASSA-PSS with SHA-384). The ARK is always
 * one of the pinned roots; an ASK that comes with the evidence is used only when a pinned ARK
 * signed it. Building the path is independent of time (and cacheable); validity periods are
 * checked separately at the time the caller gives.
 */
import type { X509Certificate } from 'node:crypto';
import { commonName, issuedBy, validityPeriod, validityProblems } from '../certificate-chain.ts';
import { type Reason, reason } from '../verdict.ts';
import type { EndorsementCertificate } from './endorsement.ts';
import type { SnpSigningKey } from './key-info.ts';
import type { SnpAnchor, SnpRoots } from './roots.ts';

export interface ChainPath {
  readonly anchor: SnpAnchor;
  readonly intermediate: X509Certificate;
  /** True when the intermediate is one of the pinned ones, false when it came with the evidence. */
  readonly intermediatePinned: boolean;
}

/** Which key kind an intermediate from the evidence may sign, by AMD's naming (SEV-VLEK-<product> is an ASVK). */
function signsFromName(cert: X509Certificate): SnpSigningKey {
  return commonName(cert.subject).startsWith('SEV-VLEK-') ? 'vlek' : 'vcek';
}

/**
 * Finds a path from the endorsement certificate to a pinned ARK. Returns the path, or null and
 * the reasons none was found; also refuses a path whose product or key kind does not fit the leaf.
 */
export function buildChain(
  leaf: EndorsementCertificate,
  evidenceIntermediates: readonly X509Certificate[],
  roots: SnpRoots,
): { path: ChainPath | null; reasons: Reason[] } {
  const candidates: Array<{ anchor: SnpAnchor | null; cert: X509Certificate; signs: SnpSigningKey; pinned: boolean }> =
    [];
  for (const anchor of roots.anchors)
    for (const i of anchor.intermediates) candidates.push({ anchor, cert: i.cert, signs: i.signs, pinned: true });
  for (const cert of evidenceIntermediates)
    candidates.push({ anchor: null, cert, signs: signsFromName(cert), pinned: false });

  let path: (ChainPath & { signs: SnpSigningKey }) | null = null;
  let unanchored = false;
  for (const c of candidates) {
    if (!issuedBy(leaf.x509, c.cert)) continue;
    const anchor = c.anchor ?? roots.anchors.find((a) => issuedBy(c.cert, a.ark)) ?? null;
    if (anchor === null) {
      unanchored = true;
      continue;
    }
    path = { anchor, intermediate: c.cert, intermediatePinned: c.pinned, signs: c.signs };
    break;
  }
  if (path === null) {
    const issuer = commonName(leaf.x509.issuer);
    const why = unanchored
      ? `the ${issuer} certificate that signed it does not chain to a pinned ARK`
      : `no pinned or supplied ${issuer} certificate signed it`;
    return {
      path: null,
      reasons: [reason('snp.chain', `${leaf.kind.toUpperCase()} does not chain to a trusted AMD root: ${why}`)],
    };
  }
  const reasons: Reason[] = [];
  if (leaf.product !== null && leaf.product !== path.anchor.product) {
    reasons.push(
      reason(
        'snp.chain.product',
        `${leaf.kind.toUpperCase()} is for ${leaf.productName} but chains to the ${path.anchor.product} ARK`,
      ),
    );
  }
  if (path.signs !== leaf.kind) {
    reasons.push(
      reason(
        'snp.chain.kind',
        `a ${leaf.kind.toUpperCase()} must be signed by the ${leaf.kind === 'vcek' ? 'ASK' : 'ASVK'}, not by ${commonName(path.intermediate.subject)}`,
      ),
    );
  }
  const { signs: _signs, ...chain } = path;
  return { path: chain, reasons };
}

/** Validity periods of the leaf, the intermediate and the ARK at time `at`. */
export function chainValidityReasons(leaf: X509Certificate, path: ChainPath | null, at: Date): Reason[] {
  const periods = [{ ...validityPeriod(leaf), name: 'endorsement certificate' }];
  if (path) periods.push(validityPeriod(path.intermediate), validityPeriod(path.anchor.ark));
  return validityProblems(periods, at).map((p) => reason('snp.chain.validity', p));
}
