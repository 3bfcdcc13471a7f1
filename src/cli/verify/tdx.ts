/**
 * `attestor verify tdx`: checks that an Intel TDX quote is authentic (quote and QE report
 * signatures, PCK chain to the pinned Intel SGX Root CA), that Intel's collateral (--collateral)
 * is complete, signed, current and does not revoke the PCK, and that the platform and QE TCB
 * status is acceptable (default: UpToDate only). It appraises with the defaults of a Manifest
 * entry with no optional fields: DEBUG refused, TDATTRIBUTES and XFAM within the fixed masks,
 * collateral required. Flags relax these one by one (--allow-debug, --allow-missing-collateral,
 * --allow-tcb-status); without collateral and with --allow-missing-collateral the JSON says
 * `tcbEvaluated: false`. With --reference-values it also matches the TD (MRTD, RTMRs, MRSEAM,
 * XFAM, TDATTRIBUTES, MROWNER, SVN minimums) as the Coordinator would.
 *
 * The collateral directory's layout is in src/collateral/directories.ts (and docs/collateral.md).
 */
import { Command } from 'commander';
import type { TdxReferenceValues } from '../../attestation/reference-values.ts';
import { appraiseTdx, type TdxExpectation, tdxBaselineReasons } from '../../attestation/tdx/appraise.ts';
import type { TdxCollateral } from '../../attestation/tdx/collateral.ts';
import { TCB_STATUSES, type TcbStatus } from '../../attestation/tdx/tcb-info.ts';
import { verifyTdx } from '../../attestation/tdx/verify.ts';
import { loadTdxCollateralDir, UnusableCollateralDir } from '../../collateral/directories.ts';
import { errorMessage } from '../../errors.ts';
import { reportUnusable } from '../errors.ts';
import { parseAt, parseHex, printVerdict, readBytesOrHex, readText, UnusableInput } from './output.ts';
import { tdxSummary } from './summary.ts';

export interface TdxCliOptions {
  quote: string;
  collateral?: string;
  at?: string;
  allowTcbStatus?: string;
  allowDebug?: boolean;
  allowMissingCollateral?: boolean;
  reportData?: string;
  referenceValues?: string;
  json?: boolean;
}

type Write = (s: string) => void;

const STATUSES = TCB_STATUSES;

/** Reads the --collateral directory; UnusableInput when it cannot be read or holds none of the files. */
function collateralFrom(dir: string): TdxCollateral {
  try {
    return loadTdxCollateralDir(dir);
  } catch (err) {
    if (err instanceof UnusableCollateralDir) throw new UnusableInput(`--collateral: ${err.message}`);
    throw err;
  }
}

function parseStatuses(value: string | undefined): TcbStatus[] {
  if (value === undefined) return ['UpToDate'];
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const s of list)
    if (!STATUSES.includes(s as TcbStatus))
      throw new UnusableInput(`--allow-tcb-status: unknown status "${s}" (one of ${STATUSES.join(', ')})`);
  return ['UpToDate', ...(list as TcbStatus[])];
}

function readReferenceValues(path: string): TdxReferenceValues[] {
  let data: unknown;
  try {
    data = JSON.parse(readText(path));
  } catch (err) {
    if (err instanceof UnusableInput) throw err;
    throw new UnusableInput(`--reference-values: ${path} is not JSON: ${errorMessage(err)}`);
  }
  // Either a list of TDX reference values or a Manifest's referenceValues object with a tdx list.
  const list = Array.isArray(data) ? data : (data as { tdx?: unknown } | null)?.tdx;
  if (
    !Array.isArray(list) ||
    !list.every((e) => typeof e === 'object' && e !== null && Array.isArray((e as { mrTd?: unknown }).mrTd))
  ) {
    throw new UnusableInput(
      `--reference-values: expected a JSON list of TDX reference values (each with mrTd) or {"tdx": [...]}`,
    );
  }
  return list as TdxReferenceValues[];
}

