/**
 * Appraisal of a verified SEV-SNP report against the Manifest's reference values and the
 * Coordinator's expectations (nonce-bound REPORT_DATA, allowed workload policy hashes). Any one
 * reference-value entry may match; when none does, the reasons of every entry are reported.
 */
import type { SnpReferenceValues } from '../reference-values.ts';
import { prefixed, type Reason, reason, verdict } from '../verdict.ts';
import type { SnpClaims } from './claims.ts';
import { snpRuleReasons } from './rules.ts';
import { formatTcb, tcbShortfalls } from './tcb.ts';
import type { SnpVerdict } from './verify.ts';

/** What the verifier expects beyond the Manifest's reference values. */
export interface SnpExpectation {
  /** Expected REPORT_DATA; shorter values are compared as if right-padded with zeros to 64 bytes. */
  reportData?: Uint8Array;
  /** Allowed HOST_DATA values (hex SHA-256 policy hashes); absent: not checked, empty: none allowed. */
  allowedHostData?: readonly string[];
}

/** Claims after appraisal: which reference-value entry matched. */
export interface SnpAppraisalClaims extends SnpClaims {
  /** Index into the reference values of the matching entry; null when none matched. */
  matchedReferenceValues: number | null;
  matchedReferenceName: string | null;
}

export type SnpAppraisal =
  | { readonly verified: true; readonly reasons: readonly Reason[]; readonly claims: SnpAppraisalClaims }
  | { readonly verified: false; readonly reasons: readonly Reason[]; readonly claims: SnpAppraisalClaims | null };

const TCB_FIELDS = [
  ['reportedTcb', 'snp.tcb.reported', 'REPORTED_TCB'],
  ['committedTcb', 'snp.tcb.committed', 'COMMITTED_TCB'],
  ['launchTcb', 'snp.tcb.launch', 'LAUNCH_TCB'],
  ['currentTcb', 'snp.tcb.current', 'CURRENT_TCB'],
] as const;

/** Reasons why one reference-value entry does not match the claims (empty: it matches). */
export function referenceValueReasons(claims: SnpClaims, rv: SnpReferenceValues): Reason[] {
  const out: Reason[] = [];
  const allowed = rv.measurements.map((m) => m.toLowerCase());
  if (!allowed.includes(claims.measurement)) {
    out.push(
      reason('snp.measurement', `MEASUREMENT ${claims.measurement} is not one of the ${allowed.length} allowed`),
    );
  }
  // fmc exists only on Turin; a minimum for it means nothing for other products.
  const minimum = claims.product === 'Turin' ? rv.minimumTCB : { ...rv.minimumTCB, fmc: undefined };
  for (const [field, check, label] of TCB_FIELDS) {
    const short = tcbShortfalls(claims[field], minimum);
    if (short.length > 0)
      out.push(reason(check, `${label} ${formatTcb(claims[field])} is below the minimum (${short.join(', ')})`));
  }
  const products = rv.products ?? [];
  if (claims.product === null) out.push(reason('snp.product', 'the product is unknown'));
  else if (products.length > 0 && !products.includes(claims.product)) {
    out.push(reason('snp.product', `product ${claims.product} is not one of ${products.join(', ')}`));
  }
  if (rv.signingKeys !== undefined && (claims.signingKey === null || !rv.signingKeys.includes(claims.signingKey))) {
    out.push(
      reason(
        'snp.signing-key.allowed',
        `signing key ${claims.signingKey ?? 'none'} is not one of ${rv.signingKeys.join(', ') || '(none)'}`,
      ),
    );
  }
  // A Manifest entry's rules; DEBUG is never allowed here (only the CLI can allow it).
  out.push(...snpRuleReasons(claims, { ...rv, allowDebug: false }));
  return out;
}

/** Reasons why the claims do not meet the expectation (nonce, workload policy). */
export function expectationReasons(claims: SnpClaims, expectation: SnpExpectation): Reason[] {
  const out: Reason[] = [];
  if (expectation.reportData !== undefined) {
    const want = new Uint8Array(64);
    if (expectation.reportData.length > 64)
      out.push(
        reason('snp.report-data', `expected REPORT_DATA is ${expectation.reportData.length} bytes, more than 64`),
      );
    else {
      want.set(expectation.reportData);
      const wantHex = Buffer.from(want).toString('hex');
      if (wantHex !== claims.reportData)
        out.push(reason('snp.report-data', `REPORT_DATA ${claims.reportData} is not the expected ${wantHex}`));
    }
  }
  if (expectation.allowedHostData !== undefined) {
    const allowed = expectation.allowedHostData.map((h) => h.toLowerCase());
    if (!allowed.includes(claims.hostData))
      out.push(reason('snp.host-data', `HOST_DATA ${claims.hostData} is not an allowed policy hash`));
  }
  return out;
}

/**
 * Appraises a verification verdict. Refused when the report was not authentic, when the
 * expectation is not met, or when no reference-value entry matches; every reason is reported.
 */
export function appraiseSnp(
  verified: SnpVerdict,
  referenceValues: readonly SnpReferenceValues[],
  expectation: SnpExpectation = {},
): SnpAppraisal {
  const reasons: Reason[] = [...verified.reasons];
  const claims = verified.claims;
  if (claims === null) return verdict(null, reasons) as SnpAppraisal;
  reasons.push(...expectationReasons(claims, expectation));
  let matched: number | null = null;
  if (referenceValues.length === 0) {
    reasons.push(reason('snp.reference-values', 'no SNP reference values: nothing to appraise against'));
  } else {
    const perEntry = referenceValues.map((rv) => referenceValueReasons(claims, rv));
    const i = perEntry.findIndex((r) => r.length === 0);
    if (i >= 0) matched = i;
    else {
      perEntry.forEach((entryReasons, n) => {
        const label = `referenceValues.snp[${n}]${referenceValues[n]!.name ? ` (${referenceValues[n]!.name})` : ''}`;
        for (const r of entryReasons) reasons.push(prefixed(r, `${label}: `));
      });
    }
  }
  const appraised: SnpAppraisalClaims = {
    ...claims,
    matchedReferenceValues: matched,
    matchedReferenceName: matched === null ? null : (referenceValues[matched]!.name ?? null),
  };
  return verdict(appraised, reasons) as SnpAppraisal;
}
