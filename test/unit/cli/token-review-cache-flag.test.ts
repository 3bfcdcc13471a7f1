// --token-review-cache-ttl on the operator and the agent: 10 s by default, 0s turns the cache off,
// and a value that is no duration is refused; the chart passes its values to both.
import assert from 'node:assert/strict';
import { agentCommand } from '../../../src/cli/agent.ts';
import { operatorFlags } from '../../../src/cli/operator-flags.ts';

describe('--token-review-cache-ttl', () => {
  const parsed = (command: ReturnType<typeof operatorFlags>, args: string[]) => {
    command.exitOverride().configureOutput({ writeErr: () => undefined });
    command.action(() => undefined);
    command.parse(args, { from: 'user' });
    return command.opts().tokenReviewCacheTtl as number;
  };
  it('is 10 s by default on the operator, and 0s turns the cache off', () => {
    assert.equal(parsed(operatorFlags(), []), 10_000);
    assert.equal(parsed(operatorFlags(), ['--token-review-cache-ttl', '0s']), 0);
    assert.equal(parsed(operatorFlags(), ['--token-review-cache-ttl', '1m']), 60_000);
  });
  it('is 10 s by default on the agent', () => {
    assert.equal(parsed(agentCommand(), ['--coordinator', 'https://coordinator:8443']), 10_000);
    assert.equal(parsed(agentCommand(), ['--coordinator', 'https://c:8443', '--token-review-cache-ttl', '0s']), 0);
  });
  it('refuses what is no duration', () => {
    assert.throws(() => parsed(operatorFlags(), ['--token-review-cache-ttl', 'ten']), /expected a duration/);
  });
});
