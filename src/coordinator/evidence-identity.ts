/**
 * What makes one node's evidence its own: identifiers that a genuine CVM launch or GPU cannot
 * show for two nodes at once. The Coordinator refuses evidence whose identifiers are currently
 * attested for another node (identity-registry.ts). Pure.
 *
 * - SEV-SNP: REPORT_ID, chosen by the firmware at launch and unique per launch. CHIP_ID and PPID
 *   are NOT used: they identify the host, several CVMs share a host, and MASK_CHIP_ID zeroes it.
 * - TDX: no per-TD identifier exists in the quote; a TDX node is bound by the agent key in
 *   REPORTDATA and by its GPUs (docs/design.md).
 * - GPUs: the UUID they are reported under, and the attestation leaf certificate (its issuer, the
 *   per-device BROM certificate, its subject and its key), which only that device can sign for.
 */
import { createHash, X509Certificate } from 'node:crypto';
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
  /** GPU UUID -> device identity (hex), for status.gpus[].deviceIdentity. */
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
  for (const gpu of evidence.gpus) {
    identifiers.push(gpuUuid(gpu.uuid));
    const device = gpuDeviceIdentity(gpu.certificateChain);
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
    if (gpu.deviceIdentity) identifiers.push(gpuDevice(gpu.deviceIdentity, gpu.uuid));
  }
  return identifiers;
}

/**
 * SHA-256 over the leaf certificate's issuer, subject and public key (SPKI DER), hex. NVIDIA's
 * leaf names the device in its subject and issuer serial numbers and its key is the device's;
 * the certificate's own bytes are left out because firmware may re-issue it.
 */
export function gpuDeviceIdentity(certificateChainPem: string): string | undefined {
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(certificateChainPem)?.[0];
  if (!leaf) return undefined;
  try {
    const cert = new X509Certificate(leaf);
    const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    return createHash('sha256').update(`${cert.issuer}\n${cert.subject}\n`).update(spki).digest('hex');
  } catch {
    return undefined;
  }
}

export function identifierKey(id: EvidenceIdentifier): string {
  return `${id.kind}:${id.value}`;
}

function snpLaunch(reportId: string): EvidenceIdentifier {
  return { kind: 'snp-launch', value: reportId, label: `the SEV-SNP CVM launch with REPORT_ID ${reportId.slice(0, 16)}…` };
}

function gpuUuid(uuid: string): EvidenceIdentifier {
  return { kind: 'gpu-uuid', value: uuid, label: `GPU ${uuid}` };
}

function gpuDevice(digest: string, uuid: string): EvidenceIdentifier {
  return { kind: 'gpu-device', value: digest, label: `the GPU device behind ${uuid} (leaf certificate ${digest.slice(0, 16)}…)` };
}
