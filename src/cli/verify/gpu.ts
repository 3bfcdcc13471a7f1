/**
 * `attestor verify gpu`: checks NVIDIA GPU attestation reports offline: the signature, the device
 * certificate chain to NVIDIA's pinned Device Identity CA, the FWID, the nonce, the multi-GPU mode,
 * OCSP answers for every certificate above the leaf and for the RIM signer chains, and that every
 * active measurement matches the driver and VBIOS RIMs (themselves verified to NVIDIA's pinned RIM
 * root). The defaults are those of a Manifest without optional GPU fields: FWID, OCSP answers and
 * RIMs required; flags relax them one by one. Allowed versions are the Coordinator's business.
 */
import { basename } from 'node:path';
import { Command } from 'commander';
import type { GpuClaims } from '../../attestation/nvidia/claims.ts';
import {
  appraiseGpu,
  type GpuEvidence,
  type GpuPolicy,
  parseEvidenceList,
  type RimInput,
  verifyGpu,
} from '../../attestation/nvidia/index.ts';
import { asReason, prefixed, type Reason } from '../../attestation/verdict.ts';
import { reportUnusable } from '../errors.ts';
import { parseAt, parseHex, printVerdict, readBytesOrHex, readText, UnusableInput } from './output.ts';
import { gpuSummary } from './summary.ts';

export interface GpuCliOptions {
  report?: string;
  certs?: string;
  evidence?: string;
  nonce: string;
  rim?: string[];
  ocsp?: string[];
  at?: string;
  json?: boolean;
  allowMissingFwid?: boolean;
  allowMissingOcsp?: boolean;
  allowMissingRims?: boolean;
  ocspAllowUnknown?: boolean;
  ocspRevokedGrace?: string;
}

type Write = (s: string) => void;

/** Runs the verification and prints the verdict; resolves to the exit code (0 authentic and RIMs match, 1 refused, 2 unusable input). */
export async function runVerifyGpu(
  opts: GpuCliOptions,
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): Promise<number> {
  try {
    if ((opts.report === undefined) === (opts.evidence === undefined))
      throw new UnusableInput('give either --report FILE with --certs FILE, or --evidence FILE.json');
    if (opts.report !== undefined && opts.certs === undefined)
      throw new UnusableInput('--report needs --certs FILE (the PEM certificate chain, leaf first)');
    if (opts.evidence !== undefined && opts.certs !== undefined)
      throw new UnusableInput('--certs goes with --report; an evidence list carries its own chains');
    const nonce = parseHex('--nonce', opts.nonce, 32);
    const at = parseAt(opts.at);
    const rims: RimInput[] = (opts.rim ?? []).map((file) => ({
      xml: readText(file),
      id: basename(file).replace(/\.(xml|swidtag)$/i, ''),
    }));
    const ocsp = (opts.ocsp ?? []).map((file) => readBytesOrHex(file));
    const policy = policyFromFlags(opts);

    let inputs: GpuEvidence[];
    if (opts.report !== undefined) {
      inputs = [{ report: readBytesOrHex(opts.report), certificateChain: readText(opts.certs!) }];
    } else {
      const text = readText(opts.evidence!);
      try {
        inputs = parseEvidenceList(text).map((item) => ({
          report: item.report,
          certificateChain: item.certificateChain,
          architecture: item.architecture,
        }));
      } catch (e) {
        return printVerdict({ verified: false, reasons: [asReason(e)], claims: { gpus: [] } }, opts.json ?? false, out);
      }
    }
    const gpus: GpuClaims[] = [];
    const reasons: Reason[] = [];
    for (const [i, evidence] of inputs.entries()) {
      const verified = await verifyGpu(evidence, { at, policy, collateral: { rims, ocsp } });
      const v = appraiseGpu(verified, undefined, { nonce });
      gpus.push(v.claims);
      reasons.push(...v.reasons.map((r) => prefixed(r, `GPU ${i}: `)));
    }
    const summary = gpuSummary({
      gpus,
      at,
      requireFwid: policy.requireFwid ?? true,
      requireOcsp: policy.revocation?.requireAnswers ?? true,
      requireRims: policy.requireRims ?? true,
    });
    return printVerdict(
      { verified: reasons.length === 0, reasons, claims: { gpus } },
      opts.json ?? false,
      out,
      summary,
    );
  } catch (e) {
    return reportUnusable('attestor verify gpu', e, opts.json ?? false, out, err);
  }
}

