import assert from 'node:assert/strict';
import { rateOption, urlListOption } from '../../../src/cli/options.ts';

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

describe('--coordinator-peers', () => {
  it('reads comma-separated https URLs, dropping empty entries', () => {
    assert.deepEqual(urlListOption('https://a.svc:8443, https://10.0.0.1:8443/,'), [
      'https://a.svc:8443',
      'https://10.0.0.1:8443/',
    ]);
    assert.deepEqual(urlListOption(''), []);
  });
  it('refuses anything but https: the token and the evidence must not travel in the clear', () => {
    for (const bad of ['http://a.svc:8443', 'a.svc:8443', 'https://a.svc,not a url'])
      assert.throws(() => urlListOption(bad), /expected https URLs separated by commas/, bad);
  });
});
