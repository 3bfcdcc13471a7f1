/**
 * Appraisal of verified TDX evidence against the Manifest: is this the TD that is wanted, on a
 * platform whose TCB is acceptable, bound to this request? Works on claims (plain JSON), so stored
 * claims can be appraised again when the Manifest changes. Reasons from verification are kept;
 * every failed expectation adds its own.
 *
 * Two layers. The baseline every quote must meet, whatever the Manifest lists (safe defaults, the
 * same for `attestor verify tdx`): no DEBUG, TDATTRIBUTES and XFAM within the fixed masks, the
 * expected REPORTDATA and policy, acceptable TCB statuses. Then one Manifest entry must match;
 * entries may add exact values and minimums, and one may accept missing collateral for itself.
 */

import { hex } from '../bytes.ts';
import type { TdxReferenceValues } from '../reference-values.ts';
import { prefixed, type Reason, reason, type Verdict, verdict } from '../verdict.ts';
import { littleEndian64, tdAttributesProblem, xfamProblem } from './attributes.ts';
import { RTMR_CHECKS } from './checks.ts';
import type { TdxClaims } from './claims.ts';
import { COLLATERAL_MISSING, missingCollateral, missingCollateralReason } from './collateral.ts';
import { policyHashFromConfigId } from './config-id.ts';
import type { TcbStatus } from './tcb-info.ts';

/** What this particular attestation must show, beyond the Manifest's reference values. */
export interface TdxExpectation {
  /**
   * Expected REPORTDATA (the Coordinator's nonce and the agent key binding). Up to 64 bytes;
   * shorter values are zero-padded to 64 and the whole field compared.
   */
  readonly reportData?: Uint8Array;
  /** Allowed workload policy hashes (SHA-256, hex): MRCONFIGID must carry one (see config-id.ts). */
  readonly allowedConfigIds?: readonly string[];
  /**
   * Platform and QE TCB statuses to accept when collateral gave one. Default: only `UpToDate`.
   * Claims without a status (no collateral) are not judged here.
   */
  readonly acceptedTcbStatuses?: readonly TcbStatus[];
  /** Accept a TD in DEBUG mode. Only `attestor verify tdx --allow-debug` sets it; the Coordinator never does. */
  readonly allowDebug?: boolean;
}

/**
 * Appraises verified evidence; `verified` is true only if verification and appraisal both pass.
 * Missing collateral is judged here per entry (an entry may accept it), so verification's
 * `tdx.collateral.missing` gives way to that judgement rather than being counted twice.
 */
export function appraiseTdx(
  evidence: Verdict<TdxClaims>,
  referenceValues: readonly TdxReferenceValues[],
  expectation: TdxExpectation = {},
): Verdict<TdxClaims> {
  const c = evidence.claims;
  const reasons: Reason[] = evidence.reasons.filter((r) => r.check !== COLLATERAL_MISSING);
  if (c.mrTd === undefined) {
    // Nothing parsed: verification already said why.
    return verdict(c, reasons.length > 0 ? reasons : [reason('tdx.quote', 'no TD report to appraise')]);
  }
  reasons.push(...tdxBaselineReasons(c, expectation));
  reasons.push(...matchReferenceValues(c, referenceValues));
  return verdict(c, reasons);
}

/**
 * What every quote must meet, whatever the reference values: no DEBUG (unless `allowDebug`),
 * TDATTRIBUTES and XFAM within go-tdx-guest's fixed masks, the expected REPORTDATA and policy,
 * accepted TCB statuses. Collateral completeness is verification's (or an entry's) matter.
 */
