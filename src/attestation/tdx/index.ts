/**
 * Intel TDX evidence: parse a quote, verify it (signatures, PCK chain to the pinned Intel root,
 * PCS collateral: required unless the caller lets it be missing), appraise it against the
 * Manifest. See verify.ts and appraise.ts.
 */
export {
  appraiseTdx,
  reportDataReasons,
  type TdxExpectation,
  tcbStatusReasons,
  tdxBaselineReasons,
} from './appraise.ts';
export { TD_ATTRIBUTES_FIXED0, TD_ATTRIBUTES_FIXED1, XFAM_FIXED0, XFAM_FIXED1 } from './attributes.ts';
export { type TrustAnchor, trustAnchors } from './chain.ts';
export { TdxVerifierCache } from './chain-cache.ts';
export { TDX_CHECKS, type TdxCheck } from './checks.ts';
export { decodeTdAttributes, type TdAttributes, type TdxClaims } from './claims.ts';
export { COLLATERAL_MISSING, missingCollateral, type TdxCollateral } from './collateral.ts';
export { configIdForPolicyHash, policyHashFromConfigId } from './config-id.ts';
export { parseTdxQuote, type TdxQuote } from './quote.ts';
export type { TcbStatus } from './tcb-info.ts';
export { intelTrustAnchors, type TdxEvidence, type TdxVerifyOptions, verifyTdx } from './verify.ts';
