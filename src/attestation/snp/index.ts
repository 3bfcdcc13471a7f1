/** AMD SEV-SNP: parse, verify (authenticity) and appraise (reference values) attestation reports. */

export {
  appraiseSnp,
  expectationReasons,
  referenceValueReasons,
  type SnpAppraisal,
  type SnpAppraisalClaims,
  type SnpExpectation,
} from './appraise.ts';
export { SNP_CHECKS, type SnpCheck } from './checks.ts';
export type { SnpCertificateClaims, SnpClaims } from './claims.ts';
export { SnpEndorsementCache } from './endorsement-cache.ts';
export { minimumFirmwareReasons, provisionalFirmwareReasons } from './firmware.ts';
export type { SnpSigningKey } from './key-info.ts';
export type { SnpPlatformInfo } from './platform-info.ts';
export type { SnpGuestPolicy } from './policy.ts';
export { parseSnpReport, SNP_REPORT_SIZE, type SnpReport } from './report.ts';
export { amdRoots, type SnpRootSet, SnpRoots } from './roots.ts';
export { type SnpRuleOptions, snpRuleReasons } from './rules.ts';
export type { SnpTcbClaims } from './tcb.ts';
export {
  prepareEndorsement,
  type SnpCollateral,
  type SnpEvidence,
  type SnpVerdict,
  type SnpVerifyOptions,
  verifySnp,
} from './verify.ts';
