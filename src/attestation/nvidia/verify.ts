/**
 * Verification of one GPU's evidence: the report's authenticity (report-check.ts) and its
 * measurements compared with NVIDIA's golden values in the RIMs given as collateral
 * (rim-choice.ts, measurements.ts), under a policy that says what may be missing. Which versions
 * and architectures are allowed, and whether the nonce is the expected one, is the appraisal's
 * (appraise.ts). Every failed check is a Reason; nothing here throws for bad evidence.
 *
 * With `requireRims: false` a missing or untrusted RIM refuses nothing, but its measurements are
 * then reported as not evaluated (claims.measurements); a measurement that a trusted RIM
 * contradicts is refused all the same: a relaxation never accepts a detected tampering.
 */
import type { GpuArchitecture } from '../reference-values.ts';
import { type Reason, reason, type Verdict, verdict } from '../verdict.ts';
import type { VerificationCache } from './cache.ts';
import { buildGpuClaims, type GpuClaims, type RimChoice } from './claims.ts';
import { compareMeasurements, type MeasurementComparison } from './measurements.ts';
import type { RevocationPolicy } from './ocsp.ts';
import type { OcspAnswer } from './ocsp-answer.ts';
import { checkGpuReport } from './report-check.ts';
import { chipOf, choose, expectedVbiosRimId, fits, parseRims, type RimInput } from './rim-choice.ts';

/** One GPU's evidence: the report bytes and its certificate chain as NVML returns them. */
export interface GpuEvidence {
  readonly report: Uint8Array;
  /** PEM, leaf first (the root at the end is optional and only accepted if pinned). */
  readonly certificateChain: string;
  /** The architecture the collector declares (evidence list `arch`); checked against the chain. */
  readonly architecture?: GpuArchitecture;
  readonly uuid?: string;
}

/** Trust anchors as PEM; defaults are the pinned NVIDIA roots. Tests and `dev` pass generated ones. */
export interface GpuTrustAnchors {
  readonly device?: readonly string[];
  readonly rim?: readonly string[];
}

/** NVIDIA collateral for GPU evidence (files, the cache or NVIDIA's services; this package never fetches). */
export interface GpuCollateral {
  /** Candidate RIMs; the driver and VBIOS RIM that fit the report are picked from them. */
  readonly rims?: readonly RimInput[];
  /** OCSP answers (DER OCSPResponse) for the device chains and the RIM signer chains; others are ignored. */
  readonly ocsp?: readonly (OcspAnswer | Uint8Array)[];
}

/**
 * What the relying party requires beyond authenticity; every default is the strict one. A
 * Manifest's GPU reference values set it (appraise.ts gpuPolicy), `attestor verify gpu` sets it from flags.
 */
export interface GpuPolicy {
  /** Refuse a report without FWID (older firmware, e.g. driver 535). Default true. */
  readonly requireFwid?: boolean;
  /** Require matching driver and VBIOS RIMs for every active measurement. Default true. */
  readonly requireRims?: boolean;
  /** OCSP for the device chain (above the leaf) and the RIM signer chains. Default: answers required, "good" only. */
  readonly revocation?: RevocationPolicy;
  /** SHA-384 digests (hex) a RIM must have; absent: any RIM that verifies. */
  readonly rimDigests?: readonly string[];
}

export interface GpuVerifyOptions {
  /** The time certificates, RIMs and OCSP answers must be valid at. */
  readonly at: Date;
  readonly trust?: GpuTrustAnchors;
  readonly collateral?: GpuCollateral;
  readonly policy?: GpuPolicy;
  readonly cache?: VerificationCache;
}

/** Verifies one GPU's evidence and its measurements; never throws for bad evidence. */
export async function verifyGpu(evidence: GpuEvidence, options: GpuVerifyOptions): Promise<Verdict<GpuClaims>> {
  const policy = options.policy ?? {};
  const ocsp = options.collateral?.ocsp ?? [];
  const verification = checkGpuReport(evidence, { at: options.at, ...reportOptions(options), ocsp });
  const reasons: Reason[] = [...verification.reasons];
  const report = verification.report;
  const rimsGiven = options.collateral?.rims ?? [];
  const requireRIMs = policy.requireRims !== false;

  const rimReasons: Reason[] = [];
  const choices: { driver?: RimChoice; vbios?: RimChoice } = {};
  const unused: Array<GpuClaims['rims']['unused'][number]> = [];
  let comparison: MeasurementComparison | undefined;
  if (report) {
    const parsed = parseRims(rimsGiven, rimReasons, options.cache);
    const chip = chipOf(verification.chain.map((c) => c.subject));
    for (const kind of ['driver', 'vbios'] as const) {
      const wanted =
        kind === 'driver' ? report.response.opaqueData.driverVersion : report.response.opaqueData.vbiosVersion;
      const candidates = parsed.filter((p) => fits(p, kind, report, chip));
      if (candidates.length === 0) {
        rimReasons.push(
          reason(
            'gpu.rim.missing',
            `no ${kind} RIM for ${kind === 'driver' ? 'driver' : 'VBIOS'} ${wanted ?? '(version not in the report)'}${kind === 'vbios' ? ` (RIM ID ${expectedVbiosRimId(report) ?? 'unknown'})` : ''} among the ${rimsGiven.length} RIMs given`,
          ),
        );
        continue;
      }
      const choice = await choose(candidates, kind, { at: options.at, ...reportOptions(options), ocsp });
      choices[kind] = choice;
      rimReasons.push(...choice.reasons);
    }
    for (const p of parsed) {
      if (p !== choices.driver?.input && p !== choices.vbios?.input)
        unused.push({
          ...(p.id ? { id: p.id } : {}),
          kind: p.rim.kind,
          version: p.rim.colloquialVersion,
          digest: p.rim.digest,
        });
    }
    // Required RIMs: compare with what was chosen, trusted or not (every finding is a refusal anyway).
    // Optional RIMs: only a trusted RIM's golden values mean anything; the rest is not evaluated.
    const compared = (c: RimChoice | undefined): RimChoice['rim'] | undefined =>
      c && (requireRIMs || c.reasons.length === 0) ? c.rim : undefined;
    comparison = compareMeasurements(report, { driver: compared(choices.driver), vbios: compared(choices.vbios) });
    const tampering: Reason[] = [];
    for (const index of comparison.conflicts)
      tampering.push(
        reason('gpu.rim.index-conflict', `RIM index ${index} is active in both the driver and the VBIOS RIM`),
      );
    for (const m of comparison.mismatched) {
      tampering.push(
        reason(
          'gpu.measurement',
          m.actual === undefined
            ? `measurement ${m.index} (${m.name}, ${m.source} RIM) is missing from the report`
            : `measurement ${m.index} (${m.name}, ${m.source} RIM) is ${m.actual}, expected ${m.expected.length > 1 ? `one of ${m.expected.join(', ')}` : m.expected[0]}`,
        ),
      );
    }
    rimReasons.push(...tampering);
    if (!requireRIMs) reasons.push(...tampering);
  }
  // Without a RIM requirement, other RIM findings stay visible in the claims but refuse nothing.
  if (requireRIMs) reasons.push(...rimReasons);

  const claims = buildGpuClaims({ evidence, verification, choices, unused, comparison, rimReasons });
  return verdict(claims, reasons);
}

/** The options the report and RIM checks share, without the absent ones. */
function reportOptions(options: GpuVerifyOptions): Pick<GpuVerifyOptions, 'trust' | 'policy' | 'cache'> {
  return {
    ...(options.trust ? { trust: options.trust } : {}),
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.cache ? { cache: options.cache } : {}),
  };
}
