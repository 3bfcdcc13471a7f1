/**
 * Appraisal of a GPU node: its confidential VM (SEV-SNP report or TDX quote) and one report per
 * GPU, against the Manifest's reference values and the Coordinator's expectations (REPORT_DATA
 * binding the nonce and the agent's key, the GPU nonce, the number of GPUs, the devices the
 * node's GPU UUIDs were attested as before). Node-level GPU rules: every GPU once, one device per
 * UUID, and one multi-GPU mode for all GPUs. One verdict listing every reason; never throws for
 * bad evidence.
 */

import {
  appraiseGpu,
  type GpuClaims,
  type GpuCollateral,
  type GpuTrustAnchors,
  gpuPolicy,
  type VerificationCache,
  verifyGpu,
} from './nvidia/index.ts';
import { pemCertificates } from './pem.ts';
import type { ReferenceValues } from './reference-values.ts';
import { certTableToPem, parseSnpCertTable } from './snp/cert-table.ts';
import { appraiseSnp, type SnpCollateral, type SnpEndorsementCache, type SnpRoots, verifySnp } from './snp/index.ts';
import {
  appraiseTdx,
  type TdxClaims,
  type TdxCollateral,
  type TdxVerifierCache,
  type TrustAnchor,
  verifyTdx,
} from './tdx/index.ts';
import { ParseError, prefixed, type Reason, reason, type Verdict, verdict } from './verdict.ts';

export interface NodeEvidence {
  cvm: {
    platform: 'snp' | 'tdx';
    /** SNP ATTESTATION_REPORT or TDX quote. */
    report: Uint8Array;
    /** configfs-tsm auxblob: for SNP the certificate table with the VCEK/VLEK. */
    auxblob?: Uint8Array;
  };
  gpus: Array<{ uuid: string; report: Uint8Array; certificateChain: string }>;
}

export interface NodeExpectation {
  /** The 64 bytes REPORT_DATA / REPORTDATA must hold. */
  reportData: Uint8Array;
  /** The 32-byte nonce every GPU report must carry. */
  nonce: Uint8Array;
  /** GPUs the node has (its nvidia.com/gpu capacity): a report is required for each. */
  gpuCount: number;
  /**
   * The device each GPU UUID of this node was attested as before (NodeAttestation status): a UUID
   * that now brings another device's evidence, or a device that now comes under another UUID, is
   * refused. NVML's UUID is in no signed field, so this binding is kept, not computed.
   */
  gpuBindings?: readonly GpuBinding[];
}

/** A GPU UUID and the device (GpuClaims.deviceId) its verified evidence came from. */
export interface GpuBinding {
  uuid: string;
  deviceId: string;
}

/** Trust anchors. Production: the pinned vendor roots (defaults). Simulated: generated ones. */
export interface NodeTrust {
  snp?: SnpRoots;
  tdx?: readonly TrustAnchor[];
  gpu?: GpuTrustAnchors;
}

/** Vendor collateral for one node's evidence, per verifier (src/collateral prepares it). */
export interface NodeCollateral {
  snp?: SnpCollateral;
  tdx?: TdxCollateral;
  gpu?: GpuCollateral;
}

export interface NodeAppraisalContext {
  referenceValues: ReferenceValues;
  /** SHA-256 (hex) of the workload policies the Manifest allows: SNP HOST_DATA / TDX MRCONFIGID. */
  policyHashes: readonly string[];
  trust: NodeTrust;
  collateral?: NodeCollateral;
  at: Date;
  caches?: { snp?: SnpEndorsementCache; tdx?: TdxVerifierCache; gpu?: VerificationCache };
}

export interface CvmClaims {
  platform: 'snp' | 'tdx';
  verified: boolean;
  measurement?: string;
  policyHash?: string;
  tcb?: string;
  referenceValues?: string;
  reasons: string[];
  details: unknown;
}

export interface NodeGpuClaims {
  uuid: string;
  verified: boolean;
  architecture?: string;
  driverVersion?: string;
  vbiosVersion?: string;
  /** The device its evidence came from (GpuClaims.deviceId). */
  deviceId?: string;
  /** FEATURE_FLAG's multi-GPU mode. */
  mode?: string;
  /** Whether the measurements were compared with trusted RIMs; not-evaluated only with requireRIMs: false. */
  measurements: 'matched' | 'mismatched' | 'not-evaluated';
  reasons: string[];
  details: GpuClaims;
}

export interface NodeClaims {
  cvm: CvmClaims;
  gpus: NodeGpuClaims[];
}

