import assert from 'node:assert/strict';
import { rateOption } from '../../../src/cli/options.ts';

describe('--*-rate flags', () => {
  it('read <burst>/<interval>', () => {
    assert.deepEqual(rateOption('20/3s'), { burst: 20, intervalMs: 3000 });
    assert.deepEqual(rateOption('1/1m'), { burst: 1, intervalMs: 60_000 });
  });
  it('refuse anything else, saying what was expected', () => {
    for (const bad of ['20', '0/3s', '20/', 'x/3s', '20/3 parsecs'])
      assert.throws(() => rateOption(bad), /expected <burst>\/<interval> such as 20\/3s/, bad);
  });
});
