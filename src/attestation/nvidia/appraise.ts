/**
 * Appraisal of a verified GPU (verify.ts) against the Manifest's GPU reference values and the
 * Coordinator's nonce: the allowed architectures, driver and VBIOS versions. Works on claims, so
 * that stored claims can be appraised again. The Manifest's relaxations (FWID, RIMs, OCSP) and its
 * pinned RIM digests are a policy for verification (gpuPolicy), applied before.
 */
import { hex } from '../bytes.ts';
import type { GpuReferenceValues } from '../reference-values.ts';
import { type Reason, reason, type Verdict, verdict } from '../verdict.ts';
import type { GpuClaims } from './claims.ts';
import type { GpuPolicy } from './verify.ts';

/** What this attestation must show beyond the reference values. */
export interface GpuExpectation {
  /** The 32-byte nonce the verifier handed out; the report's signed request must carry it. */
  readonly nonce: Uint8Array;
}

/** The verification policy a Manifest's GPU reference values state; every field left out is strict. */
export function gpuPolicy(reference: GpuReferenceValues): GpuPolicy {
  return {
    requireFwid: reference.requireFWID !== false,
    requireRims: reference.requireRIMs !== false,
    revocation: {
      requireAnswers: reference.ocsp?.required !== false,
      allowUnknown: reference.ocsp?.allowUnknown === true,
      revokedGracePeriodHours: reference.ocsp?.revokedGracePeriodHours ?? 0,
    },
    ...(reference.rimDigests ? { rimDigests: reference.rimDigests } : {}),
  };
}

/**
 * Appraises a verified GPU: refused when verification refused it, when the report does not carry
 * the expected nonce, or (with `reference`) when its architecture or versions are not allowed.
 * Without `reference` (what `attestor verify gpu` does) only the nonce is compared.
 */
export function appraiseGpu(
  verified: Verdict<GpuClaims>,
  reference: GpuReferenceValues | undefined,
  expectation: GpuExpectation,
): Verdict<GpuClaims> {
  const c = verified.claims;
  const reasons: Reason[] = [...verified.reasons];
  // The claims carry the signed request's nonce whenever the report parsed.
  const nonceMatch = c.nonce !== undefined && c.nonce === hex(expectation.nonce);
  if (c.nonce !== undefined && !nonceMatch)
    reasons.push(
      reason('gpu.nonce', `the report's request nonce ${c.nonce} is not the expected ${hex(expectation.nonce)}`),
    );
  const referenceProblems = reference ? referenceReasons(reference, c) : [];
  reasons.push(...referenceProblems);
  const archAllowed = !referenceProblems.some((r) => r.check === 'gpu.arch');
  const claims: GpuClaims = {
    ...c,
    nvidia: {
      ...c.nvidia,
      'x-nvidia-gpu-arch-check': c.nvidia['x-nvidia-gpu-arch-check'] === true && archAllowed,
      'x-nvidia-gpu-attestation-report-nonce-match': nonceMatch,
    },
  };
  return verdict(claims, reasons);
}

function referenceReasons(reference: GpuReferenceValues, c: GpuClaims): Reason[] {
  const reasons: Reason[] = [];
  if (c.architecture && !reference.architectures.includes(c.architecture as never)) {
    reasons.push(
      reason(
        'gpu.arch',
        `architecture ${c.architecture} is not allowed (allowed: ${reference.architectures.join(', ') || 'none'})`,
      ),
    );
  }
  if (c.nonce !== undefined) {
    if (!c.driverVersion) reasons.push(reason('gpu.driver-version', 'the report carries no driver version'));
    else if (!reference.driverVersions.includes(c.driverVersion))
      reasons.push(
        reason(
          'gpu.driver-version',
          `driver ${c.driverVersion} is not allowed (allowed: ${reference.driverVersions.join(', ') || 'none'})`,
        ),
      );
    if (!c.vbiosVersion) reasons.push(reason('gpu.vbios-version', 'the report carries no VBIOS version'));
    else if (!reference.vbiosVersions.some((v) => v.toUpperCase() === c.vbiosVersion))
      reasons.push(
        reason(
          'gpu.vbios-version',
          `VBIOS ${c.vbiosVersion} is not allowed (allowed: ${reference.vbiosVersions.join(', ') || 'none'})`,
        ),
      );
  }
  return reasons;
}
