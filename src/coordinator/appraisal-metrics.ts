/**
 * What every appraisal of evidence reports, whoever asked (a node agent, `attestor init`, a
 * re-appraisal): refusals by the ID of each failed check, and the nextUpdate of the expiring
 * vendor collateral it was given.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { NodeCollateral } from '../attestation/node-appraisal.ts';
import type { Reason } from '../attestation/verdict.ts';
import { collateralNextUpdates } from '../collateral/next-updates.ts';

/** Whose evidence a refusal was about: a node agent's, a pod's (`attestor init`), or a node's retained evidence under a new Manifest. */
export type RefusalSubject = 'node' | 'workload' | 'reappraisal';

export class AppraisalMetrics {
  readonly refusals: Counter<'check' | 'subject'>;
  readonly collateralNextUpdate: Gauge<'kind' | 'item'>;

  constructor(registry: Registry) {
    this.refusals = new Counter({
      name: 'attestor_coordinator_refusals_total',
      help: 'Refused evidence by the ID of each check that failed (one count per check ID and refusal) and subject (node, workload, reappraisal)',
      labelNames: ['check', 'subject'],
      registers: [registry],
    });
    this.collateralNextUpdate = new Gauge({
      name: 'attestor_collateral_next_update_timestamp_seconds',
      help: 'nextUpdate (Unix seconds) of the expiring vendor collateral the latest appraisals used, by kind (snp-crl, tdx-tcb-info, tdx-qe-identity, tdx-pck-crl, tdx-root-crl, nvidia-ocsp) and item (CRL issuer CN, FMSPC, QE identity id, certificate serial)',
      labelNames: ['kind', 'item'],
      registers: [registry],
    });
  }

  /** Counts a refusal once per distinct check ID among its reasons. */
  refused(reasons: readonly Pick<Reason, 'check'>[], subject: RefusalSubject): void {
    for (const check of new Set(reasons.map((r) => r.check))) this.refusals.inc({ check, subject });
  }

  /** Records the nextUpdate of the expiring collateral an appraisal was given. */
  collateralUsed(collateral: NodeCollateral): void {
    for (const c of collateralNextUpdates(collateral))
      this.collateralNextUpdate.set({ kind: c.kind, item: c.item }, c.nextUpdate.getTime() / 1000);
  }
}