export function tdxBaselineReasons(c: TdxClaims, expectation: TdxExpectation = {}): Reason[] {
  const reasons: Reason[] = [];
  if (c.tdAttributes?.debug !== false && expectation.allowDebug !== true) {
    reasons.push(
      reason(
        'tdx.td-attributes.debug',
        `TDATTRIBUTES ${c.tdAttributes?.hex ?? '?'} has the DEBUG bit set: the host can read and change the TD`,
      ),
    );
  }
  reasons.push(...fixedBitReasons(c));
  if (expectation.reportData !== undefined) reasons.push(...reportDataReasons(c, expectation.reportData));
  if (expectation.allowedConfigIds !== undefined) {
    const allowed = expectation.allowedConfigIds.map((h) => h.toLowerCase());
    const policy = c.mrConfigId === undefined ? undefined : policyHashFromConfigId(c.mrConfigId);
    if (policy === undefined)
      reasons.push(
        reason(
          'tdx.mrconfigid',
          `MRCONFIGID ${c.mrConfigId} does not carry a policy hash (SHA-256 followed by 16 zero bytes)`,
        ),
      );
    else if (!allowed.includes(policy))
      reasons.push(
        reason('tdx.mrconfigid', `policy hash ${policy} in MRCONFIGID is not one of the ${allowed.length} allowed`),
      );
  }
  reasons.push(...tcbStatusReasons(c, expectation.acceptedTcbStatuses));
  return reasons;
}

/** `tdx.td-attributes.fixed-bits` / `tdx.xfam.fixed-bits` for bits outside the masks every TD must meet. */
function fixedBitReasons(c: TdxClaims): Reason[] {
  const out: Reason[] = [];
  const attributes = c.tdAttributes === undefined ? undefined : littleEndian64(Buffer.from(c.tdAttributes.hex, 'hex'));
  const attributesProblem = attributes === undefined ? 'is not 8 bytes' : tdAttributesProblem(attributes);
  if (attributesProblem !== undefined)
    out.push(reason('tdx.td-attributes.fixed-bits', `TDATTRIBUTES ${c.tdAttributes?.hex ?? '?'} ${attributesProblem}`));
  const xfam = c.xfam === undefined ? undefined : littleEndian64(Buffer.from(c.xfam, 'hex'));
  const xfamBits = xfam === undefined ? 'is not 8 bytes' : xfamProblem(xfam);
  if (xfamBits !== undefined) out.push(reason('tdx.xfam.fixed-bits', `XFAM ${c.xfam ?? '?'} ${xfamBits}`));
  return out;
}

/** `tdx.report-data` when REPORTDATA is not `expected` zero-padded to 64 bytes. */
export function reportDataReasons(c: TdxClaims, expected: Uint8Array): Reason[] {
  if (expected.length > 64)
    return [reason('tdx.report-data', `expected REPORTDATA is ${expected.length} bytes; it has 64`)];
  const want = new Uint8Array(64);
  want.set(expected);
  return c.reportData === hex(want)
    ? []
    : [reason('tdx.report-data', `REPORTDATA ${c.reportData} is not the expected ${hex(want)}`)];
}

/** `tdx.tcb-status` / `tdx.qe-tcb-status` for statuses (when collateral gave them) not in `accepted` (default UpToDate). */
export function tcbStatusReasons(c: TdxClaims, accepted: readonly TcbStatus[] = ['UpToDate']): Reason[] {
  const out: Reason[] = [];
  if (c.tcbStatus !== undefined && !accepted.includes(c.tcbStatus)) {
    const advisories = c.advisoryIds && c.advisoryIds.length > 0 ? ` (advisories: ${c.advisoryIds.join(', ')})` : '';
    out.push(
      reason('tdx.tcb-status', `platform TCB status is ${c.tcbStatus}${advisories}; accepted: ${accepted.join(', ')}`),
    );
  }
  if (c.qeTcbStatus !== undefined && !accepted.includes(c.qeTcbStatus)) {
    out.push(
      reason('tdx.qe-tcb-status', `quoting enclave TCB status is ${c.qeTcbStatus}; accepted: ${accepted.join(', ')}`),
    );
  }
  return out;
}

/** Empty when some entry matches; otherwise every mismatch of every entry, labelled by entry. */
function matchReferenceValues(c: TdxClaims, entries: readonly TdxReferenceValues[]): Reason[] {
  if (entries.length === 0) return [reason('tdx.reference-values', 'the Manifest has no TDX reference values')];
  const perEntry = entries.map((rv) => mismatches(c, rv));
  if (perEntry.some((m) => m.length === 0)) return [];
  const several = entries.length > 1;
  return perEntry.flatMap((m, i) => {
    const label = several ? `referenceValues.tdx[${i}]${entries[i]?.name ? ` (${entries[i]?.name})` : ''}: ` : '';
    return m.map((r) => prefixed(r, label));
  });
}

