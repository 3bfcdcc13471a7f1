/**
 * Appraisal orchestration: one node's evidence (or the Coordinator's own, which has no GPUs, or a
 * pod VM's) against the active Manifest's entries of its role. Completes the vendor collateral for it,
 * appraises it under the real roots, and under the simulated ones where trust selection
 * (trust.ts) allows; the verifiers' caches live here, one set per appraiser.
 */
import type { Manifest } from '../api/manifest.ts';
import { policyHashesForRole, referenceValuesForRole } from '../api/manifest-roles.ts';
import {
  appraiseNode,
  type NodeAppraisalContext,
  type NodeCollateral,
  type NodeEvidence,
  type NodeExpectation,
} from '../attestation/node-appraisal.ts';
import { VerificationCache } from '../attestation/nvidia/index.ts';
import type { CvmRole } from '../attestation/reference-values.ts';
import { SnpEndorsementCache } from '../attestation/snp/index.ts';
import { TdxVerifierCache } from '../attestation/tdx/index.ts';
import type { Logger } from '../observability/log.ts';
import {
  type Appraisal,
  type CollateralSource,
  type CoordinatorTrust,
  preferredVerdict,
  simulatedTrustFor,
} from './trust.ts';

export class NodeAppraiser {
  readonly #trust: CoordinatorTrust;
  readonly #log: Logger;
  // Chains, collateral and RIM signatures checked once (keyed by their bytes and the roots);
  // validity at the time, and everything about the evidence itself, are checked every time.
  readonly #caches = { snp: new SnpEndorsementCache(), tdx: new TdxVerifierCache(), gpu: new VerificationCache() };

  readonly #collateralUsed: ((collateral: NodeCollateral) => void) | undefined;

  /** `collateralUsed` hears of the collateral each appraisal was given (its expiry is a metric). */
  constructor(trust: CoordinatorTrust, log: Logger, collateralUsed?: (collateral: NodeCollateral) => void) {
    this.#trust = trust;
    this.#log = log;
    this.#collateralUsed = collateralUsed;
  }

  async appraise(
    evidence: NodeEvidence,
    expectation: NodeExpectation,
    manifest: Manifest,
    at: Date,
    role: CvmRole = 'node',
    /** The HOST_DATA / MRCONFIGID values allowed; default every policy of the role (a pod: its own policy only). */
    policyHashes: readonly string[] = policyHashesForRole(manifest.spec.policies, role),
  ): Promise<Appraisal> {
    const base: Omit<NodeAppraisalContext, 'trust' | 'collateral'> = {
      referenceValues: referenceValuesForRole(manifest.spec.referenceValues, role),
      policyHashes,
      at,
      caches: this.#caches,
    };
    const collateral = await this.#collateral(this.#trust.productionCollateral, evidence, at);
    const production = await appraiseNode(evidence, expectation, {
      ...base,
      trust: this.#trust.production,
      collateral,
    });
    const simulatedTrust = simulatedTrustFor(manifest, this.#trust);
    if (production.verified || !simulatedTrust) return { verdict: production, simulated: false };
    const simulated = await appraiseNode(evidence, expectation, {
      ...base,
      trust: simulatedTrust.trust,
      collateral: await this.#collateral(simulatedTrust.collateral, evidence, at),
    });
    return preferredVerdict(production, simulated);
  }

  async #collateral(source: CollateralSource | undefined, evidence: NodeEvidence, at: Date): Promise<NodeCollateral> {
    if (!source) return {};
    const prepared = await source(evidence, at);
    for (const note of prepared.notes) this.#log.warn({ note }, 'collateral');
    this.#collateralUsed?.(prepared.collateral);
    return prepared.collateral;
  }
}
