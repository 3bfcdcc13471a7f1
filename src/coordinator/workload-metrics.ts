/** Metrics of the workload paths (`attestor init`): evidence and certificates by result. */
import { Counter, type Registry } from 'prom-client';
import type { AppraisalMetrics } from './appraisal-metrics.ts';

export class WorkloadMetrics {
  readonly attestations: Counter<'result'>;
  readonly certificates: Counter<'result'>;
  /** The Coordinator's (CoordinatorMetrics.appraisals): one registry holds each metric once. */
  readonly appraisals: AppraisalMetrics;

  constructor(registry: Registry, appraisals: AppraisalMetrics) {
    this.appraisals = appraisals;
    this.attestations = new Counter({
      name: 'attestor_coordinator_workload_attestations_total',
      help: "Pods' evidence submissions (attestor init) by result (accepted, refused, unappraised)",
      labelNames: ['result'],
      registers: [registry],
    });
    this.certificates = new Counter({
      name: 'attestor_coordinator_workload_certificates_total',
      help: 'Workload certificate requests (after GPU activation) by result (issued, refused)',
      labelNames: ['result'],
      registers: [registry],
    });
  }
}
