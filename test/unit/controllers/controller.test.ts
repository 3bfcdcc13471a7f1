import assert from 'node:assert/strict';
import { Controller } from '../../../src/controllers/runtime/controller.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { OperatorMetrics } from '../../../src/observability/metrics.ts';

describe('Controller', () => {
  it('retries a failing reconcile with backoff until it succeeds, and counts results', async () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    let calls = 0;
    const c = new Controller({
      name: 'flaky',
      log: silentLogger,
      metrics,
      queue: { baseDelayMs: 1 },
      reconcile: async () => {
        calls++;
        if (calls < 3) throw new Error('transient');
      },
    });
    c.start();
    c.enqueue('k');
    await waitFor(() => calls === 3, { timeoutMs: 5000, description: 'third reconcile' });
    await waitFor(
      async () =>
        /controller_runtime_reconcile_total\{controller="flaky",result="success"\} 1/.test(
          await metrics.registry.metrics(),
        ),
      { timeoutMs: 2000 },
    );
    const text = await metrics.registry.metrics();
    assert.match(text, /controller_runtime_reconcile_total\{controller="flaky",result="error"\} 2/);
    assert.match(text, /controller_runtime_reconcile_errors_total\{controller="flaky"\} 2/);
    assert.match(text, /controller_runtime_reconcile_time_seconds_count\{controller="flaky"\} 3/);
    assert.equal(c.queue.numRequeues('k'), 0, 'success forgets the failures');
    await c.stop();
  });

  it('requeues after the delay a reconcile asks for', async () => {
    let calls = 0;
    const c = new Controller({
      name: 'periodic',
      log: silentLogger,
      reconcile: async () => {
        calls++;
        return calls < 2 ? { requeueAfterMs: 20 } : undefined;
      },
    });
    c.start();
    c.enqueue('k');
    await waitFor(() => calls === 2, { timeoutMs: 5000, description: 'requeued reconcile' });
    await c.stop();
  });

  it('waits for reconciles in flight when stopped', async () => {
    let finished = false;
    let started = false;
    const c = new Controller({
      name: 'slow',
      log: silentLogger,
      reconcile: async () => {
        started = true;
        await new Promise((r) => setTimeout(r, 50));
        finished = true;
      },
    });
    c.start();
    c.enqueue('k');
    await waitFor(() => started, { timeoutMs: 2000 });
    await c.stop();
    assert.equal(finished, true);
  });
});