function mismatches(c: TdxClaims, rv: TdxReferenceValues): Reason[] {
  const out: Reason[] = [];
  const mrTd = (rv.mrTd ?? []).map((v) => v.toLowerCase());
  if (!mrTd.includes(c.mrTd ?? ''))
    out.push(reason('tdx.mrtd', `MRTD ${c.mrTd} is not one of the ${mrTd.length} allowed`));
  (rv.rtmrs ?? []).forEach((want, i) => {
    if (want === null || want === undefined) return;
    const got = c.rtmrs?.[i];
    const check = RTMR_CHECKS[i];
    if (check === undefined)
      out.push(reason('tdx.reference-values', `the entry lists ${rv.rtmrs?.length} RTMRs; a TD has 4`));
    else if (got !== want.toLowerCase())
      out.push(reason(check, `RTMR${i} ${got} is not the expected ${want.toLowerCase()}`));
  });
  if (rv.mrSeam !== undefined) {
    const allowed = rv.mrSeam.map((v) => v.toLowerCase());
    if (!allowed.includes(c.mrSeam ?? ''))
      out.push(reason('tdx.mrseam', `MRSEAM ${c.mrSeam} (TDX module) is not one of the ${allowed.length} allowed`));
  }
  if (c.tcbEvaluated !== true && rv.allowMissingCollateral !== true)
    out.push(missingCollateralReason(c.missingCollateral ?? missingCollateral(undefined)));
  if (rv.xfam !== undefined && c.xfam !== rv.xfam.toLowerCase())
    out.push(reason('tdx.xfam', `XFAM ${c.xfam} is not the expected ${rv.xfam.toLowerCase()}`));
  if (rv.tdAttributes !== undefined && c.tdAttributes?.hex !== rv.tdAttributes.toLowerCase()) {
    out.push(
      reason(
        'tdx.td-attributes',
        `TDATTRIBUTES ${c.tdAttributes?.hex} is not the expected ${rv.tdAttributes.toLowerCase()}`,
      ),
    );
  }
  if (rv.mrOwner !== undefined && c.mrOwner !== rv.mrOwner.toLowerCase())
    out.push(reason('tdx.mrowner', `MROWNER ${c.mrOwner} is not the expected ${rv.mrOwner.toLowerCase()}`));
  if (rv.mrOwnerConfig !== undefined && c.mrOwnerConfig !== rv.mrOwnerConfig.toLowerCase()) {
    out.push(
      reason(
        'tdx.mrownerconfig',
        `MROWNERCONFIG ${c.mrOwnerConfig} is not the expected ${rv.mrOwnerConfig.toLowerCase()}`,
      ),
    );
  }
  if (rv.minimumQeSvn !== undefined && !((c.qeSvn ?? -1) >= rv.minimumQeSvn))
    out.push(reason('tdx.qe-svn', `quoting enclave ISVSVN ${c.qeSvn ?? '?'} is below the minimum ${rv.minimumQeSvn}`));
  if (rv.minimumPceSvn !== undefined && !((c.pckTcb?.pceSvn ?? -1) >= rv.minimumPceSvn))
    out.push(
      reason(
        'tdx.pce-svn',
        `PCE SVN ${c.pckTcb?.pceSvn ?? '?'} (PCK certificate) is below the minimum ${rv.minimumPceSvn}`,
      ),
    );
  if (rv.minimumTeeTcbSvn !== undefined) {
    const min = Buffer.from(rv.minimumTeeTcbSvn, 'hex');
    const got = Buffer.from(c.teeTcbSvn ?? '', 'hex');
    const low = [...min].map((m, i) => ({ i, m, g: got[i] ?? 0 })).filter((x) => x.g < x.m);
    if (min.length !== 16 || got.length !== 16)
      out.push(reason('tdx.tee-tcb-svn', `minimum TEE_TCB_SVN ${rv.minimumTeeTcbSvn} must be 16 bytes of hex`));
    else if (low.length > 0)
      out.push(
        reason(
          'tdx.tee-tcb-svn',
          `TEE_TCB_SVN ${c.teeTcbSvn} is below the minimum ${rv.minimumTeeTcbSvn} at component ${low.map((x) => `${x.i} (${x.g} < ${x.m})`).join(', ')}`,
        ),
      );
  }
  return out;
}
