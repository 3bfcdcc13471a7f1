// The worker proxy's replay window: a request once, within the clock skew, in bounded memory.
import assert from 'node:assert/strict';
import { ReplayWindow } from '../../../../src/protocol/inference/replay-window.ts';

const NOW = Date.parse('2026-06-01T00:00:00Z');
const SKEW = 60_000;

describe('replay window', () => {
  it('accepts a request once and refuses its replay', () => {
    const w = new ReplayWindow({ maxSkewMs: SKEW });
    assert.deepEqual(w.accept('s', 'n1', NOW, NOW), { accepted: true });
    assert.deepEqual(w.accept('s', 'n1', NOW, NOW + 10), { accepted: false, reason: 'replayed' });
    assert.deepEqual(w.accept('s', 'n2', NOW, NOW + 10), { accepted: true }, 'another nonce');
    assert.deepEqual(w.accept('t', 'n1', NOW, NOW + 10), { accepted: true }, 'another secret');
  });

  it('refuses stale and future timestamps beyond the skew, and accepts those at its edges', () => {
    const w = new ReplayWindow({ maxSkewMs: SKEW });
    assert.deepEqual(w.accept('s', 'a', NOW - SKEW - 1, NOW), { accepted: false, reason: 'stale' });
    assert.deepEqual(w.accept('s', 'b', NOW + SKEW + 1, NOW), { accepted: false, reason: 'future' });
    assert.deepEqual(w.accept('s', 'c', NOW - SKEW, NOW), { accepted: true });
    assert.deepEqual(w.accept('s', 'd', NOW + SKEW, NOW), { accepted: true });
  });

  it('forgets requests once their timestamps left the skew, and still refuses their replay as stale', () => {
    const w = new ReplayWindow({ maxSkewMs: SKEW });
    w.accept('s', 'a', NOW, NOW);
    w.accept('s', 'b', NOW + 30_000, NOW + 30_000);
    assert.equal(w.size, 2);
    assert.deepEqual(w.accept('s', 'c', NOW + SKEW + 1, NOW + SKEW + 1), { accepted: true });
    assert.equal(w.size, 2, 'a aged out');
    assert.deepEqual(w.accept('s', 'a', NOW, NOW + SKEW + 1), { accepted: false, reason: 'stale' });
  });

  it('never holds more than its bound, and refuses what it had to forget early as stale, so no replay reopens', () => {
    const w = new ReplayWindow({ maxSkewMs: SKEW, maxEntries: 3 });
    for (let i = 0; i < 3; i++) assert.ok(w.accept('s', `n${i}`, NOW + i, NOW + 10).accepted);
    assert.ok(w.accept('s', 'n3', NOW + 3, NOW + 10).accepted);
    assert.equal(w.size, 3);
    assert.deepEqual(
      w.accept('s', 'n0', NOW, NOW + 10),
      { accepted: false, reason: 'stale' },
      'n0 was forgotten early',
    );
    assert.deepEqual(w.accept('s', 'late', NOW, NOW + 10), { accepted: false, reason: 'stale' }, 'at the floor');
    assert.ok(w.accept('s', 'fresh', NOW + 5, NOW + 10).accepted);
    for (let i = 0; i < 1000; i++) w.accept('s', `m${i}`, NOW + 100 + (i % 50), NOW + 200);
    assert.equal(w.size, 3);
  });

  it('needs room and a skew', () => {
    assert.throws(() => new ReplayWindow({ maxEntries: 0 }), /room/);
    assert.throws(() => new ReplayWindow({ maxSkewMs: -1 }), /skew/);
  });
});
