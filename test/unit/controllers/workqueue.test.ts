import assert from 'node:assert/strict';
import { WorkQueue } from '../../../src/controllers/runtime/workqueue.ts';
import { OperatorMetrics } from '../../../src/observability/metrics.ts';

describe('WorkQueue', () => {
  it('hands out each key once however often it was added', async () => {
    const q = new WorkQueue('t');
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    assert.equal(q.length, 0);
  });

  it('never gives a key to two workers at once: an add during processing waits for done()', async () => {
    const q = new WorkQueue('t');
    q.add('a');
    const key = await q.get();
    q.add('a');
    assert.equal(q.length, 0, 'a is being processed, so it is not queued again yet');
    q.done(key!);
    assert.equal(q.length, 1);
    assert.equal(await q.get(), 'a');
  });

  it('wakes a waiting get() when a key arrives', async () => {
    const q = new WorkQueue('t');
    const pending = q.get();
    q.add('x');
    assert.equal(await pending, 'x');
  });

  it('backs off exponentially per key and forgets on success', () => {
    const q = new WorkQueue('t', { baseDelayMs: 5, maxDelayMs: 1000 });
    assert.deepEqual(
      [0, 1, 2, 3, 10].map((n) => q.backoffFor(n)),
      [5, 10, 20, 40, 1000],
    );
    q.addRateLimited('a');
    q.addRateLimited('a');
    assert.equal(q.numRequeues('a'), 2);
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
    q.shutDown();
  });

  it('delivers a rate-limited key after its backoff', async () => {
    const q = new WorkQueue('t', { baseDelayMs: 20 });
    const start = performance.now();
    q.addRateLimited('a');
    assert.equal(q.length, 0);
    assert.equal(await q.get(), 'a');
    assert.ok(performance.now() - start >= 15, 'not before the backoff');
  });

  it('keeps the earliest of two delayed adds', async () => {
    const q = new WorkQueue('t');
    q.addAfter('a', 60_000);
    q.addAfter('a', 10);
    assert.equal(await q.get(), 'a');
    q.shutDown();
  });

  it('resolves waiting workers with undefined on shutdown and refuses new keys', async () => {
    const q = new WorkQueue('t');
    const pending = q.get();
    q.shutDown();
    assert.equal(await pending, undefined);
    q.add('a');
    assert.equal(await q.get(), undefined);
  });

  it('reports workqueue_depth, workqueue_adds_total and workqueue_retries_total', async () => {
    const metrics = new OperatorMetrics({ defaultMetrics: false });
    const q = new WorkQueue('demo', { metrics, baseDelayMs: 1 });
    q.add('a');
    q.add('b');
    q.addRateLimited('c');
    const text = await metrics.registry.metrics();
    assert.match(text, /workqueue_depth\{name="demo",controller="demo"\} 2/);
    assert.match(text, /workqueue_adds_total\{name="demo",controller="demo"\} 2/);
    assert.match(text, /workqueue_retries_total\{name="demo",controller="demo"\} 1/);
    q.shutDown();
  });
});
