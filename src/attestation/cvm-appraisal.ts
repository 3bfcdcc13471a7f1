/**
 * The node's confidential VM: its SEV-SNP report (with the certificate table the evidence brings)
 * or its TDX quote, verified under the node's trust and collateral and appraised against the
 * Manifest's entries, REPORT_DATA and the allowed workload policies; summarised for status.
 */

import type { CvmClaims, NodeAppraisalContext, NodeEvidence, NodeExpectation } from './node-appraisal.ts';
import { certTableToPem, parseSnpCertTable } from './snp/cert-table.ts';
import { appraiseSnp, verifySnp } from './snp/index.ts';
import { appraiseTdx, type TdxClaims, verifyTdx } from './tdx/index.ts';
import { asReason, type Reason, reason } from './verdict.ts';

export function appraiseCvm(
  cvm: NodeEvidence['cvm'],
  expectation: NodeExpectation,
  context: NodeAppraisalContext,
): { reasons: Reason[]; claims: CvmClaims } {
  if (cvm.platform === 'snp') return appraiseSnpCvm(cvm, expectation, context);
  if (cvm.platform === 'tdx') return appraiseTdxCvm(cvm, expectation, context);
  const reasons = [reason('node.cvm.platform', `unknown CVM platform "${String(cvm.platform)}"`)];
  return { reasons, claims: { platform: 'snp', verified: false, reasons: reasons.map(text), details: null } };
}

function appraiseSnpCvm(
  cvm: NodeEvidence['cvm'],
  expectation: NodeExpectation,
  context: NodeAppraisalContext,
): { reasons: Reason[]; claims: CvmClaims } {
  const reasons: Reason[] = [];
  let certificates: string | undefined;
  if (cvm.auxblob && cvm.auxblob.length > 0) {
    try {
      certificates = certTableToPem(parseSnpCertTable(cvm.auxblob));
    } catch (err) {
      reasons.push(asReason(err));
    }
  }
  const references = context.referenceValues.snp ?? [];
  if (references.length === 0)
    reasons.push(reason('node.cvm.reference-values', 'the Manifest has no SEV-SNP reference values'));
  // The evidence's certificate table wins over the collateral's VCEK.
  const verified = verifySnp(
    { report: cvm.report, ...(certificates ? { certificates } : {}) },
    {
      at: context.at,
      ...(context.trust.snp ? { trust: context.trust.snp } : {}),
      ...(context.collateral?.snp ? { collateral: context.collateral.snp } : {}),
      ...(context.caches?.snp ? { cache: context.caches.snp } : {}),
    },
  );
  const appraised = appraiseSnp(verified, references, {
    reportData: expectation.reportData,
    allowedHostData: context.policyHashes,
  });
  reasons.push(...appraised.reasons);
  const c = appraised.claims;
  return {
    reasons,
    claims: {
      platform: 'snp',
      verified: reasons.length === 0,
      measurement: c?.measurement,
      policyHash: c?.hostData,
      tcb: c ? tcbText(c.reportedTcb) : undefined,
      referenceValues:
        c?.matchedReferenceName ?? (c?.matchedReferenceValues != null ? `snp[${c.matchedReferenceValues}]` : undefined),
      reasons: reasons.map(text),
      details: c,
    },
  };
}

function appraiseTdxCvm(
  cvm: NodeEvidence['cvm'],
  expectation: NodeExpectation,
  context: NodeAppraisalContext,
): { reasons: Reason[]; claims: CvmClaims } {
  const reasons: Reason[] = [];
  const references = context.referenceValues.tdx ?? [];
  if (references.length === 0)
    reasons.push(reason('node.cvm.reference-values', 'the Manifest has no TDX reference values'));
  const verified = verifyTdx(
    { quote: cvm.report },
    {
      at: context.at,
      ...(context.trust.tdx ? { trust: context.trust.tdx } : {}),
      ...(context.collateral?.tdx ? { collateral: context.collateral.tdx } : {}),
      ...(context.caches?.tdx ? { cache: context.caches.tdx } : {}),
    },
  );
  const appraised = appraiseTdx(verified, references, {
    reportData: expectation.reportData,
    allowedConfigIds: context.policyHashes,
  });
  reasons.push(...appraised.reasons);
  const c = appraised.claims;
  return {
    reasons,
    claims: {
      platform: 'tdx',
      verified: reasons.length === 0,
      measurement: c.mrTd,
      policyHash: c.mrConfigId?.slice(0, 64),
      tcb: tdxTcbText(c),
      reasons: reasons.map(text),
      details: c,
    },
  };
}

/** TEE_TCB_SVN and what collateral said of it, or plainly that it was not evaluated: never mistakable for UpToDate. */
function tdxTcbText(c: TdxClaims): string | undefined {
  if (c.teeTcbSvn === undefined) return undefined;
  const statuses = [c.tcbStatus && `TCB ${c.tcbStatus}`, c.qeTcbStatus && `QE ${c.qeTcbStatus}`]
    .filter(Boolean)
    .join(', ');
  const verdict =
    c.tcbEvaluated === true
      ? statuses
      : `TCB status not evaluated (missing collateral: ${(c.missingCollateral ?? []).join(', ')})`;
  return `TEE_TCB_SVN ${c.teeTcbSvn}${verdict ? `; ${verdict}` : ''}`;
}

function text(r: Reason): string {
  return `[${r.check}] ${r.message}`;
}

function tcbText(tcb: unknown): string | undefined {
  if (!tcb || typeof tcb !== 'object') return undefined;
  return Object.entries(tcb as Record<string, unknown>)
    .filter(([k, v]) => typeof v === 'number' && k !== 'raw')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}
