/** Prometheus metrics of the admission webhook, registered on the registry the process serves. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export class WebhookMetrics {
  readonly requests: Counter<'webhook' | 'verdict'>;
  readonly duration: Histogram<'webhook'>;
  readonly inFlight: Gauge<'webhook'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'attestor_webhook_requests_total',
      // The label keeps its name (dashboards match on it); its values are AdmissionOutcome's.
      help: 'Admission requests per webhook and outcome (label verdict: allowed, denied, error: could not judge, so denied)',
      labelNames: ['webhook', 'verdict'],
      registers: [registry],
    });
    // The API server waits at most timeoutSeconds (default 10 s) for an answer.
    this.duration = new Histogram({
      name: 'attestor_webhook_request_duration_seconds',
      help: 'Time to answer an admission request',
      labelNames: ['webhook'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.inFlight = new Gauge({
      name: 'attestor_webhook_requests_in_flight',
      help: 'Admission requests being answered',
      labelNames: ['webhook'],
      registers: [registry],
    });
  }
}
