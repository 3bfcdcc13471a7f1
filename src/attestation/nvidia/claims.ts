/**
 * What a GPU verdict states: our own claims (versions, nonce, RIMs used and their digests,
 * measurement results) and, under `nvidia`, the per-GPU claims NVIDIA's verifiers emit
 * (nvtrust local_gpu_verifier / NRAS detached EAT: measres, x-nvidia-gpu-*), so that policies
 * written for NVIDIA's tokens read the same names here.
 */
import type { Reason } from '../verdict.ts';
import type { ParsedCertificate } from './certificates.ts';
import type { MeasurementComparison } from './measurements.ts';
import { type CertificateRevocation, revocationSummary } from './ocsp.ts';
import { NVDEC0_DISABLED, NVDEC0_ENABLED } from './opaque-data.ts';
import type { GpuReportVerification } from './report-check.ts';
import type { Rim, RimVerification } from './rim.ts';
import type { GpuEvidence } from './verify.ts';

/** The RIM picked for one kind, and how it fared. */
export interface RimChoice {
  readonly input: unknown;
  readonly rim: Rim;
  readonly verification: RimVerification;
  /** OCSP status of the signer chain's certificates (all but the root). */
  readonly revocation: readonly CertificateRevocation[];
  /** Digest among the Manifest's rimDigests (true when none are pinned). */
  readonly pinned: boolean;
  readonly reasons: readonly Reason[];
}

export interface RimClaim {
  readonly id?: string;
  readonly version: string;
  /** SHA-384 of the document, hex: the value a Manifest pins in rimDigests. */
  readonly digest: string;
  readonly signer?: string;
  readonly signatureVerified: boolean;
  readonly certChainVerified: boolean;
  readonly revocation: readonly CertificateRevocation[];
  readonly pinned: boolean;
}

export interface GpuClaims {
  readonly uuid?: string;
  readonly architecture?: string;
  /** The nonce in the signed request, hex. */
  readonly nonce?: string;
  readonly driverVersion?: string;
  readonly vbiosVersion?: string;
  readonly project?: string;
  readonly projectSku?: string;
  readonly chipSku?: string;
  readonly fwid?: string;
  /** The multi-GPU mode FEATURE_FLAG states (SPT, MPT, PPCIE; LEGACY without one), or `unknown(<value>)`. */
  readonly mode?: string;
  /** The device's identity in its signed chain: serial number of the leaf's issuer (GSP BROM), hex. */
  readonly deviceId?: string;
  readonly nvdec0?: string;
  readonly measurementBlocks?: number;
  /** Bytes after the signature (not covered by it); reported, not refused. */
  readonly trailingBytes?: number;
  /** Subjects' CNs, leaf first, ending with the pinned anchor when the chain reached one. */
  readonly certificateChain: readonly string[];
  /** OCSP status of every certificate above the leaf. */
  readonly revocation: readonly CertificateRevocation[];
  readonly rims: {
    readonly driver?: RimClaim;
    readonly vbios?: RimClaim;
    readonly unused: ReadonlyArray<{
      readonly id?: string;
      readonly kind: string;
      readonly version: string;
      readonly digest: string;
    }>;
  };
  readonly measurements?: {
    /**
     * matched: every active measurement of both RIMs compared and equal; mismatched: a trusted
     * (or, with RIMs required, any chosen) RIM contradicts one; not-evaluated: a RIM was missing
     * or not trusted, so some measurements were compared with nothing (requireRIMs: false).
     */
    readonly status: 'matched' | 'mismatched' | 'not-evaluated';
    readonly matched: number;
    readonly mismatched: readonly number[];
    readonly skipped: readonly number[];
    /** Which RIMs' measurements were not evaluated, and why. */
    readonly notEvaluated: ReadonlyArray<{ readonly rim: 'driver' | 'vbios'; readonly why: string }>;
  };
  /** NVIDIA's claim names and values. */
  readonly nvidia: Readonly<Record<string, unknown>>;
}