/** The relaxations the flags ask for; without flags, the strict policy of a Manifest without optional GPU fields. */
function policyFromFlags(opts: GpuCliOptions): GpuPolicy {
  let grace = 0;
  if (opts.ocspRevokedGrace !== undefined) {
    if (!/^\d{1,4}$/.test(opts.ocspRevokedGrace) || Number(opts.ocspRevokedGrace) > 8760)
      throw new UnusableInput(
        `--ocsp-revoked-grace: expected whole hours from 0 to 8760, got "${opts.ocspRevokedGrace}"`,
      );
    grace = Number(opts.ocspRevokedGrace);
  }
  return {
    requireFwid: !opts.allowMissingFwid,
    requireRims: !opts.allowMissingRims,
    revocation: {
      requireAnswers: !opts.allowMissingOcsp,
      allowUnknown: opts.ocspAllowUnknown === true,
      revokedGracePeriodHours: grace,
    },
  };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The `gpu` subcommand of `attestor verify`. Sets process.exitCode; never calls process.exit. */
export function gpuCommand(): Command {
  return new Command('gpu')
    .description(
      "verify NVIDIA GPU attestation reports against NVIDIA's pinned roots, OCSP answers and RIMs, with a Manifest's strict defaults (exit 0 authentic and RIMs match, 1 refused, 2 unusable input)",
    )
    .option(
      '--report <file>',
      'attestation report as NVML returns it (SPDM request + response + signature), raw or hex',
    )
    .option(
      '--certs <file>',
      'PEM certificate chain of the GPU, leaf first (a root in it is never trusted, only compared with the pinned one)',
    )
    .option(
      '--evidence <file>',
      'NVIDIA attestation SDK evidence list: [{arch, certificate, evidence, nonce}], one entry per GPU',
    )
    .requiredOption('--nonce <hex>', 'the 32-byte nonce the reports must carry, as 64 hex characters')
    .option(
      '--rim <file>',
      'driver or VBIOS RIM (SWID XML); repeat for several. Its file name is taken as its RIM ID (e.g. NV_GPU_DRIVER_GH100_550.90.07.xml). Every active measurement must match them',
      collect,
      [],
    )
    .option(
      '--ocsp <file>',
      'DER OCSP response for a certificate above the leaf or of a RIM signer chain; repeat for several. Each certificate needs a current "good" one (docs/collateral.md says how to get them)',
      collect,
      [],
    )
    .option(
      '--at <time>',
      'RFC 3339 time at which certificates, RIM signers and OCSP answers must be valid (default: now)',
    )
    .option('--allow-missing-fwid', 'accept a report without FWID (older firmware, e.g. driver 535)', false)
    .option(
      '--allow-missing-ocsp',
      'accept certificates without a current OCSP answer (their revocation is then not checked)',
      false,
    )
    .option('--ocsp-allow-unknown', 'accept the OCSP status "unknown"', false)
    .option(
      '--ocsp-revoked-grace <hours>',
      'accept a revoked certificate for this many hours after its revocation (default 0)',
    )
    .option(
      '--allow-missing-rims',
      'accept a GPU without trusted driver and VBIOS RIMs; its measurements are then reported as not evaluated',
      false,
    )
    .option('--json', 'print one JSON object: {verified, reasons, claims: {gpus: [...]}}', false)
    .action(async (opts: GpuCliOptions) => {
      process.exitCode = await runVerifyGpu(opts);
    });
}
