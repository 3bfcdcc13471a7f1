/**
 * What makes one node's evidence its own: identifiers that a genuine CVM launch or GPU cannot
 * show for two nodes at once. The Coordinator refuses evidence whose identifiers are currently
 * attested for another node (identity-registry.ts). Pure.
 *
 * - SEV-SNP: REPORT_ID, chosen by the firmware at launch and unique per launch. CHIP_ID and PPID
 *   are NOT used: they identify the host, several CVMs share a host, and MASK_CHIP_ID zeroes it.
 * - TDX: no per-TD identifier exists in the quote; a TDX node is bound by the agent key in
 *   REPORTDATA and by its GPUs (docs/design.md).
 * - GPUs: the UUID they are reported under, and the device the verified evidence came from
 *   (GpuClaims.deviceId: the serial of the per-device GSP BROM certificate that issued the leaf,
 *   read from the chain that verified to NVIDIA's root), which only that device can sign for.
 */
import type { CvmVerdict, GpuVerdict } from '../api/node-attestation.ts';
import type { NodeClaims, NodeEvidence } from '../attestation/node-appraisal.ts';

export type IdentityKind = 'snp-launch' | 'gpu-uuid' | 'gpu-device';

export interface EvidenceIdentifier {
  kind: IdentityKind;
  value: string;
  /** How a refusal names it. */
  label: string;
}

/** The identifiers of appraised evidence, and what the NodeAttestation status records of them. */
export interface EvidenceIdentity {
  identifiers: EvidenceIdentifier[];
  /** SNP REPORT_ID (hex), for status.cvm.reportId. */
  reportId?: string;
  /** GPU UUID -> device (hex), as status.gpus[].deviceId records it. */
  gpuDevices: Map<string, string>;
}

export function evidenceIdentity(evidence: NodeEvidence, claims: NodeClaims): EvidenceIdentity {
  const identifiers: EvidenceIdentifier[] = [];
  let reportId: string | undefined;
  if (evidence.cvm.platform === 'snp') {
    const id = (claims.cvm.details as { reportId?: unknown } | null)?.reportId;
    if (typeof id === 'string' && /^[0-9a-f]{64}$/.test(id)) {
      reportId = id;
      identifiers.push(snpLaunch(id));
    }
  }
  const gpuDevices = new Map<string, string>();
  const verifiedDevices = new Map(claims.gpus.filter((g) => g.deviceId).map((g) => [g.uuid, g.deviceId!]));
  for (const gpu of evidence.gpus) {
    identifiers.push(gpuUuid(gpu.uuid));
    const device = verifiedDevices.get(gpu.uuid);
    if (device) {
      gpuDevices.set(gpu.uuid, device);
      identifiers.push(gpuDevice(device, gpu.uuid));
    }
  }
  return { identifiers, reportId, gpuDevices };
}

/** The identifiers a NodeAttestation status records (what a new leader rebuilds holds from). */
export function identifiersFromStatus(status: { cvm?: CvmVerdict; gpus?: GpuVerdict[] }): EvidenceIdentifier[] {
  const identifiers: EvidenceIdentifier[] = [];
  if (status.cvm?.platform === 'snp' && status.cvm.reportId) identifiers.push(snpLaunch(status.cvm.reportId));
  for (const gpu of status.gpus ?? []) {
    identifiers.push(gpuUuid(gpu.uuid));
    if (gpu.deviceId) identifiers.push(gpuDevice(gpu.deviceId, gpu.uuid));
  }
  return identifiers;
}

export function identifierKey(id: EvidenceIdentifier): string {
  return `${id.kind}:${id.value}`;
}

function snpLaunch(reportId: string): EvidenceIdentifier {
  return {
    kind: 'snp-launch',
    value: reportId,
    label: `the SEV-SNP CVM launch with REPORT_ID ${reportId.slice(0, 16)}…`,
  };
}

function gpuUuid(uuid: string): EvidenceIdentifier {
  return { kind: 'gpu-uuid', value: uuid, label: `GPU ${uuid}` };
}

function gpuDevice(digest: string, uuid: string): EvidenceIdentifier {
  return { kind: 'gpu-device', value: digest, label: `the GPU device ${digest} behind ${uuid}` };
}
