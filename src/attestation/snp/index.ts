/** AMD SEV-SNP: parse, verify (authenticity) and appraise (reference values) attestation reports. */
export { verifySnpReport, prepareEndorsement, type SnpEvidence, type SnpVerifyOptions, type SnpVerdict } from './verify.ts';
export { appraiseSnp, referenceValueReasons, expectationReasons, type SnpExpectation, type SnpAppraisal, type SnpAppraisalClaims } from './appraise.ts';
export { SnpEndorsementCache } from './endorsement-cache.ts';
export { SnpRoots, amdRoots, type SnpRootSet } from './roots.ts';
export { parseSnpReport, SNP_REPORT_SIZE, type SnpReport } from './report.ts';
export { provisionalFirmwareReasons, minimumFirmwareReasons } from './firmware.ts';
export { snpRuleReasons, type SnpRuleOptions } from './rules.ts';
export { SNP_CHECKS, type SnpCheck } from './checks.ts';
export type { SnpClaims, SnpCertificateClaims } from './claims.ts';
export type { SnpTcbClaims } from './tcb.ts';
export type { SnpGuestPolicy } from './policy.ts';
export type { SnpPlatformInfo } from './platform-info.ts';
export type { SnpSigningKey } from './key-info.ts';
