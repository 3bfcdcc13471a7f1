/**
 * `attestor verify snp`: checks that an SEV-SNP report is authentic (signature, VCEK/VLEK chain to
 * AMD's pinned roots, the fields the certificate vouches for) and that it meets the same rules as a
 * Manifest entry with no optional fields (snp/rules.ts): DEBUG, MIGRATE_MA and CXL_ALLOW refused,
 * VMPL 0, committed firmware, no reserved PLATFORM_INFO bits. Flags relax them one by one.
 * No Manifest: measurements and TCB minimums are appraised by the Coordinator.
 */
import { Command } from 'commander';
import { type SnpRuleOptions, snpRuleReasons } from '../../attestation/snp/rules.ts';
import { verifySnp } from '../../attestation/snp/verify.ts';
import { reportUnusable } from '../errors.ts';
import { parseAt, printVerdict, readBytesOrHex, UnusableInput } from './output.ts';
import { snpSummary } from './summary.ts';

export interface SnpCliOptions {
  report: string;
  vcek?: string;
  certs?: string;
  crl?: string;
  at?: string;
  allowProvisional?: boolean;
  allowDebug?: boolean;
  allowMigrateMa?: boolean;
  allowCxl?: boolean;
  /** Highest VMPL accepted, as given on the command line (default 0). */
  vmpl?: string | number;
  json?: boolean;
}

type Write = (s: string) => void;

/** The rules the flags ask for: a Manifest entry's defaults, each flag relaxing one. */
export function snpCliRules(opts: SnpCliOptions): SnpRuleOptions {
  return {
    allowDebug: opts.allowDebug ?? false,
    allowMigrationAgent: opts.allowMigrateMa ?? false,
    allowCXL: opts.allowCxl ?? false,
    allowProvisionalFirmware: opts.allowProvisional ?? false,
    maximumVMPL: parseVmpl(opts.vmpl),
  };
}

function parseVmpl(value: string | number | undefined): number {
  if (value === undefined) return 0;
  const text = String(value).trim();
  if (!/^[0-3]$/.test(text)) throw new UnusableInput(`--vmpl: expected 0, 1, 2 or 3, got "${String(value)}"`);
  return Number(text);
}

/** Runs the verification and prints the verdict; returns the exit code (0 authentic, 1 refused, 2 unusable input). */
export function runVerifySnp(
  opts: SnpCliOptions,
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): number {
  try {
    if ((opts.vcek === undefined) === (opts.certs === undefined))
      throw new UnusableInput('give exactly one of --vcek FILE and --certs FILE');
    const at = parseAt(opts.at);
    const rules = snpCliRules(opts);
    const report = readBytesOrHex(opts.report);
    const certificates = readBytesOrHex((opts.vcek ?? opts.certs)!);
    const crl = opts.crl === undefined ? undefined : readBytesOrHex(opts.crl);
    const v = verifySnp({ report }, { at, collateral: { certificates, ...(crl ? { crl } : {}) } });
    const reasons = [...v.reasons, ...(v.claims ? snpRuleReasons(v.claims, rules) : [])];
    const summary = snpSummary({
      claims: v.claims ?? undefined,
      at,
      crl: crl !== undefined,
      allowDebug: rules.allowDebug ?? false,
      allowMigrationAgent: rules.allowMigrationAgent ?? false,
      allowCXL: rules.allowCXL ?? false,
      allowProvisionalFirmware: rules.allowProvisionalFirmware ?? false,
      maximumVMPL: rules.maximumVMPL ?? 0,
    });
    return printVerdict(
      { verified: reasons.length === 0, reasons, claims: v.claims },
      opts.json ?? false,
      out,
      summary,
    );
  } catch (e) {
    return reportUnusable('attestor verify snp', e, opts.json ?? false, out, err);
  }
}

/** The `snp` subcommand of `attestor verify`. Sets process.exitCode; never calls process.exit. */
export function snpCommand(): Command {
  return new Command('snp')
    .description(
      "verify an AMD SEV-SNP attestation report against AMD's pinned roots and the default rules of a Manifest entry (exit 0 authentic, 1 refused, 2 unusable input)",
    )
    .requiredOption('--report <file>', 'attestation report, 1184 bytes raw or as hex')
    .option('--vcek <file>', 'VCEK or VLEK certificate, DER or PEM')
    .option(
      '--certs <file>',
      'PEM bundle: VCEK/VLEK, optionally with ASK/ASVK and ARK (the ARK is never trusted from here)',
    )
    .option('--crl <file>', 'AMD KDS CRL (DER) to check the ASK/ASVK against')
    .option('--at <time>', 'RFC 3339 time at which the certificates must be valid (default: now)')
    .option('--allow-debug', 'accept a guest policy with DEBUG set (the host can read guest memory)', false)
    .option(
      '--allow-migrate-ma',
      'accept a guest policy with MIGRATE_MA set (a migration agent may export the guest)',
      false,
    )
    .option('--allow-cxl', 'accept a guest policy with CXL_ALLOW set', false)
    .option('--vmpl <n>', 'highest VMPL the report may come from (0 is the most privileged)', '0')
    .option(
      '--allow-provisional',
      'accept provisional firmware (CURRENT differs from COMMITTED; COMMITTED must still not be above CURRENT)',
      false,
    )
    .option('--json', 'print one JSON object: {verified, reasons, claims}', false)
    .action((opts: SnpCliOptions) => {
      process.exitCode = runVerifySnp(opts);
    });
}
