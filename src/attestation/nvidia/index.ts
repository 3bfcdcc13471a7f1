/** NVIDIA GPUs: parse, verify (authenticity) and appraise (RIMs, reference values) attestation reports. */
export { verifyGpuReport, type GpuEvidence, type GpuExpectation, type GpuPolicy, type GpuTrustAnchors, type GpuVerifyOptions, type GpuReportVerification } from './verify.ts';
export { appraiseGpuEvidence, appraiseGpuEvidenceList, expectedVbiosRimId, expectedDriverRimId, gpuPolicy, type GpuAppraisalInput, type RimInput } from './appraise.ts';
export { parseEvidenceList, type GpuEvidenceItem } from './evidence-list.ts';
export { parseGpuReport, type GpuReport, type MeasurementBlock, type SpdmRequest, type SpdmResponse } from './spdm.ts';
export { parseOpaqueData, formatVbiosVersion, gpuMode, type GpuMode, type OpaqueData, type OpaqueField } from './opaque-data.ts';
export { parseRim, verifyRim, type Rim, type RimKind, type GoldenMeasurement, type RimVerification } from './rim.ts';
export { compareMeasurements, type MeasurementComparison, type Mismatch } from './measurements.ts';
export { VerificationCache } from './cache.ts';
export { GPU_CHECKS, type GpuCheck } from './checks.ts';
export type { GpuClaims, RimClaim } from './claims.ts';
export { checkRevocation, revocationSummary, STRICT_REVOCATION, type CertificateRevocation, type OcspAnswer, type OcspResponder, type RevocationPolicy } from './ocsp.ts';
