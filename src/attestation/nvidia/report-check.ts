/**
 * The authenticity of one GPU attestation report, check by check: parsed, certificate chain to a
 * pinned NVIDIA Device Identity CA at the given time, the leaf's FWID equal to the report's (and
 * present, unless the policy allows older firmware without it), every certificate above the leaf
 * not revoked according to current OCSP answers, a known multi-GPU mode, and the ECDSA P-384
 * signature over request and response with the leaf key. verify.ts adds the RIMs; whether the
 * nonce is the expected one is the appraisal's (appraise.ts), as REPORT_DATA is for the CVMs.
 */
import { verify as verifySignature } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import { hex } from '../bytes.ts';
import type { GpuArchitecture } from '../reference-values.ts';
import { NVIDIA_DEVICE_IDENTITY_CA_PEM } from '../roots/nvidia.ts';
import { asReason, type Reason, reason } from '../verdict.ts';
import {
  architectureOf,
  type ParsedCertificate,
  parseCertificateChain,
  parseDeviceChain,
  verifyChain,
} from './certificates.ts';
import { type CertificateRevocation, checkRevocation } from './ocsp.ts';
import type { OcspAnswer } from './ocsp-answer.ts';
import { type GpuMode, gpuMode } from './opaque-data.ts';
import { type GpuReport, parseGpuReport } from './spdm.ts';
import type { GpuEvidence, GpuTrustAnchors, GpuVerifyOptions } from './verify.ts';

/** The outcome of each check, for claims; `reasons` lists every failure. */
export interface GpuReportVerification {
  readonly report?: GpuReport;
  readonly chain: readonly ParsedCertificate[];
  /** The chain as checked: leaf first, ending with the pinned anchor that issued it (when one did). */
  readonly path: readonly ParsedCertificate[];
  readonly architecture?: GpuArchitecture;
  readonly parsed: boolean;
  readonly signatureVerified: boolean;
  readonly certChainVerified: boolean;
  /** True when equal, false when different, 'absent' when the report carries no FWID (older firmware). */
  readonly fwidMatch: boolean | 'absent';
  readonly archCheck: boolean;
  /** OCSP status of each certificate above the leaf. */
  readonly revocation: readonly CertificateRevocation[];
  /** FEATURE_FLAG's mode (LEGACY when the report has none), or `unknown` with the value. */
  readonly mode?: GpuMode | { unknown: number };
  /**
   * The device as its signed certificate chain names it: the serial number (hex) of the
   * certificate that issued the leaf (GSP BROM on Hopper), which NVIDIA issues once per device,
   * so it stays the same across firmware updates, unlike the leaf.
   */
  readonly deviceId?: string;
  readonly reasons: readonly Reason[];
}

/** What the report checks need of verifyGpu's options. */
export type GpuReportCheckOptions = Pick<GpuVerifyOptions, 'at' | 'trust' | 'policy' | 'cache'> & {
  /** OCSP answers for the device chain; answers for other certificates are ignored. */
  readonly ocsp?: readonly (OcspAnswer | Uint8Array)[];
};

