/** Coordinator metrics. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { AppraisalMetrics } from './appraisal-metrics.ts';

export class CoordinatorMetrics {
  readonly attestations: Counter<'result'>;
  readonly activations: Counter<'result'>;
  readonly appraisalSeconds: Histogram;
  readonly requests: Counter<'path' | 'code'>;
  readonly rateLimited: Counter<'kind'>;
  readonly eventsSuppressed: Counter;
  readonly reappraisals: Counter<'result'>;
  readonly identityReady: Gauge;
  readonly ownAppraisals: Counter<'result'>;
  readonly peerRecoveries: Counter<'side' | 'result'>;
  /** Refusals by check ID and collateral expiry: shared with the workload paths (WorkloadMetrics). */
  readonly appraisals: AppraisalMetrics;

  constructor(registry: Registry) {
    this.appraisals = new AppraisalMetrics(registry);
    this.attestations = new Counter({
      name: 'attestor_coordinator_attestations_total',
      help: 'Node evidence submissions by result (accepted, refused)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.activations = new Counter({
      name: 'attestor_coordinator_activations_total',
      help: 'GPU activation reports by result',
      labelNames: ['result'],
      registers: [registry],
    });
    this.appraisalSeconds = new Histogram({
      name: 'attestor_coordinator_appraisal_duration_seconds',
      help: "Time to verify and appraise one node's evidence",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.requests = new Counter({
      name: 'attestor_coordinator_requests_total',
      help: 'Coordinator API requests by path and HTTP status',
      labelNames: ['path', 'code'],
      registers: [registry],
    });
    this.rateLimited = new Counter({
      name: 'attestor_coordinator_rate_limited_total',
      help: 'Agent requests refused with 429 because their node exceeded its rate (request, watch)',
      labelNames: ['kind'],
      registers: [registry],
    });
    this.eventsSuppressed = new Counter({
      name: 'attestor_coordinator_events_suppressed_total',
      help: 'Events about a node not recorded because the node exceeded its Event rate',
      registers: [registry],
    });
    this.reappraisals = new Counter({
      name: 'attestor_coordinator_reappraisals_total',
      help: 'Re-appraisals of retained node evidence after a change of the active Manifest, by result (accepted, refused, no-evidence)',
      labelNames: ['result'],
      registers: [registry],
    });
    this.identityReady = new Gauge({
      name: 'attestor_coordinator_identity_ready',
      help: "1 when this replica's own CVM evidence meets the active Manifest's coordinator entries, so that it claims its identity (POST /v1/coordinator/attest, on the leader); 0 otherwise",
      registers: [registry],
    });
    this.ownAppraisals = new Counter({
      name: 'attestor_coordinator_own_appraisals_total',
      help: "Appraisals of this replica's own CVM evidence against the active Manifest's coordinator entries, by result (accepted, refused)",
      labelNames: ['result'],
      registers: [registry],
    });
    this.peerRecoveries = new Counter({
      name: 'attestor_coordinator_peer_recoveries_total',
      help: "Peer recovery of the Coordinator identity between replicas: on the leader by result (handed-over, refused), on a replica (recovered, refused: the leader's answer did not prove itself, failed: no answer or the leader refused it)",
      labelNames: ['side', 'result'],
      registers: [registry],
    });
  }
}
