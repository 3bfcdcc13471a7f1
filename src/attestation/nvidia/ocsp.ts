/**
 * Revocation of the certificates in a verified NVIDIA chain, from OCSP answers given as collateral
 * (read from files or a cache, fetched where fetching is on, or made by the simulated platform's
 * responder before the appraisal). Each certificate that must be checked needs an answer for it
 * that ocsp-answer.ts finds genuine and current, and whose status the policy accepts. Like
 * nvtrust's verifier, the leaf of a GPU's device chain is not checked (the GPU makes it at boot;
 * NVIDIA's responder does not know it): every certificate above it is, and every certificate of a
 * RIM signer chain but the root. Pure: the time is a parameter, answers are bytes.
 */
import { type Reason, reason } from '../verdict.ts';
import type { ParsedCertificate } from './certificates.ts';
import { certIdOf, evaluate, type OcspAnswer, type ParsedAnswer, parseAnswer, type Usable } from './ocsp-answer.ts';

const HOUR_MS = 3_600_000;

/** What the relying party accepts; every default is the strict one. */
export interface RevocationPolicy {
  /** Refuse a certificate without a current answer. Default true. */
  readonly requireAnswers?: boolean;
  /** Accept the status "unknown". Default false. */
  readonly allowUnknown?: boolean;
  /** Accept a revoked certificate for this many hours after its revocation time (nvtrust's and Privatemode's grace). Default 0. */
  readonly revokedGracePeriodHours?: number;
}

export const STRICT_REVOCATION: Required<RevocationPolicy> = {
  requireAnswers: true,
  allowUnknown: false,
  revokedGracePeriodHours: 0,
};

/** What was found for one certificate. `not-checked`: no current answer, and the policy does not require one. */
export interface CertificateRevocation {
  /** CN of the certificate. */
  readonly certificate: string;
  readonly status: 'good' | 'revoked' | 'unknown' | 'not-checked' | 'missing';
  /** Whether the policy accepts it (a revoked certificate within its grace period, "unknown" when allowed, ...). */
  readonly accepted: boolean;
  readonly revokedAt?: string;
  readonly revocationReason?: number;
  readonly nextUpdate?: string;
}

export interface RevocationCheck {
  /** The chain as verified: leaf first, ending with the anchor that issued it (when one did). */
  readonly path: readonly ParsedCertificate[];
  /** The first index of `path` that needs an answer: 1 for a device chain (not the leaf), 0 for a RIM signer chain. */
  readonly from: number;
  readonly answers: readonly (OcspAnswer | Uint8Array)[];
  readonly at: Date;
  readonly policy?: RevocationPolicy;
  /** Reason check id: gpu.ocsp or gpu.rim.ocsp. */
  readonly check: 'gpu.ocsp' | 'gpu.rim.ocsp';
  /** Prefix for messages ("", "driver RIM NV_GPU_DRIVER_GH100_550.90.07: "). */
  readonly label?: string;
}

/** Checks every certificate of the path from `from` to the one below the anchor; never throws. */
export function checkRevocation(input: RevocationCheck): { statuses: CertificateRevocation[]; reasons: Reason[] } {
  const policy = { ...STRICT_REVOCATION, ...input.policy };
  const label = input.label ?? '';
  const statuses: CertificateRevocation[] = [];
  const reasons: Reason[] = [];
  const parsed: ParsedAnswer[] = [];
  input.answers.forEach((a, n) => {
    const answer = a instanceof Uint8Array ? { der: a } : a;
    const p = parseAnswer(answer);
    if ('problem' in p) reasons.push(reason(input.check, `${label}OCSP answer ${n + 1} ${p.problem}`));
    else parsed.push(p);
  });

  for (let i = input.from; i + 1 < input.path.length; i++) {
    const cert = input.path[i]!;
    const issuer = input.path[i + 1]!;
    const id = certIdOf(cert, issuer);
    const candidates = parsed.flatMap((p) =>
      p.singles.filter((s) => id.matches(s.certId)).map((single) => ({ answer: p, single })),
    );
    const stale: string[] = [];
    const forged: string[] = [];
    let best: Usable | undefined;
    for (const c of candidates) {
      const u = evaluate(c.answer, c.single, issuer, input.at);
      if ('stale' in u) stale.push(u.stale);
      else if ('invalid' in u) forged.push(u.invalid);
      else if (!best || u.thisUpdate > best.thisUpdate) best = u;
    }
    const name = cert.name;
    if (!best) {
      // A forged or broken answer is refused whatever the policy; a stale one counts as none.
      for (const p of forged) reasons.push(reason(input.check, `${label}the OCSP answer for "${name}" ${p}`));
      const why =
        stale.length > 0
          ? `no current OCSP answer for "${name}": the one given is ${stale.join('; ')}`
          : `no OCSP answer for "${name}" (issued by "${issuer.name}")`;
      if (policy.requireAnswers) {
        if (forged.length === 0) reasons.push(reason(input.check, `${label}${why}`));
        statuses.push({ certificate: name, status: 'missing', accepted: false });
      } else {
        statuses.push({ certificate: name, status: 'not-checked', accepted: forged.length === 0 });
      }
      continue;
    }
    const base = { certificate: name, nextUpdate: best.nextUpdate.toISOString() };
    if (best.status === 'good') {
      statuses.push({ ...base, status: 'good', accepted: true });
    } else if (best.status === 'unknown') {
      statuses.push({ ...base, status: 'unknown', accepted: policy.allowUnknown });
      if (!policy.allowUnknown)
        reasons.push(reason(input.check, `${label}the OCSP responder does not know "${name}" (status unknown)`));
    } else {
      const revokedAt = best.revokedAt ?? best.thisUpdate;
      const graceEnds = new Date(revokedAt.getTime() + policy.revokedGracePeriodHours * HOUR_MS);
      const accepted = policy.revokedGracePeriodHours > 0 && input.at <= graceEnds;
      statuses.push({
        ...base,
        status: 'revoked',
        accepted,
        revokedAt: revokedAt.toISOString(),
        ...(best.revocationReason !== undefined ? { revocationReason: best.revocationReason } : {}),
      });
      if (!accepted) {
        const grace =
          policy.revokedGracePeriodHours > 0
            ? `; its grace period of ${policy.revokedGracePeriodHours} h ended ${graceEnds.toISOString()}`
            : '';
        reasons.push(
          reason(
            input.check,
            `${label}"${name}" was revoked at ${revokedAt.toISOString()}${best.revocationReason !== undefined ? ` (reason ${best.revocationReason})` : ''}${grace}`,
          ),
        );
      }
    }
  }
  return { statuses, reasons };
}

/** One word for a chain's statuses, as NVIDIA's claims spell it. */
export function revocationSummary(
  statuses: readonly CertificateRevocation[],
): 'good' | 'revoked' | 'unknown' | 'not-checked' {
  if (statuses.length === 0) return 'not-checked';
  if (statuses.some((s) => s.status === 'revoked')) return 'revoked';
  if (statuses.some((s) => s.status === 'unknown')) return 'unknown';
  if (statuses.every((s) => s.status === 'good')) return 'good';
  return 'not-checked';
}
