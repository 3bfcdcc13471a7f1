import assert from 'node:assert/strict';
import { setCondition } from '../../../src/api/conditions.ts';

describe('setCondition', () => {
  const t1 = new Date('2026-01-01T00:00:00.123Z');
  const t2 = new Date('2026-01-01T01:00:00Z');

  it('adds a condition with lastTransitionTime in RFC 3339 seconds', () => {
    const list = setCondition(
      [],
      { type: 'Ready', status: 'True', reason: 'Available', message: 'ok', observedGeneration: 3 },
      t1,
    );
    assert.deepEqual(list, [
      {
        type: 'Ready',
        status: 'True',
        reason: 'Available',
        message: 'ok',
        observedGeneration: 3,
        lastTransitionTime: '2026-01-01T00:00:00Z',
      },
    ]);
  });

  it('keeps lastTransitionTime when only reason or message change', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t1);
    const second = setCondition(first, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, t2);
    assert.equal(second[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.equal(second[0]!.reason, 'B');
  });

  it('moves lastTransitionTime when the status flips, and leaves other conditions alone', () => {
    const first = setCondition(
      setCondition([], { type: 'Valid', status: 'True', reason: 'V', message: '' }, t1),
      { type: 'Ready', status: 'False', reason: 'A', message: '' },
      t1,
    );
    const second = setCondition(first, { type: 'Ready', status: 'True', reason: 'A', message: '' }, t2);
    assert.equal(second.find((c) => c.type === 'Ready')!.lastTransitionTime, '2026-01-01T01:00:00Z');
    assert.deepEqual(
      second.find((c) => c.type === 'Valid'),
      first.find((c) => c.type === 'Valid'),
    );
  });
});
