/**
 * Trust selection: which roots a node's evidence is appraised under. The pinned vendor roots
 * always; the roots the operator generated for simulated evidence only while the active Manifest
 * accepts simulated evidence (spec.development.acceptSimulatedEvidence) and the operator was
 * given them (docs/design.md D10), and only after the real roots refused. Pure.
 */
import type { Manifest } from '../api/manifest.ts';
import type { NodeClaims, NodeCollateral, NodeEvidence, NodeTrust } from '../attestation/node-appraisal.ts';
import type { Verdict } from '../attestation/verdict.ts';

export interface CoordinatorTrust {
  /** Pinned vendor roots (the verifiers' defaults when empty). */
  production: NodeTrust;
  productionCollateral?: NodeCollateral;
  /**
   * Completes the production collateral for one node's evidence (the vendor collateral cache,
   * src/collateral): awaited before appraisal, its notes logged. Absent: productionCollateral alone.
   */
  prepareProductionCollateral?: (
    evidence: NodeEvidence,
    base: NodeCollateral | undefined,
  ) => Promise<{ collateral: NodeCollateral; notes: string[] }>;
  /** Generated roots of simulated evidence: used only while the active Manifest accepts simulated evidence. */
  simulated?: NodeTrust;
  simulatedCollateral?: NodeCollateral;
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
): { trust: NodeTrust; collateral: NodeCollateral | undefined } | undefined {
  if (!manifest.spec.development?.acceptSimulatedEvidence || !trust.simulated) return undefined;
  return { trust: trust.simulated, collateral: trust.simulatedCollateral };
}

/** Of a refusal under the real roots and a verdict under the simulated ones, the one to record. */
export function preferredVerdict(production: Verdict<NodeClaims>, simulated: Verdict<NodeClaims>): Appraisal {
  // A refusal under simulated roots explains less than one under the real roots, unless the
  // evidence was simulated: then its reasons are the useful ones.
  const chainChecks = /chain|signature|root|anchor|certificate/;
  const simulatedChainOk = !simulated.reasons.some((r) => chainChecks.test(r.check));
  return simulated.verified || simulatedChainOk
    ? { verdict: simulated, simulated: true }
    : { verdict: production, simulated: false };
}
