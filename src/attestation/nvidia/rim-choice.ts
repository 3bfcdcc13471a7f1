/**
 * Appraisal of GPU evidence against a Manifest's GPU reference values: the report's authenticity
 * (verify.ts), the RIMs that fit it (chosen from those given, verified to the pinned RIM root and
 * not revoked), its measurements against them, and the allowed architectures, driver and VBIOS
 * versions and pinned RIM digests. Every failed check is a Reason; nothing here throws for bad
 * evidence.
 *
 * With `requireRIMs: false` a missing or untrusted RIM refuses nothing, but its measurements are
 * then reported as not evaluated (claims.measurements); a measurement that a trusted RIM
 * contradicts is refused all the same: a relaxation never accepts a detected tampering.
 */
import { createHash } from 'node:crypto';
import type { GpuReferenceValues } from '../reference-values.ts';
import { NVIDIA_RIM_ROOT_CA_PEM } from '../roots/nvidia.ts';
import { asReason, prefixed, type Reason, reason, type Verdict, verdict } from '../verdict.ts';
import type { VerificationCache } from './cache.ts';
import { buildGpuClaims, type GpuClaims, type RimChoice } from './claims.ts';
import { compareMeasurements, type MeasurementComparison } from './measurements.ts';
import { checkRevocation } from './ocsp.ts';
import { parseRim, type Rim, type RimKind, verifyRim } from './rim.ts';
import type { GpuReport } from './spdm.ts';
import {
  type GpuEvidence,
  type GpuExpectation,
  type GpuPolicy,
  type GpuVerifyOptions,
  parseAnchors,
  verifyGpuReport,
} from './verify.ts';

/** A RIM document as given; `id` is its RIM ID when known (file name, e.g. NV_GPU_DRIVER_GH100_550.90.07). */
export interface RimInput {
  readonly xml: string | Uint8Array;
  readonly id?: string;
}

export interface GpuAppraisalInput {
  readonly evidence: GpuEvidence;
  /** Candidate RIMs; the driver and VBIOS RIM that fit the report are picked from them. */
  readonly rims?: readonly RimInput[];
}

/** The policy a Manifest's GPU reference values state; every field left out is strict. */
export function gpuPolicy(reference: GpuReferenceValues): GpuPolicy {
  return {
    requireFwid: reference.requireFWID !== false,
    requireRims: reference.requireRIMs !== false,
    revocation: {
      requireAnswers: reference.ocsp?.required !== false,
      allowUnknown: reference.ocsp?.allowUnknown === true,
      revokedGracePeriodHours: reference.ocsp?.revokedGracePeriodHours ?? 0,
    },
  };
}

/**
 * Appraises one GPU. With `reference` the Manifest's values and policy apply; without it (what
 * `attestor verify gpu` does) only authenticity and RIMs, under `options.policy` (strict by default).
 */
export async function appraiseGpuEvidence(
  input: GpuAppraisalInput,
  reference: GpuReferenceValues | undefined,
  expectation: GpuExpectation,
  options: GpuVerifyOptions,
): Promise<Verdict<GpuClaims>> {
  const policy = reference ? gpuPolicy(reference) : (options.policy ?? {});
  const verifyOptions: GpuVerifyOptions = { ...options, policy };
  const verification = verifyGpuReport(input.evidence, expectation, verifyOptions);
  const reasons: Reason[] = [...verification.reasons];
  const report = verification.report;
  const rimsGiven = input.rims ?? [];
  const requireRIMs = policy.requireRims !== false;

  const rimReasons: Reason[] = [];
  const choices: { driver?: RimChoice; vbios?: RimChoice } = {};
  const unused: Array<GpuClaims['rims']['unused'][number]> = [];
  let comparison: MeasurementComparison | undefined;
  if (report) {
    const parsed = parseRims(rimsGiven, rimReasons, options.cache);
    const chip = chipOf(verification.chain.map((c) => c.subject));
    for (const kind of ['driver', 'vbios'] as const) {
      const wanted =
        kind === 'driver' ? report.response.opaqueData.driverVersion : report.response.opaqueData.vbiosVersion;
      const candidates = parsed.filter((p) => fits(p, kind, report, chip));
      if (candidates.length === 0) {
        rimReasons.push(
          reason(
            'gpu.rim.missing',
            `no ${kind} RIM for ${kind === 'driver' ? 'driver' : 'VBIOS'} ${wanted ?? '(version not in the report)'}${kind === 'vbios' ? ` (RIM ID ${expectedVbiosRimId(report) ?? 'unknown'})` : ''} among the ${rimsGiven.length} RIMs given`,
          ),
        );
        continue;
      }
      const choice = await choose(candidates, kind, reference, verifyOptions);
      choices[kind] = choice;
      rimReasons.push(...choice.reasons);
    }
    for (const p of parsed) {
      if (p !== choices.driver?.input && p !== choices.vbios?.input)
        unused.push({
          ...(p.id ? { id: p.id } : {}),
          kind: p.rim.kind,
          version: p.rim.colloquialVersion,
          digest: p.rim.digest,
        });
    }
    // Required RIMs: compare with what was chosen, trusted or not (every finding is a refusal anyway).
    // Optional RIMs: only a trusted RIM's golden values mean anything; the rest is not evaluated.
    const compared = (c: RimChoice | undefined): RimChoice['rim'] | undefined =>
      c && (requireRIMs || c.reasons.length === 0) ? c.rim : undefined;
    comparison = compareMeasurements(report, { driver: compared(choices.driver), vbios: compared(choices.vbios) });
    const tampering: Reason[] = [];
    for (const index of comparison.conflicts)
      tampering.push(
        reason('gpu.rim.index-conflict', `RIM index ${index} is active in both the driver and the VBIOS RIM`),
      );
    for (const m of comparison.mismatched) {
      tampering.push(
        reason(
          'gpu.measurement',
          m.actual === undefined
            ? `measurement ${m.index} (${m.name}, ${m.source} RIM) is missing from the report`
            : `measurement ${m.index} (${m.name}, ${m.source} RIM) is ${m.actual}, expected ${m.expected.length > 1 ? `one of ${m.expected.join(', ')}` : m.expected[0]}`,
        ),
      );
    }
    rimReasons.push(...tampering);
    if (!requireRIMs) reasons.push(...tampering);
  }
  // Without a RIM requirement, other RIM findings stay visible in the claims but refuse nothing.
  if (requireRIMs) reasons.push(...rimReasons);

  if (reference) reasons.push(...referenceReasons(reference, verification.architecture, report));

  const claims = buildGpuClaims({
    evidence: input.evidence,
    verification,
    choices,
    unused,
    comparison,
    rimReasons,
    reference,
    requireRIMs,
  });
  return verdict(claims, reasons);
}

