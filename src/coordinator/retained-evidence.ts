/**
 * The evidence a node last gave, kept by the leader so that a change of the active Manifest can
 * appraise it again at once (a roll-back brings refused nodes back without a new round).
 *
 * Only evidence bound to a nonce this Coordinator issued to the node is kept (requests with a bad
 * nonce or shape are answered before appraisal and keep nothing), and of refused evidence only
 * what was refused for comparisons with the Manifest alone: evidence that failed a signature,
 * chain, revocation, binding or parsing check is not authentic and is dropped. Each reason says
 * which it is (its kind, from the check-ID registry in src/attestation/check-registry.ts); a
 * reason of any other kind makes the evidence not retained (fail closed: the node then simply
 * attests again).
 */
import type * as jose from 'jose';
import type { NodeEvidence, NodeExpectation } from '../attestation/node-appraisal.ts';
import { onlyComparisons, type Reason } from '../attestation/verdict.ts';

export interface RetainedEvidence {
  evidence: NodeEvidence;
  expectation: NodeExpectation;
  /** The agent key REPORT_DATA binds (a grant issued on re-appraisal is bound to it). */
  agentKey: jose.JWK;
  agentKeyThumbprint: string;
  /** evidenceDigest() of the request: the grant's `evidence` claim. */
  digest: string;
  /** When the nonce it carries was issued: the evidence is as old as that. */
  collectedAt: Date;
}

/** Whether evidence refused for these reasons (or accepted: none) is worth appraising again. */
export function retainable(reasons: readonly Reason[]): boolean {
  return onlyComparisons(reasons);
}
