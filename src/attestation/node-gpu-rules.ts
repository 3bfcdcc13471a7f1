/**
 * The node-level GPU rules: the reports cover the node's GPUs once each, one device per UUID
 * within a submission and across submissions (the bindings NodeAttestation status keeps), and one
 * multi-GPU mode for all of them.
 */

import type { GpuBinding, NodeEvidence, NodeGpuClaims } from './node-appraisal.ts';
import { pemCertificates } from './pem.ts';
import { ParseError, type Reason, reason } from './verdict.ts';

/** A UUID keeps the device it was attested as, and a device keeps its UUID. */
export function bindingReasons(
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
export function gpuIdentityReasons(gpus: readonly NodeGpuClaims[]): Reason[] {
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
export function gpuModeReasons(gpus: readonly NodeGpuClaims[]): Reason[] {
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
export function gpuSetReasons(gpus: NodeEvidence['gpus'], expected: number): Reason[] {
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

/** The leaf certificate of a PEM chain as base64 (its text when the chain is not PEM: the verifier reports that). */
function leafOf(chain: string): string {
  try {
    return Buffer.from(pemCertificates(chain, 'gpu.cert-chain')[0]!).toString('base64');
  } catch (err) {
    if (err instanceof ParseError) return chain;
    throw err;
  }
}
