/**
 * The re-appraisal controller (D9): when the Manifests change, the Coordinator appraises each
 * node's retained evidence again under the active one, and agents that attested under another
 * Manifest hear of it. One key, so runs never overlap and changes that arrive during a run
 * coalesce into one more run; a failed run is retried with backoff. Runs on the leader, where the
 * Coordinator and its retained evidence live.
 */
import type { Manifest } from '../../api/manifest.ts';
import type { NodeAttestation } from '../../api/node-attestation.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';
import { Controller } from '../runtime/controller.ts';

/** The one key: "settle the nodes under the active Manifest". */
export const ACTIVE_MANIFEST_KEY = 'active-manifest';

/** What re-appraises (the Coordinator). */
export interface Reappraiser {
  reappraise(attestations: readonly NodeAttestation[]): Promise<void>;
}

export interface ReappraisalDeps {
  manifests: { onChange(handler: (manifest: Manifest) => void): unknown };
  nodeAttestations: { list(): readonly NodeAttestation[] };
  /** The Coordinator while this replica leads; undefined otherwise (then a run does nothing). */
  reappraiser: () => Reappraiser | undefined;
  log: Logger;
  metrics?: OperatorMetrics;
}

export function createReappraisalController(deps: ReappraisalDeps): Controller {
  const controller = new Controller({
    name: 'reappraisal',
    log: deps.log,
    metrics: deps.metrics,
    reconcile: async () => {
      await deps.reappraiser()?.reappraise(deps.nodeAttestations.list());
    },
  });
  deps.manifests.onChange(() => controller.enqueue(ACTIVE_MANIFEST_KEY));
  return controller;
}
