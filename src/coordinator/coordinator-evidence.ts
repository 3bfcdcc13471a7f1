/**
 * A Coordinator's CVM evidence: where its own comes from, and the appraisal of a Coordinator's
 * evidence (its own, or a peer replica's in peer recovery) against a Manifest's coordinator-role
 * entries and policies, with the orchestration node evidence goes through (appraisal.ts).
 */
import type { Manifest } from '../api/manifest.ts';
import type { NodeEvidence } from '../attestation/node-appraisal.ts';
import type { Reason } from '../attestation/verdict.ts';
import type { NodeAppraiser } from './appraisal.ts';

/** Where the Coordinator's own CVM report comes from (configfs-tsm in a real pod VM, simulated in dev and tests). */
export interface OwnEvidenceSource {
  readonly kind: string;
  /** A report whose REPORT_DATA is exactly these 64 bytes. */
  collect(reportData: Uint8Array): Promise<NodeEvidence['cvm']>;
}

/** The own evidence source, or why there is none (`--coordinator-evidence none`). */
export type OwnEvidence = OwnEvidenceSource | { none: string };

/** Whether this Coordinator may claim its identity under the Manifest it follows. */
export type Standing =
  | { state: 'appraising' }
  /** `policyHash`: the policy its own HOST_DATA / MRCONFIGID carries, which a peer's must equal. */
  | { state: 'accepted'; simulated: boolean; policyHash: string }
  | { state: 'refused'; reasons: string[]; at: number };

export interface CoordinatorEvidenceVerdict {
  verified: boolean;
  simulated: boolean;
  /** The policy hash HOST_DATA / MRCONFIGID carries, once the evidence is genuine. */
  policyHash?: string;
  measurement?: string;
  reasons: Reason[];
}

/** Appraises a Coordinator's CVM evidence against `manifest`'s coordinator entries, expecting this REPORT_DATA. */
export async function appraiseCoordinatorEvidence(
  appraiser: NodeAppraiser,
  cvm: NodeEvidence['cvm'],
  reportData: Uint8Array,
  manifest: Manifest,
  at: Date,
): Promise<CoordinatorEvidenceVerdict> {
  // No GPUs: the nonce of GPU reports is never looked at.
  const { verdict, simulated } = await appraiser.appraise(
    { cvm, gpus: [] },
    { reportData, nonce: new Uint8Array(32), gpuCount: 0 },
    manifest,
    at,
    'coordinator',
  );
  return {
    verified: verdict.verified,
    simulated,
    ...(verdict.claims.cvm.policyHash ? { policyHash: verdict.claims.cvm.policyHash } : {}),
    ...(verdict.claims.cvm.measurement ? { measurement: verdict.claims.cvm.measurement } : {}),
    reasons: [...verdict.reasons],
  };
}

/**
 * Collects the own evidence with this REPORT_DATA and appraises it against `manifest`'s
 * coordinator entries: whether the Coordinator may claim its identity under it.
 */
export async function ownStanding(
  source: OwnEvidence,
  appraiser: NodeAppraiser,
  reportData: Uint8Array,
  manifest: Manifest,
  at: Date,
): Promise<Standing> {
  if ('none' in source) return { state: 'refused', reasons: [source.none], at: at.getTime() };
  try {
    const cvm = await source.collect(reportData);
    const v = await appraiseCoordinatorEvidence(appraiser, cvm, reportData, manifest, at);
    return v.verified
      ? { state: 'accepted', simulated: v.simulated, policyHash: v.policyHash ?? '' }
      : { state: 'refused', reasons: v.reasons.map(reasonText), at: at.getTime() };
  } catch (err) {
    return { state: 'refused', reasons: [collectionFailure(source, err)], at: at.getTime() };
  }
}

/** Why the own evidence could not be collected. */
export function collectionFailure(source: OwnEvidenceSource, err: unknown): string {
  return `could not collect the own CVM evidence (${source.kind}): ${(err as Error).message}`;
}

/** A reason as status and log lines show it. */
export function reasonText(r: Reason): string {
  return `[${r.check}] ${r.message}`;
}