export interface ClaimInputs {
  readonly evidence: GpuEvidence;
  readonly verification: GpuReportVerification;
  readonly choices: { readonly driver?: RimChoice; readonly vbios?: RimChoice };
  readonly unused: GpuClaims['rims']['unused'];
  readonly comparison: MeasurementComparison | undefined;
  readonly rimReasons: readonly Reason[];
}

/** Builds the claims from the checks' outcomes; pure. */
export function buildGpuClaims(inputs: ClaimInputs): GpuClaims {
  const { evidence, verification: v, choices, comparison } = inputs;
  const report = v.report;
  const od = report?.response.opaqueData;
  const hasCheck = (check: string): boolean => inputs.rimReasons.some((r) => r.check === check);

  const path = v.path.length > 0 ? v.path : v.chain;
  const rimOk = (c: RimChoice | undefined): boolean => c !== undefined && c.reasons.length === 0;
  const measurementsOk =
    comparison !== undefined &&
    rimOk(choices.driver) &&
    rimOk(choices.vbios) &&
    comparison.mismatched.length === 0 &&
    comparison.conflicts.length === 0;

  const nvidia: Record<string, unknown> = {
    measres: measurementsOk ? 'success' : 'fail',
    'x-nvidia-gpu-arch-check': v.archCheck,
    'x-nvidia-gpu-driver-version': od?.driverVersion ?? null,
    'x-nvidia-gpu-vbios-version': od?.vbiosVersion ?? null,
    'x-nvidia-gpu-attestation-report-parsed': v.parsed,
    // Whether the nonce is the expected one, appraise.ts says.
    'x-nvidia-gpu-attestation-report-nonce-match': false,
    'x-nvidia-gpu-attestation-report-signature-verified': v.signatureVerified,
    'x-nvidia-gpu-attestation-report-cert-chain': chainClaim(v.certChainVerified, path, v.revocation),
    // nvtrust skips the comparison (and passes) when older firmware puts no FWID in the report.
    'x-nvidia-gpu-attestation-report-cert-chain-fwid-match': v.fwidMatch !== false,
  };
  for (const kind of ['driver', 'vbios'] as const) {
    const c = choices[kind];
    nvidia[`x-nvidia-gpu-${kind}-rim-fetched`] = c !== undefined;
    nvidia[`x-nvidia-gpu-${kind}-rim-schema-validated`] = c !== undefined;
    nvidia[`x-nvidia-gpu-${kind}-rim-version-match`] = c !== undefined;
    nvidia[`x-nvidia-gpu-${kind}-rim-signature-verified`] = c?.verification.signatureVerified ?? false;
    nvidia[`x-nvidia-gpu-${kind}-rim-cert-chain`] = chainClaim(
      c?.verification.certChainVerified ?? false,
      c?.verification.signerChain ?? [],
      c?.revocation ?? [],
    );
    nvidia[`x-nvidia-gpu-${kind}-rim-measurements-available`] = c?.rim.measurements.some((m) => m.active);
  }
  nvidia['x-nvidia-gpu-vbios-index-no-conflict'] =
    comparison !== undefined && comparison.conflicts.length === 0 && !hasCheck('gpu.rim.index-conflict');
  if (od?.switchPdis) nvidia['x-nvidia-gpu-switch-pdis'] = od.switchPdis;
  const hwmodel = v.chain[1]?.name;
  if (hwmodel) nvidia.hwmodel = hwmodel;
  if (measurementsOk) {
    // As nvtrust: matching measurements establish secure boot with debug disabled.
    nvidia.secboot = true;
    nvidia.dbgstat = 'disabled';
  }

  const rimClaim = (c: RimChoice | undefined): RimClaim | undefined => {
    if (!c) return undefined;
    const id = (c.input as { id?: string }).id;
    const signer = c.verification.signerChain[0]?.name;
    return {
      ...(id ? { id } : {}),
      version: c.rim.colloquialVersion,
      digest: c.rim.digest,
      ...(signer ? { signer } : {}),
      signatureVerified: c.verification.signatureVerified,
      certChainVerified: c.verification.certChainVerified,
      revocation: c.revocation,
      pinned: c.pinned,
    };
  };
  const driver = rimClaim(choices.driver);
  const vbios = rimClaim(choices.vbios);

  // Built in reading order: identity and versions, then chain and RIMs, NVIDIA's names last.
  const out: Partial<{ -readonly [K in keyof GpuClaims]: GpuClaims[K] }> = {};
  if (evidence.uuid) out.uuid = evidence.uuid;
  if (v.architecture) out.architecture = v.architecture;
  if (report) out.nonce = Buffer.from(report.request.nonce).toString('hex');
  if (od?.driverVersion) out.driverVersion = od.driverVersion;
  if (od?.vbiosVersion) out.vbiosVersion = od.vbiosVersion;
  if (od?.project) out.project = od.project;
  if (od?.projectSku) out.projectSku = od.projectSku;
  if (od?.chipSku) out.chipSku = od.chipSku;
  if (od?.fwid) out.fwid = Buffer.from(od.fwid).toString('hex');
  if (v.mode !== undefined) out.mode = typeof v.mode === 'string' ? v.mode : `unknown(${v.mode.unknown})`;
  if (v.deviceId) out.deviceId = v.deviceId;
  if (od?.nvdec0Status !== undefined) {
    out.nvdec0 =
      od.nvdec0Status === NVDEC0_ENABLED
        ? 'enabled'
        : od.nvdec0Status === NVDEC0_DISABLED
          ? 'disabled'
          : `0x${od.nvdec0Status.toString(16)}`;
  }
  if (report) {
    out.measurementBlocks = report.response.blocks.length;
    out.trailingBytes = report.trailingBytes;
  }
  out.certificateChain = path.map((c) => c.name);
  out.revocation = v.revocation;
  out.rims = { ...(driver ? { driver } : {}), ...(vbios ? { vbios } : {}), unused: inputs.unused };
  if (comparison) {
    const notEvaluated: Array<{ rim: 'driver' | 'vbios'; why: string }> = [];
    for (const kind of ['driver', 'vbios'] as const) {
      const c = choices[kind];
      if (!c) notEvaluated.push({ rim: kind, why: `no ${kind} RIM fits the report` });
      else if (c.reasons.length > 0)
        notEvaluated.push({
          rim: kind,
          why: `the ${kind} RIM is not trusted: ${c.reasons.map((r) => `[${r.check}] ${r.message}`).join('; ')}`,
        });
    }
    const mismatched = comparison.mismatched.length > 0 || comparison.conflicts.length > 0;
    out.measurements = {
      status: mismatched ? 'mismatched' : notEvaluated.length > 0 ? 'not-evaluated' : 'matched',
      matched: comparison.matched.length,
      mismatched: comparison.mismatched.map((m) => m.index),
      skipped: comparison.skipped,
      notEvaluated,
    };
  }
  out.nvidia = nvidia;
  return out as GpuClaims;
}

function chainClaim(
  valid: boolean,
  path: readonly ParsedCertificate[],
  revocation: readonly CertificateRevocation[],
): Record<string, unknown> {
  const notAfter = path.length > 0 ? new Date(Math.min(...path.map((c) => c.notAfter.getTime()))) : undefined;
  return {
    'x-nvidia-cert-status': valid ? 'valid' : 'invalid',
    'x-nvidia-cert-ocsp-status': revocationSummary(revocation),
    ...(notAfter && !Number.isNaN(notAfter.getTime())
      ? { 'x-nvidia-cert-expiration-date': notAfter.toISOString() }
      : {}),
  };
}
