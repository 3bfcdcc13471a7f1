/** A leading Coordinator for benchmarks of calls that no node agent takes part in. */
import type { Manifest } from '../../src/api/manifest.ts';
import { Coordinator, type CoordinatorDeps } from '../../src/coordinator/coordinator.ts';
import { silentLogger } from '../../src/observability/log.ts';

/** Only its presence matters (the Coordinator API answers 503 without a leader); no agent talks to it. */
export function coordinatorWithoutAgents(
  manifests: { list: () => Manifest[] },
  trust: CoordinatorDeps['trust'],
): Promise<Coordinator> {
  return Coordinator.create({
    manifests,
    nodes: { get: () => undefined },
    nodeAttestations: { list: () => [] },
    store: {
      get: async () => undefined,
      ensure: async () => {
        throw new Error('no agents in this benchmark');
      },
      updateStatus: async () => undefined,
    },
    trust,
    events: { record: async () => undefined },
    log: silentLogger,
  });
}
