/** NVIDIA GPUs: parse, verify (authenticity, RIMs) and appraise (reference values) attestation reports. */

export { appraiseGpu, type GpuExpectation, gpuPolicy } from './appraise.ts';
export { VerificationCache } from './cache.ts';
export { GPU_CHECKS, type GpuCheck } from './checks.ts';
export type { GpuClaims, RimClaim } from './claims.ts';
export { type GpuEvidenceItem, parseEvidenceList } from './evidence-list.ts';
export { compareMeasurements, type MeasurementComparison, type Mismatch } from './measurements.ts';
export {
  type CertificateRevocation,
  checkRevocation,
  type RevocationPolicy,
  revocationSummary,
  STRICT_REVOCATION,
} from './ocsp.ts';
export type { OcspAnswer } from './ocsp-answer.ts';
export {
  formatVbiosVersion,
  type GpuMode,
  gpuMode,
  type OpaqueData,
  type OpaqueField,
  parseOpaqueData,
} from './opaque-data.ts';
export { checkGpuReport, type GpuReportVerification } from './report-check.ts';
export { type GoldenMeasurement, parseRim, type Rim, type RimKind, type RimVerification, verifyRim } from './rim.ts';
export { expectedDriverRimId, expectedVbiosRimId, type RimInput } from './rim-choice.ts';
export { type GpuReport, type MeasurementBlock, parseGpuReport, type SpdmRequest, type SpdmResponse } from './spdm.ts';
export {
  type GpuCollateral,
  type GpuEvidence,
  type GpuPolicy,
  type GpuTrustAnchors,
  type GpuVerifyOptions,
  verifyGpu,
} from './verify.ts';