export async function appraiseNode(
  evidence: NodeEvidence,
  expectation: NodeExpectation,
  context: NodeAppraisalContext,
): Promise<Verdict<NodeClaims>> {
  const reasons: Reason[] = [];
  const cvm = appraiseCvm(evidence.cvm, expectation, context);
  reasons.push(...cvm.reasons);

  const gpus: NodeGpuClaims[] = [];
  const gpuReference = context.referenceValues.gpu;
  if (!gpuReference) reasons.push(reason('node.gpu.reference-values', 'the Manifest has no GPU reference values'));
  for (const gpu of evidence.gpus) {
    const authentic = await verifyGpu(
      { report: gpu.report, certificateChain: gpu.certificateChain, uuid: gpu.uuid },
      {
        at: context.at,
        ...(context.trust.gpu ? { trust: context.trust.gpu } : {}),
        ...(context.collateral?.gpu ? { collateral: context.collateral.gpu } : {}),
        ...(gpuReference ? { policy: gpuPolicy(gpuReference) } : {}),
        ...(context.caches?.gpu ? { cache: context.caches.gpu } : {}),
      },
    );
    const v = appraiseGpu(authentic, gpuReference, { nonce: expectation.nonce });
    const gpuReasons = [...v.reasons, ...bindingReasons(gpu.uuid, v.claims.deviceId, expectation.gpuBindings)];
    gpus.push({
      uuid: gpu.uuid,
      verified: gpuReasons.length === 0 && gpuReference !== undefined,
      architecture: v.claims.architecture,
      driverVersion: v.claims.driverVersion,
      vbiosVersion: v.claims.vbiosVersion,
      ...(v.claims.deviceId ? { deviceId: v.claims.deviceId } : {}),
      ...(v.claims.mode ? { mode: v.claims.mode } : {}),
      measurements: v.claims.measurements?.status ?? 'not-evaluated',
      reasons: gpuReasons.map((r) => `[${r.check}] ${r.message}`),
      details: v.claims,
    });
    for (const r of gpuReasons) reasons.push(prefixed(r, `GPU ${gpu.uuid}: `));
  }
  reasons.push(
    ...gpuSetReasons(evidence.gpus, expectation.gpuCount),
    ...gpuIdentityReasons(gpus),
    ...gpuModeReasons(gpus),
  );
  return verdict({ cvm: cvm.claims, gpus }, reasons);
}

/** A UUID keeps the device it was attested as, and a device keeps its UUID. */
function bindingReasons(
  uuid: string,
  deviceId: string | undefined,
  bindings: readonly GpuBinding[] | undefined,
): Reason[] {
  if (!deviceId || !bindings) return [];
  const reasons: Reason[] = [];
  const byUuid = bindings.find((b) => b.uuid === uuid);
  if (byUuid && byUuid.deviceId !== deviceId)
    reasons.push(
      reason(
        'node.gpu.uuid',
        `this UUID was attested as device ${byUuid.deviceId}, but the evidence is from device ${deviceId}`,
      ),
    );
  const byDevice = bindings.find((b) => b.deviceId === deviceId);
  if (byDevice && byDevice.uuid !== uuid)
    reasons.push(
      reason('node.gpu.uuid', `the evidence is from device ${deviceId}, which was attested as GPU ${byDevice.uuid}`),
    );
  return reasons;
}

/** One device per UUID within one submission (a device that answers for two GPUs is one GPU). */
function gpuIdentityReasons(gpus: readonly NodeGpuClaims[]): Reason[] {
  const reasons: Reason[] = [];
  const seen = new Map<string, string>();
  for (const g of gpus) {
    if (!g.deviceId) continue;
    const other = seen.get(g.deviceId);
    if (other !== undefined && other !== g.uuid)
      reasons.push(
        reason('node.gpu.duplicate', `GPUs ${other} and ${g.uuid} present evidence of the same device ${g.deviceId}`),
      );
    else seen.set(g.deviceId, g.uuid);
  }
  return reasons;
}

/**
 * All GPUs of a node in one multi-GPU mode: a node whose GPUs mix single-GPU passthrough,
 * multi-GPU passthrough and protected PCIe (or firmware that states no mode) cannot protect
 * traffic between them as one mode promises.
 */
function gpuModeReasons(gpus: readonly NodeGpuClaims[]): Reason[] {
  const modes = new Map<string, string[]>();
  for (const g of gpus) if (g.mode) modes.set(g.mode, [...(modes.get(g.mode) ?? []), g.uuid]);
  if (modes.size <= 1) return [];
  return [
    reason(
      'node.gpu.mode',
      `the GPUs mix multi-GPU modes: ${[...modes].map(([mode, uuids]) => `${mode} (${uuids.join(', ')})`).join(', ')}`,
    ),
  ];
}

/** The GPU reports must cover the node's GPUs, once each. */
function gpuSetReasons(gpus: NodeEvidence['gpus'], expected: number): Reason[] {
  const reasons: Reason[] = [];
  if (gpus.length < expected)
    reasons.push(reason('node.gpu.missing', `${expected} GPUs on the node but ${gpus.length} attestation reports`));
  if (gpus.length > expected)
    reasons.push(reason('node.gpu.unexpected', `${gpus.length} attestation reports for ${expected} GPUs on the node`));
  const uuids = new Set<string>();
  const reports = new Set<string>();
  const leaves = new Set<string>();
  for (const gpu of gpus) {
    if (uuids.has(gpu.uuid)) reasons.push(reason('node.gpu.duplicate', `GPU ${gpu.uuid} reported twice`));
    uuids.add(gpu.uuid);
    const report = Buffer.from(gpu.report).toString('base64');
    const leaf = leafOf(gpu.certificateChain);
    if (reports.has(report) || leaves.has(leaf))
      reasons.push(reason('node.gpu.duplicate', `GPU ${gpu.uuid}: the same device evidence is submitted for two GPUs`));
    reports.add(report);
    leaves.add(leaf);
  }
  return reasons;
}

function appraiseCvm(
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
      if (!(err instanceof ParseError)) throw err;
      reasons.push(reason(err.check, err.message));
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

/** The leaf certificate of a PEM chain as base64 (its text when the chain is not PEM: the verifier reports that). */
function leafOf(chain: string): string {
  try {
    return Buffer.from(pemCertificates(chain, 'gpu.cert-chain')[0]!).toString('base64');
  } catch (err) {
    if (err instanceof ParseError) return chain;
    throw err;
  }
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
