/**
 * Trust selection: which roots a node's evidence is appraised under. The pinned vendor roots
 * always; the roots the operator generated for simulated evidence only while the active Manifest
 * accepts simulated evidence (spec.development.acceptSimulatedEvidence) and the operator was
 * given them (docs/design.md D10), and only after the real roots refused. Pure.
 */
import type { Manifest } from '../api/manifest.ts';
import type { NodeClaims, NodeCollateral, NodeEvidence, NodeTrust } from '../attestation/node-appraisal.ts';
import { isGenuine, type Verdict } from '../attestation/verdict.ts';

/**
 * The vendor collateral for one node's evidence at the appraisal time (src/collateral's
 * collateralSource): awaited before appraisal, its notes logged.
 */
export type CollateralSource = (
  evidence: NodeEvidence,
  at: Date,
) => Promise<{ collateral: NodeCollateral; notes: readonly string[] }>;

export interface CoordinatorTrust {
  /** Pinned vendor roots (the verifiers' defaults when empty). */
  production: NodeTrust;
  /** Absent: no collateral (evidence that needs some is refused). */
  productionCollateral?: CollateralSource;
  /** Generated roots of simulated evidence: used only while the active Manifest accepts simulated evidence. */
  simulated?: NodeTrust;
  simulatedCollateral?: CollateralSource;
}

/** A verdict, and whether it was reached under the simulated roots. */
export interface Appraisal {
  verdict: Verdict<NodeClaims>;
  simulated: boolean;
}

/** The simulated roots and collateral when this Manifest accepts simulated evidence and the operator has them. */
export function simulatedTrustFor(
  manifest: Manifest,
  trust: CoordinatorTrust,
): { trust: NodeTrust; collateral: CollateralSource | undefined } | undefined {
  if (!manifest.spec.development?.acceptSimulatedEvidence || !trust.simulated) return undefined;
  return { trust: trust.simulated, collateral: trust.simulatedCollateral };
}

/** Of a refusal under the real roots and a verdict under the simulated ones, the one to record. */
export function preferredVerdict(production: Verdict<NodeClaims>, simulated: Verdict<NodeClaims>): Appraisal {
  // A refusal under simulated roots explains less than one under the real roots, unless the
  // evidence was simulated, i.e. genuine under the simulated roots: then its reasons are the useful ones.
  return isGenuine(simulated.reasons)
    ? { verdict: simulated, simulated: true }
    : { verdict: production, simulated: false };
}
