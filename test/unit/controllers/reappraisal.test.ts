// The re-appraisal controller without a cluster: a Manifest change makes the Coordinator appraise
// the current NodeAttestations again; changes during a run coalesce; no Coordinator, no run.
import assert from 'node:assert/strict';
import type { Manifest } from '../../../src/api/manifest.ts';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import {
  ACTIVE_MANIFEST_KEY,
  createReappraisalController,
  type Reappraiser,
} from '../../../src/controllers/reappraisal/controller.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { OperatorMetrics } from '../../../src/observability/metrics.ts';
import { manifest, nodeAttestation } from '../webhook/fixtures.ts';

/** A Manifest source whose changes the test fires. */
class Manifests {
  readonly #handlers: Array<(m: Manifest) => void> = [];
  onChange(handler: (m: Manifest) => void): void {
    this.#handlers.push(handler);
  }
  change(): void {
    for (const handler of this.#handlers) handler(manifest());
  }
}

/** Records each run; a run waits until the test releases it. */
class RecordingReappraiser implements Reappraiser {
  readonly runs: string[][] = [];
  #release: (() => void) | undefined;
  holding = false;
  async reappraise(attestations: readonly NodeAttestation[]): Promise<void> {
    this.runs.push(attestations.map((na) => na.metadata.name!));
    if (!this.holding) return;
    await new Promise<void>((resolve) => {
      this.#release = resolve;
    });
  }
  release(): void {
    this.#release?.();
    this.#release = undefined;
  }
}

describe('re-appraisal controller', () => {
  it('re-appraises the NodeAttestations of the moment on each Manifest change, one run at a time', async () => {
    const manifests = new Manifests();
    let attestations = [nodeAttestation('gpu-1')];
    const coordinator = new RecordingReappraiser();
    const controller = createReappraisalController({
      manifests,
      nodeAttestations: { list: () => attestations },
      reappraiser: () => coordinator,
      log: silentLogger,
    });
    controller.start();
    try {
      manifests.change();
      await waitFor(() => coordinator.runs.length === 1, { timeoutMs: 5000, description: 'first run' });
      assert.deepEqual(coordinator.runs, [['gpu-1']]);

      // Three changes while a run is in flight: one more run afterwards, with the list of then.
      coordinator.holding = true;
      manifests.change();
      await waitFor(() => coordinator.runs.length === 2, { timeoutMs: 5000, description: 'second run' });
      attestations = [nodeAttestation('gpu-1'), nodeAttestation('gpu-2')];
      manifests.change();
      manifests.change();
      controller.enqueue(ACTIVE_MANIFEST_KEY);
      coordinator.holding = false;
      coordinator.release();
      await waitFor(() => coordinator.runs.length === 3, { timeoutMs: 5000, description: 'third run' });
      assert.deepEqual(coordinator.runs[2], ['gpu-1', 'gpu-2']);
    } finally {
      coordinator.release();
      // stop() lets the queue drain: a fourth run, had the changes not coalesced, happens before it returns.
      await controller.stop();
    }
    assert.equal(coordinator.runs.length, 3, 'the changes during a run made one more run');
  });

  it('does nothing while this replica has no Coordinator (not leading)', async () => {
    const manifests = new Manifests();
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    let listed = 0;
    const controller = createReappraisalController({
      manifests,
      nodeAttestations: {
        list: () => {
          listed++;
          return [];
        },
      },
      reappraiser: () => undefined,
      log: silentLogger,
      metrics,
    });
    controller.start();
    manifests.change();
    // stop() waits for the run the change queued.
    await controller.stop();
    assert.match(
      await metrics.registry.metrics(),
      /controller_runtime_reconcile_total\{controller="reappraisal",result="success"\} 1/,
    );
    assert.equal(listed, 0, 'nothing read, nothing appraised');
  });
});
