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
    // Long enough that an immediate requeue (a few ms) cannot pass for it; the timer may fire up
    // to a millisecond early against performance.now(), hence the margin below. No upper bound
    // but the wait's timeout: a loaded machine only makes it later.
    const delayMs = 300;
    const calls: number[] = [];
    const c = new Controller({
      name: 'periodic',
      log: silentLogger,
      reconcile: async () => {
        calls.push(performance.now());
        return calls.length < 2 ? { requeueAfterMs: delayMs } : undefined;
      },
    });
    c.start();
    c.enqueue('k');
    await waitFor(() => calls.length === 2, { timeoutMs: 5000, description: 'requeued reconcile' });
    await c.stop();
    const elapsed = calls[1]! - calls[0]!;
    assert.ok(elapsed >= delayMs - 2, `requeued after ${elapsed.toFixed(1)} ms, asked for ${delayMs} ms`);
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