/** Checks a report's authenticity; never throws for bad evidence. */
export function checkGpuReport(evidence: GpuEvidence, options: GpuReportCheckOptions): GpuReportVerification {
  const reasons: Reason[] = [];
  let report: GpuReport | undefined;
  try {
    report = parseGpuReport(evidence.report);
  } catch (err) {
    reasons.push(asReason(err));
  }
  let chain: ParsedCertificate[] = [];
  try {
    chain = parseDeviceChain(evidence.certificateChain);
  } catch (err) {
    reasons.push(asReason(err));
  }

  let certChainVerified = false;
  let path: readonly ParsedCertificate[] = [];
  if (chain.length > 0) {
    const checked = verifyChain(chain, {
      anchors: deviceAnchors(options.trust),
      at: options.at,
      check: 'gpu.cert-chain',
      role: 'GPU attestation',
      ...(options.cache ? { cache: options.cache } : {}),
    });
    reasons.push(...checked.reasons);
    certChainVerified = checked.reasons.length === 0;
    path = checked.path;
  }

  const leaf = chain[0];
  let signatureVerified = false;
  if (report && leaf) {
    signatureVerified = checkSignature(report, leaf);
    if (!signatureVerified)
      reasons.push(reason('gpu.signature', `the report signature does not verify with the key of "${leaf.name}"`));
  }

  let fwidMatch: boolean | 'absent' = false;
  if (report && leaf) {
    const fwid = report.response.opaqueData.fwid;
    if (!fwid) {
      fwidMatch = 'absent';
      if (options.policy?.requireFwid !== false)
        reasons.push(
          reason('gpu.fwid', 'the report carries no FWID (firmware before FWID reporting); the policy requires one'),
        );
    } else if (!leaf.fwid)
      reasons.push(reason('gpu.fwid', `the report carries FWID ${hex(fwid)} but "${leaf.name}" has no FWID extension`));
    else if (!Buffer.from(fwid).equals(leaf.fwid))
      reasons.push(
        reason('gpu.fwid', `the report's FWID ${hex(fwid)} differs from the FWID ${hex(leaf.fwid)} in "${leaf.name}"`),
      );
    else fwidMatch = true;
  }

  const architecture = architectureOf(chain);
  let archCheck = architecture !== undefined;
  if (chain.length > 0 && !architecture)
    reasons.push(reason('gpu.arch', 'the certificate chain names no known GPU chip (GHxxx, GBxxx)'));
  if (evidence.architecture && architecture && evidence.architecture !== architecture) {
    archCheck = false;
    reasons.push(
      reason('gpu.arch', `the evidence says ${evidence.architecture}, the certificate chain is for ${architecture}`),
    );
  }

  let revocation: CertificateRevocation[] = [];
  if (certChainVerified) {
    // Only a chain that reached a pinned anchor has issuers to ask about; a broken one is refused already.
    const checked = checkRevocation({
      path,
      from: 1,
      answers: options.ocsp ?? [],
      at: options.at,
      ...(options.policy?.revocation ? { policy: options.policy.revocation } : {}),
      check: 'gpu.ocsp',
    });
    revocation = checked.statuses;
    reasons.push(...checked.reasons);
  }

  const mode = report ? gpuMode(report.response.opaqueData) : undefined;
  if (mode && typeof mode === 'object')
    reasons.push(
      reason('gpu.mode', `the report's FEATURE_FLAG ${mode.unknown} is not a known mode (0 SPT, 1 MPT, 2 PPCIE)`),
    );
  const deviceId = chain.length > 1 ? chain[1]!.x509.serialNumber.toLowerCase() : undefined;

  const out: { -readonly [K in keyof GpuReportVerification]: GpuReportVerification[K] } = {
    chain,
    path,
    parsed: report !== undefined,
    signatureVerified,
    certChainVerified,
    fwidMatch,
    archCheck,
    revocation,
    reasons,
  };
  if (report) out.report = report;
  if (architecture) out.architecture = architecture;
  if (mode !== undefined) out.mode = mode;
  if (deviceId) out.deviceId = deviceId;
  return out;
}

function checkSignature(report: GpuReport, leaf: ParsedCertificate): boolean {
  try {
    return verifySignature(
      'sha384',
      report.signedBytes,
      { key: leaf.x509.publicKey, dsaEncoding: 'ieee-p1363' },
      report.response.signature,
    );
  } catch {
    // A leaf key of another type or curve cannot have made a P-384 signature.
    return false;
  }
}

const anchorCache = new Map<string, ParsedCertificate[]>();

/** Parsed anchors, memoised by their PEM text (they are configuration, parsed once). */
export function parseAnchors(pems: readonly string[]): ParsedCertificate[] {
  const key = pems.join('\n');
  let anchors = anchorCache.get(key);
  if (!anchors) {
    try {
      anchors = pems.flatMap((pem) => parseCertificateChain(pem));
    } catch (err) {
      // Anchors are configuration, not evidence: a bad one is a broken setup, thrown, not a refusal.
      throw new Error(`GPU trust anchors do not parse: ${errorMessage(err)}`);
    }
    if (anchorCache.size > 16) anchorCache.clear();
    anchorCache.set(key, anchors);
  }
  return anchors;
}

function deviceAnchors(anchors: GpuTrustAnchors | undefined): ParsedCertificate[] {
  return parseAnchors(anchors?.device ?? [NVIDIA_DEVICE_IDENTITY_CA_PEM]);
}
