/**
 * `attestor verify snp`: checks that an SEV-SNP report is authentic (signature, VCEK/VLEK chain to
 * AMD's pinned roots, the fields the certificate vouches for) and that its firmware is committed.
 * No Manifest: measurements and policies are appraised by the Coordinator.
 */
import { Command } from 'commander';
import type { Reason } from '../../attestation/verdict.ts';
import { provisionalFirmwareReasons } from '../../attestation/snp/firmware.ts';
import { verifySnpReport } from '../../attestation/snp/verify.ts';
import { EXIT_UNUSABLE, UnusableInput, parseAt, printVerdict, readBytesOrHex } from './output.ts';

export interface SnpCliOptions {
  report: string;
  vcek?: string;
  certs?: string;
  crl?: string;
  at?: string;
  allowProvisional?: boolean;
  json?: boolean;
}

type Write = (s: string) => void;

/** Runs the verification and prints the verdict; returns the exit code (0 authentic, 1 refused, 2 unusable input). */
export function runVerifySnp(opts: SnpCliOptions, out: Write = (s) => process.stdout.write(s), err: Write = (s) => process.stderr.write(s)): number {
  try {
    if ((opts.vcek === undefined) === (opts.certs === undefined)) throw new UnusableInput('give exactly one of --vcek FILE and --certs FILE');
    const at = parseAt(opts.at);
    const report = readBytesOrHex(opts.report);
    const certificates = readBytesOrHex((opts.vcek ?? opts.certs)!);
    const crl = opts.crl === undefined ? undefined : readBytesOrHex(opts.crl);
    const v = verifySnpReport({ report, certificates }, { at, ...(crl ? { crl } : {}) });
    const reasons: Reason[] = [...v.reasons];
    if (v.claims && !opts.allowProvisional) reasons.push(...provisionalFirmwareReasons(v.claims));
    return printVerdict({ verified: reasons.length === 0, reasons, claims: v.claims }, opts.json ?? false, out);
  } catch (e) {
    if (!(e instanceof UnusableInput)) throw e;
    err(`attestor verify snp: ${e.message}\n`);
    return EXIT_UNUSABLE;
  }
}

/** The `snp` subcommand of `attestor verify`. Sets process.exitCode; never calls process.exit. */
export function snpCommand(): Command {
  return new Command('snp')
    .description('verify an AMD SEV-SNP attestation report against AMD\'s pinned roots (exit 0 authentic, 1 refused, 2 unusable input)')
    .requiredOption('--report <file>', 'attestation report, 1184 bytes raw or as hex')
    .option('--vcek <file>', 'VCEK or VLEK certificate, DER or PEM')
    .option('--certs <file>', 'PEM bundle: VCEK/VLEK, optionally with ASK/ASVK and ARK (the ARK is never trusted from here)')
    .option('--crl <file>', 'AMD KDS CRL (DER) to check the ASK/ASVK against')
    .option('--at <time>', 'RFC 3339 time at which the certificates must be valid (default: now)')
    .option('--allow-provisional', 'accept provisional firmware (CURRENT differs from COMMITTED)', false)
    .option('--json', 'print one JSON object: {verified, reasons, claims}', false)
    .action((opts: SnpCliOptions) => {
      process.exitCode = runVerifySnp(opts);
    });
}
