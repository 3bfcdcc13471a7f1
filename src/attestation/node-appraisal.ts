/**
 * Appraisal of a GPU node: its confidential VM (SEV-SNP report or TDX quote) and one report per
 * GPU, against the Manifest's reference values and the Coordinator's expectations (REPORT_DATA
 * binding the nonce and the agent's key, the GPU nonce, the number of GPUs, the devices the
 * node's GPU UUIDs were attested as before). Node-level GPU rules: every GPU once, one device per
 * UUID, and one multi-GPU mode for all GPUs. One verdict listing every reason; never throws for
 * bad evidence.
 */

import { appraiseCvm } from './cvm-appraisal.ts';
import { bindingReasons, gpuIdentityReasons, gpuModeReasons, gpuSetReasons } from './node-gpu-rules.ts';
import {
  appraiseGpu,
  type GpuClaims,
  type GpuCollateral,
  type GpuTrustAnchors,
  gpuPolicy,
  type VerificationCache,
  verifyGpu,
} from './nvidia/index.ts';
import type { ReferenceValues } from './reference-values.ts';
import type { SnpCollateral, SnpEndorsementCache, SnpRoots } from './snp/index.ts';
import type { TdxCollateral, TdxVerifierCache, TrustAnchor } from './tdx/index.ts';
import { prefixed, type Reason, reason, type Verdict, verdict } from './verdict.ts';

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
