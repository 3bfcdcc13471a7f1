import assert from 'node:assert/strict';
import { KeyedRateLimiter } from '../../../src/coordinator/rate-limiter.ts';

describe('per-node rate limiter', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const at = (ms: number) => new Date(t0.getTime() + ms);

  it('allows a burst, then one per interval, and says when to retry', () => {
    const limiter = new KeyedRateLimiter({ burst: 2, intervalMs: 1000 });
    assert.deepEqual([limiter.take('a', t0), limiter.take('a', t0)], [{ allowed: true }, { allowed: true }]);
    assert.deepEqual(limiter.take('a', t0), { allowed: false, retryAfterMs: 1000 });
    assert.deepEqual(limiter.take('a', at(400)), { allowed: false, retryAfterMs: 600 });
    assert.deepEqual(limiter.take('a', at(1000)), { allowed: true });
    assert.deepEqual(limiter.take('a', at(1000)).allowed, false);
  });

  it("keeps each key's budget its own", () => {
    const limiter = new KeyedRateLimiter({ burst: 1, intervalMs: 60_000 });
    assert.equal(limiter.take('flooder', t0).allowed, true);
    for (let i = 0; i < 100; i++) assert.equal(limiter.take('flooder', t0).allowed, false);
    assert.equal(limiter.take('quiet', t0).allowed, true);
  });

  it('never holds more than the burst, however long a key was idle', () => {
    const limiter = new KeyedRateLimiter({ burst: 2, intervalMs: 10 });
    limiter.take('a', t0);
    const later = at(3_600_000);
    assert.deepEqual(
      [limiter.take('a', later).allowed, limiter.take('a', later).allowed, limiter.take('a', later).allowed],
      [true, true, false],
    );
  });

  it('refuses a limit that would allow nothing', () => {
    assert.throws(() => new KeyedRateLimiter({ burst: 0, intervalMs: 1000 }), /invalid rate limit/);
  });
});
