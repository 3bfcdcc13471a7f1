/**
 * What `attestor verify` prints without --json: what was checked, what was not (and why: a flag
 * relaxed it, or it needs input that was not given, such as a Manifest, collateral or RIMs), and
 * the key claims. Pure: claims and options in, lines out. --json keeps every claim.
 */
import type { GpuClaims } from '../../attestation/nvidia/claims.ts';
import type { SnpClaims } from '../../attestation/snp/claims.ts';
import type { SnpTcbClaims } from '../../attestation/snp/tcb.ts';
import type { TdxClaims } from '../../attestation/tdx/claims.ts';

export interface Summary {
  readonly checked: string[];
  readonly notChecked: string[];
  /** Label and value, in the order shown. */
  readonly claims: Array<[string, string]>;
}

export interface SnpSummaryInput {
  readonly claims?: SnpClaims;
  readonly at: Date;
  readonly crl: boolean;
  readonly allowDebug: boolean;
  readonly allowMigrationAgent: boolean;
  readonly allowCXL: boolean;
  readonly allowProvisionalFirmware: boolean;
  readonly maximumVMPL: number;
}

function tcbText(t: SnpTcbClaims): string {
  return `bl ${t.bootloader} tee ${t.tee} snp ${t.snp} ucode ${t.microcode}${t.fmc != null ? ` fmc ${t.fmc}` : ''} (${t.raw})`;
}

export function snpSummary(i: SnpSummaryInput): Summary {
  const c = i.claims;
  const key = c?.signingKey === 'vlek' ? 'VLEK' : 'VCEK';
  const policyRules = [
    i.allowDebug ? undefined : 'DEBUG',
    i.allowMigrationAgent ? undefined : 'MIGRATE_MA',
    i.allowCXL ? undefined : 'CXL_ALLOW',
  ].filter((x): x is string => x !== undefined);
  const checked = [
    `signature, and the ${key} chain to AMD's pinned ${c?.product ?? ''} roots (certificates valid at ${i.at.toISOString()})`.replace(
      '  ',
      ' ',
    ),
    `the ${key}'s TCB equals REPORTED_TCB and does not exceed CURRENT_TCB`,
    ...(policyRules.length > 0 ? [`guest policy: ${policyRules.join(', ')} refused`] : []),
    `VMPL at most ${i.maximumVMPL}`,
    i.allowProvisionalFirmware
      ? 'firmware: COMMITTED not above CURRENT'
      : 'firmware committed (CURRENT equals COMMITTED)',
    'no reserved PLATFORM_INFO bits',
    ...(i.crl ? ['ASK/ASVK not revoked (--crl)'] : []),
  ];
  const notChecked = [
    'measurement, HOST_DATA, REPORT_DATA and TCB minimums: only a Manifest has reference values (the Coordinator appraises them; the claims below are what to compare)',
    ...(i.crl ? [] : ['revocation of the ASK/ASVK: no --crl given']),
    ...(i.allowDebug ? ['DEBUG in the guest policy: accepted by --allow-debug'] : []),
    ...(i.allowMigrationAgent ? ['MIGRATE_MA in the guest policy: accepted by --allow-migrate-ma'] : []),
    ...(i.allowCXL ? ['CXL_ALLOW in the guest policy: accepted by --allow-cxl'] : []),
    ...(i.allowProvisionalFirmware ? ['committed firmware: provisional accepted by --allow-provisional'] : []),
  ];
  const claims: Array<[string, string]> = [];
  if (c) {
    if (c.product) claims.push(['product', `${c.product} (${key})`]);
    if (c.measurement) claims.push(['measurement', c.measurement]);
    if (c.hostData) claims.push(['host data', c.hostData]);
    if (c.reportData) claims.push(['report data', c.reportData]);
    if (c.reportedTcb) claims.push(['reported TCB', tcbText(c.reportedTcb)]);
    if (c.vmpl !== undefined) claims.push(['VMPL', String(c.vmpl)]);
    if (c.policy) {
      const set = Object.entries({
        DEBUG: c.policy.debug,
        MIGRATE_MA: c.policy.migrateMA,
        CXL_ALLOW: c.policy.cxlAllowed,
        SMT: c.policy.smt,
        SINGLE_SOCKET: c.policy.singleSocket,
      })
        .filter(([, v]) => v === true)
        .map(([k]) => k);
      claims.push(['guest policy', set.length > 0 ? set.join(', ') : 'no flags set']);
    }
    if (c.chipId) claims.push(['chip id', c.chipId]);
  }
  return { checked, notChecked, claims };
}

export interface TdxSummaryInput {
  readonly claims?: TdxClaims;
  readonly at: Date;
  readonly acceptedTcbStatuses: readonly string[];
  readonly allowDebug: boolean;
  readonly reportData: boolean;
  readonly referenceValues: boolean;
}