/** Runs the verification and prints the verdict; returns the exit code (0 authentic, 1 refused, 2 unusable input). */
export function runVerifyTdx(
  opts: TdxCliOptions,
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): number {
  try {
    const at = parseAt(opts.at);
    const accepted = parseStatuses(opts.allowTcbStatus);
    const reportData = opts.reportData === undefined ? undefined : parseHex('--report-data', opts.reportData);
    if (reportData !== undefined && reportData.length > 64) throw new UnusableInput('--report-data: at most 64 bytes');
    const referenceValues = opts.referenceValues === undefined ? undefined : readReferenceValues(opts.referenceValues);
    const quote = readBytesOrHex(opts.quote);
    const collateral = opts.collateral === undefined ? undefined : collateralFrom(opts.collateral);
    const allowMissingCollateral = opts.allowMissingCollateral === true;
    const v = verifyTdx({ quote }, { at, allowMissingCollateral, ...(collateral ? { collateral } : {}) });
    const expectation: TdxExpectation = {
      acceptedTcbStatuses: accepted,
      allowDebug: opts.allowDebug === true,
      ...(reportData ? { reportData } : {}),
    };
    const summary = tdxSummary({
      claims: v.claims,
      at,
      acceptedTcbStatuses: accepted,
      allowDebug: expectation.allowDebug ?? false,
      reportData: reportData !== undefined,
      referenceValues: referenceValues !== undefined,
    });
    if (referenceValues !== undefined) {
      // Missing collateral is relaxed by the flag alone, never by the reference values file.
      const entries = referenceValues.map((rv) => ({ ...rv, allowMissingCollateral }));
      return printVerdict(appraiseTdx(v, entries, expectation), opts.json ?? false, out, summary);
    }
    if (v.claims.mrTd === undefined) return printVerdict(v, opts.json ?? false, out); // did not parse: nothing to appraise
    const reasons = [...v.reasons, ...tdxBaselineReasons(v.claims, expectation)];
    return printVerdict(
      { verified: reasons.length === 0, reasons, claims: v.claims },
      opts.json ?? false,
      out,
      summary,
    );
  } catch (e) {
    return reportUnusable('attestor verify tdx', e, opts.json ?? false, out, err);
  }
}

/** The `tdx` subcommand of `attestor verify`. Sets process.exitCode; never calls process.exit. */
export function tdxCommand(): Command {
  return new Command('tdx')
    .description(
      "verify an Intel TDX quote against Intel's pinned SGX Root CA and collateral, with a Manifest's safe defaults (exit 0 verified, 1 refused, 2 unusable input)",
    )
    .requiredOption('--quote <file>', 'TDX quote (v4 or v5), raw or as hex')
    .option(
      '--collateral <dir>',
      'Intel PCS collateral directory, required unless --allow-missing-collateral: tcbinfo, qeidentity, pckcrl, rootcrl.der, tcbinfo-issuer-chain.pem (see docs)',
    )
    .option('--at <time>', 'RFC 3339 time at which certificates and collateral must be valid (default: now)')
    .option(
      '--allow-missing-collateral',
      'accept a quote without complete collateral; the QE identity, TCB status and revocation are then not evaluated (JSON: tcbEvaluated false). Default: refused (tdx.collateral.missing)',
      false,
    )
    .option('--allow-debug', 'accept a TD with the DEBUG attribute (default: refused)', false)
    .option(
      '--allow-tcb-status <list>',
      'comma-separated TCB statuses to accept besides UpToDate (e.g. SWHardeningNeeded,OutOfDate)',
    )
    .option('--report-data <hex>', 'expected REPORTDATA (up to 64 bytes, zero-padded)')
    .option(
      '--reference-values <file>',
      'JSON list of TDX reference values (or {"tdx": [...]}) to appraise the TD against',
    )
    .option('--json', 'print one JSON object: {verified, reasons, claims}', false)
    .action((opts: TdxCliOptions) => {
      process.exitCode = runVerifyTdx(opts);
    });
}
