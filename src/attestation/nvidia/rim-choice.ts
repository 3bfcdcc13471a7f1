/**
 * Which of the RIMs given fits a report: the driver RIM (NV_GPU_DRIVER_<chip>_<driver version>)
 * and the VBIOS RIM (from the report's project, SKUs and VBIOS version), each verified to the
 * pinned RIM root, not revoked, and pinned by digest where the policy pins digests. Of several
 * that fit, the first that passes every check is chosen.
 */
import { createHash } from 'node:crypto';
import { NVIDIA_RIM_ROOT_CA_PEM } from '../roots/nvidia.ts';
import { asReason, prefixed, type Reason, reason } from '../verdict.ts';
import type { VerificationCache } from './cache.ts';
import type { RimChoice } from './claims.ts';
import { checkRevocation } from './ocsp.ts';
import type { OcspAnswer } from './ocsp-answer.ts';
import { parseAnchors } from './report-check.ts';
import { parseRim, type Rim, type RimKind, verifyRim } from './rim.ts';
import type { GpuReport } from './spdm.ts';
import type { GpuVerifyOptions } from './verify.ts';

/** A RIM document as given; `id` is its RIM ID when known (file name, e.g. NV_GPU_DRIVER_GH100_550.90.07). */
export interface RimInput {
  readonly xml: string | Uint8Array;
  readonly id?: string;
}

export interface ParsedRimInput {
  readonly rim: Rim;
  readonly id?: string;
}

export function parseRims(
  inputs: readonly RimInput[],
  reasons: Reason[],
  cache: VerificationCache | undefined,
): ParsedRimInput[] {
  const out: ParsedRimInput[] = [];
  for (const input of inputs) {
    try {
      out.push({ rim: parseRimCached(input.xml, cache), ...(input.id ? { id: input.id } : {}) });
    } catch (err) {
      reasons.push(prefixed(asReason(err), `${input.id ?? 'RIM'}: `));
    }
  }
  return out;
}

/** A RIM's parse is kept by the hash of its bytes: the same RIMs come with every report of a fleet. */
function parseRimCached(xml: string | Uint8Array, cache: VerificationCache | undefined): Rim {
  if (!cache) return parseRim(xml);
  const key = `rim:${createHash('sha384').update(xml).digest('hex')}`;
  let rim = cache.get<Rim>(key);
  if (!rim) {
    rim = parseRim(xml);
    cache.set(key, rim);
  }
  return rim;
}

/** Whether a RIM is the `kind` RIM for this report: same version, and an ID (when known) that agrees. */
export function fits(p: ParsedRimInput, kind: RimKind, report: GpuReport, chip: string | undefined): boolean {
  const od = report.response.opaqueData;
  if (p.rim.kind !== kind) return false;
  const version = kind === 'driver' ? od.driverVersion : od.vbiosVersion;
  if (!version || p.rim.colloquialVersion.toLowerCase() !== version.toLowerCase()) return false;
  if (chip && p.rim.product && p.rim.product !== chip) return false;
  if (!p.id) return true;
  if (kind === 'driver') {
    const m = /^NV_GPU_DRIVER_([^_]+)_([^_]+)(?:_.*)?$/.exec(p.id);
    return !m || (m[2]!.toLowerCase() === version.toLowerCase() && (!chip || m[1] === chip));
  }
  const m = /^NV_GPU_VBIOS_([^_]+_[^_]+_[^_]+_[0-9A-Fa-f]{10})(?:_.*)?$/.exec(p.id);
  const expected = expectedVbiosRimId(report);
  return !m || (expected !== undefined && `NV_GPU_VBIOS_${m[1]!}`.toUpperCase() === expected.toUpperCase());
}

/** NVIDIA's VBIOS RIM ID for a report: NV_GPU_VBIOS_<project>_<projectSKU>_<chipSKU>_<VBIOS without dots>. */
export function expectedVbiosRimId(report: GpuReport): string | undefined {
  const od = report.response.opaqueData;
  if (!od.project || !od.projectSku || !od.chipSku || !od.vbiosVersion) return undefined;
  return `NV_GPU_VBIOS_${od.project}_${od.projectSku}_${od.chipSku}_${od.vbiosVersion.replace(/\./g, '')}`.toUpperCase();
}

/** NVIDIA's driver RIM ID: NV_GPU_DRIVER_<chip>_<driver version>. */
export function expectedDriverRimId(report: GpuReport, chip: string | undefined): string | undefined {
  const v = report.response.opaqueData.driverVersion;
  return v && chip ? `NV_GPU_DRIVER_${chip}_${v}` : undefined;
}

/** Of several fitting RIMs, the first that verifies (and is pinned, when the policy pins digests). */
export async function choose(
  candidates: readonly ParsedRimInput[],
  kind: RimKind,
  options: Pick<GpuVerifyOptions, 'at' | 'trust' | 'policy' | 'cache'> & {
    readonly ocsp: readonly (OcspAnswer | Uint8Array)[];
  },
): Promise<RimChoice> {
  const digests = options.policy?.rimDigests;
  let first: RimChoice | undefined;
  for (const candidate of candidates) {
    const label = `${kind} RIM ${candidate.id ?? candidate.rim.colloquialVersion}`;
    const verification = await verifyRim(candidate.rim, {
      at: options.at,
      anchors: parseAnchors(options.trust?.rim ?? [NVIDIA_RIM_ROOT_CA_PEM]),
      label,
      ...(options.cache ? { cache: options.cache } : {}),
    });
    const reasons = [...verification.reasons];
    let revocation: RimChoice['revocation'] = [];
    if (verification.certChainVerified) {
      const checked = checkRevocation({
        path: verification.signerChain,
        from: 0,
        answers: options.ocsp,
        at: options.at,
        ...(options.policy?.revocation ? { policy: options.policy.revocation } : {}),
        check: 'gpu.rim.ocsp',
        label: `${label}: `,
      });
      revocation = checked.statuses;
      reasons.push(...checked.reasons);
    }
    const pinned = !digests || digests.some((d) => d.toLowerCase() === candidate.rim.digest);
    if (!pinned)
      reasons.push(
        reason(
          'gpu.rim.digest',
          `${label}: its SHA-384 ${candidate.rim.digest} is not among the Manifest's rimDigests`,
        ),
      );
    const choice: RimChoice = { input: candidate, rim: candidate.rim, verification, revocation, pinned, reasons };
    if (reasons.length === 0) return choice;
    first ??= choice;
  }
  return first!;
}

/** The chip (GH100, GB100...) named in a device chain's subjects. */
export function chipOf(subjects: readonly string[]): string | undefined {
  for (const s of subjects) {
    const m = /\b(G[HB]\d{3})\b/.exec(s);
    if (m) return m[1];
  }
  return undefined;
}