export function tdxSummary(i: TdxSummaryInput): Summary {
  const c = i.claims;
  const evaluated = c?.tcbEvaluated === true;
  const checked = [
    `quote and QE report signatures, and the PCK chain to Intel's pinned SGX Root CA (valid at ${i.at.toISOString()})`,
    ...(evaluated
      ? [
          `Intel collateral signed and current; TCB status accepted: ${i.acceptedTcbStatuses.join(', ')}; QE identity; PCK not revoked`,
        ]
      : []),
    ...(i.allowDebug ? [] : ['DEBUG refused']),
    'TDATTRIBUTES and XFAM within the fixed masks',
    ...(i.reportData ? ['REPORTDATA equals --report-data'] : []),
    ...(i.referenceValues ? ['MRTD, RTMRs, MRSEAM and the other reference values (--reference-values)'] : []),
  ];
  const notChecked = [
    ...(evaluated
      ? []
      : [
          `TCB status, QE identity and revocation: no complete Intel collateral${c?.missingCollateral?.length ? ` (missing: ${c.missingCollateral.join(', ')})` : ''}, accepted by --allow-missing-collateral`,
        ]),
    ...(i.referenceValues
      ? []
      : [
          'MRTD, RTMRs and MRSEAM: no --reference-values (the Coordinator appraises them against a Manifest; the claims below are what to compare)',
        ]),
    ...(i.reportData ? [] : ['REPORTDATA: no --report-data given']),
    ...(i.allowDebug ? ['DEBUG: accepted by --allow-debug'] : []),
  ];
  const claims: Array<[string, string]> = [];
  if (c) {
    if (c.mrTd) claims.push(['MRTD', c.mrTd]);
    for (const [n, r] of (c.rtmrs ?? []).entries()) claims.push([`RTMR${n}`, r]);
    if (c.mrSeam) claims.push(['MRSEAM', c.mrSeam]);
    if (c.mrConfigId) claims.push(['MRCONFIGID', c.mrConfigId]);
    if (c.reportData) claims.push(['report data', c.reportData]);
    if (c.tdAttributes) claims.push(['debug', c.tdAttributes.debug ? 'yes' : 'no']);
    if (c.fmspc) claims.push(['FMSPC', c.fmspc]);
    if (c.tcbStatus) claims.push(['TCB status', c.tcbStatus]);
    if (c.qeTcbStatus) claims.push(['QE TCB status', c.qeTcbStatus]);
  }
  return { checked, notChecked, claims };
}

export interface GpuSummaryInput {
  readonly gpus: readonly GpuClaims[];
  readonly at: Date;
  readonly requireFwid: boolean;
  readonly requireOcsp: boolean;
  readonly requireRims: boolean;
}

export function gpuSummary(i: GpuSummaryInput): Summary {
  const checked = [
    `report signatures, and the device chains to NVIDIA's pinned Device Identity CA (valid at ${i.at.toISOString()})`,
    'the nonce in each report',
    ...(i.requireFwid ? ["FWID equal to the leaf certificate's"] : []),
  ];
  const notChecked: string[] = [];
  if (!i.requireFwid) notChecked.push('FWID: a report without one is accepted by --allow-missing-fwid');
  const claims: Array<[string, string]> = [];
  for (const [n, g] of i.gpus.entries()) {
    const label = i.gpus.length > 1 ? `GPU ${n} ` : '';
    const revocation = g.revocation ?? [];
    const good = revocation.filter((r) => r.status === 'good').length;
    const unchecked = revocation.filter((r) => r.status === 'not-checked').length;
    if (good > 0) checked.push(`${label}revocation: ${good} certificate(s) with a current "good" OCSP answer`.trim());
    if (unchecked > 0)
      notChecked.push(
        `${label}revocation of ${unchecked} certificate(s): no OCSP answer${i.requireOcsp ? '' : ', accepted by --allow-missing-ocsp'}`.trim(),
      );
    const m = g.measurements;
    if (m?.status === 'matched' || (m && m.status !== 'not-evaluated' && m.matched > 0))
      checked.push(`${label}measurements: ${m.matched} matched the driver and VBIOS RIMs`.trim());
    if (m?.status === 'not-evaluated')
      notChecked.push(
        `${label}measurements: not evaluated (${m.notEvaluated.map((x) => `${x.rim}: ${x.why}`).join('; ')})${i.requireRims ? '' : ', accepted by --allow-missing-rims'}`.trim(),
      );
    if (g.architecture) claims.push([`${label}architecture`, g.architecture]);
    if (g.driverVersion) claims.push([`${label}driver`, g.driverVersion]);
    if (g.vbiosVersion) claims.push([`${label}VBIOS`, g.vbiosVersion]);
    if (g.deviceId) claims.push([`${label}device id`, g.deviceId]);
    if (g.mode) claims.push([`${label}mode`, g.mode]);
    if (g.fwid) claims.push([`${label}FWID`, g.fwid]);
  }
  return { checked, notChecked, claims };
}

/** The summary as lines, after the VERIFIED/REFUSED line and the reasons. */
export function summaryText(s: Summary): string {
  const width = Math.max(0, ...s.claims.map(([k]) => k.length));
  const lines = [
    'checked:',
    ...s.checked.map((x) => `  ${x}`),
    ...(s.notChecked.length > 0 ? ['not checked:', ...s.notChecked.map((x) => `  ${x}`)] : []),
    ...(s.claims.length > 0 ? ['claims:', ...s.claims.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)] : []),
    '(--json prints every claim)',
  ];
  return `${lines.join('\n')}\n`;
}
