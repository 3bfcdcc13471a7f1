/**
 * The evidence a node last gave, kept by the leader so that a change of the active Manifest can
 * appraise it again at once (a roll-back brings refused nodes back without a new round).
 *
 * Only evidence bound to a nonce this Coordinator issued to the node is kept (requests with a bad
 * nonce or shape are answered before appraisal and keep nothing), and of refused evidence only
 * what was refused for comparisons with the Manifest alone: evidence that failed a signature,
 * chain, revocation, binding or parsing check is not authentic and is dropped. The list below is
 * an allow-list: a check it does not know makes the evidence not retained (fail closed: the node
 * then simply attests again).
 */
import type * as jose from 'jose';
import type { NodeEvidence, NodeExpectation } from '../attestation/node-appraisal.ts';
import type { Reason } from '../attestation/verdict.ts';

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

/** Checks that compare authentic evidence with the Manifest's reference values and options. */
const MANIFEST_COMPARISONS = new RegExp(
  '^(' +
    [
      'node\\.(cvm|gpu)\\.reference-values',
      // Authentic evidence of a launch or GPU that another node holds: it may be released later.
      'coordinator\\.evidence\\.in-use',
      'snp\\.(measurement|host-data|vmpl|reference-values|product|signing-key\\.allowed|guest-svn|family-id|image-id|author-key|id-key)',
      'snp\\.(policy|tcb\\.(reported|current|committed|launch|minimum)|firmware|platform-info|mitigation|id-block)(\\..+)?',
      'tdx\\.(mrtd|mrconfigid|mrseam|mrowner|mrownerconfig|rtmr\\d?|xfam|tee-tcb-svn|tcb-status|qe-tcb-status|reference-values|qe-svn|pce-svn)',
      'tdx\\.(td-attributes|collateral\\.missing)(\\..+)?',
      'gpu\\.(arch|driver-version|vbios-version|fwid|measurement|rim\\.missing|rim\\.digest)',
      'gpu\\.(mode|devtools|feature-flag)(\\..+)?',
    ].join('|') +
    ')$',
);

/** Whether evidence refused for these reasons (or accepted: none) is worth appraising again. */
export function retainable(reasons: readonly Reason[]): boolean {
  return reasons.every((r) => MANIFEST_COMPARISONS.test(r.check));
}
