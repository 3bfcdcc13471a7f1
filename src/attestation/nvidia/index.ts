/** NVIDIA GPUs: parse, verify (authenticity) and appraise (RIMs, reference values) attestation reports. */

export {
  appraiseGpuEvidence,
  appraiseGpuEvidenceList,
  expectedDriverRimId,
  expectedVbiosRimId,
  type GpuAppraisalInput,
  gpuPolicy,
  type RimInput,
} from './appraise.ts';
export { VerificationCache } from './cache.ts';
export { GPU_CHECKS, type GpuCheck } from './checks.ts';
export type { GpuClaims, RimClaim } from './claims.ts';
export { type GpuEvidenceItem, parseEvidenceList } from './evidence-list.ts';
export { compareMeasurements, type MeasurementComparison, type Mismatch } from './measurements.ts';
export {
  type CertificateRevocation,
  checkRevocation,
  type OcspAnswer,
  type OcspResponder,
  type RevocationPolicy,
  revocationSummary,
  STRICT_REVOCATION,
} from './ocsp.ts';
export {
  formatVbiosVersion,
  type GpuMode,
  gpuMode,
  type OpaqueData,
  type OpaqueField,
  parseOpaqueData,
} from './opaque-data.ts';
export { type GoldenMeasurement, parseRim, type Rim, type RimKind, type RimVerification, verifyRim } from './rim.ts';
export { type GpuReport, type MeasurementBlock, parseGpuReport, type SpdmRequest, type SpdmResponse } from './spdm.ts';
export {
  type GpuEvidence,
  type GpuExpectation,
  type GpuPolicy,
  type GpuReportVerification,
  type GpuTrustAnchors,
  type GpuVerifyOptions,
  verifyGpuReport,
} from './verify.ts';