/** Appraises every GPU of an evidence list; reasons name the GPU they are about. */
export async function appraiseGpuEvidenceList(
  inputs: readonly GpuAppraisalInput[],
  reference: GpuReferenceValues | undefined,
  expectation: GpuExpectation,
  options: GpuVerifyOptions,
): Promise<Verdict<{ gpus: GpuClaims[] }>> {
  const gpus: GpuClaims[] = [];
  const reasons: Reason[] = [];
  for (const [i, input] of inputs.entries()) {
    const v = await appraiseGpuEvidence(input, reference, expectation, options);
    gpus.push(v.claims);
    for (const r of v.reasons) reasons.push(prefixed(r, `GPU ${input.evidence.uuid ?? i}: `));
  }
  return verdict({ gpus }, reasons);
}

interface ParsedRimInput {
  readonly rim: Rim;
  readonly id?: string;
}

function parseRims(
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
function fits(p: ParsedRimInput, kind: RimKind, report: GpuReport, chip: string | undefined): boolean {
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

/** Of several fitting RIMs, the first that verifies (and is pinned, when digests are pinned). */
async function choose(
  candidates: readonly ParsedRimInput[],
  kind: RimKind,
  reference: GpuReferenceValues | undefined,
  options: GpuVerifyOptions,
): Promise<RimChoice> {
  let first: RimChoice | undefined;
  for (const candidate of candidates) {
    const label = `${kind} RIM ${candidate.id ?? candidate.rim.colloquialVersion}`;
    const verification = await verifyRim(candidate.rim, {
      at: options.at,
      anchors: parseAnchors(options.trustAnchors?.rim ?? [NVIDIA_RIM_ROOT_CA_PEM]),
      label,
      ...(options.cache ? { cache: options.cache } : {}),
    });
    const reasons = [...verification.reasons];
    let revocation: RimChoice['revocation'] = [];
    if (verification.certChainVerified) {
      const checked = checkRevocation({
        path: verification.signerChain,
        from: 0,
        answers: options.ocsp ?? [],
        ...(options.ocspResponder ? { responder: options.ocspResponder } : {}),
        at: options.at,
        ...(options.policy?.revocation ? { policy: options.policy.revocation } : {}),
        check: 'gpu.rim.ocsp',
        label: `${label}: `,
        ...(options.cache ? { cache: options.cache } : {}),
      });
      revocation = checked.statuses;
      reasons.push(...checked.reasons);
    }
    const pinned = !reference?.rimDigests || reference.rimDigests.some((d) => d.toLowerCase() === candidate.rim.digest);
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

function referenceReasons(
  reference: GpuReferenceValues,
  architecture: string | undefined,
  report: GpuReport | undefined,
): Reason[] {
  const reasons: Reason[] = [];
  if (architecture && !reference.architectures.includes(architecture as never)) {
    reasons.push(
      reason(
        'gpu.arch',
        `architecture ${architecture} is not allowed (allowed: ${reference.architectures.join(', ') || 'none'})`,
      ),
    );
  }
  if (report) {
    const od = report.response.opaqueData;
    if (!od.driverVersion) reasons.push(reason('gpu.driver-version', 'the report carries no driver version'));
    else if (!reference.driverVersions.includes(od.driverVersion))
      reasons.push(
        reason(
          'gpu.driver-version',
          `driver ${od.driverVersion} is not allowed (allowed: ${reference.driverVersions.join(', ') || 'none'})`,
        ),
      );
    if (!od.vbiosVersion) reasons.push(reason('gpu.vbios-version', 'the report carries no VBIOS version'));
    else if (!reference.vbiosVersions.some((v) => v.toUpperCase() === od.vbiosVersion))
      reasons.push(
        reason(
          'gpu.vbios-version',
          `VBIOS ${od.vbiosVersion} is not allowed (allowed: ${reference.vbiosVersions.join(', ') || 'none'})`,
        ),
      );
  }
  return reasons;
}

/** The chip (GH100, GB100...) named in a device chain's subjects. */
export function chipOf(subjects: readonly string[]): string | undefined {
  for (const s of subjects) {
    const m = /\b(G[HB]\d{3})\b/.exec(s);
    if (m) return m[1];
  }
  return undefined;
}
