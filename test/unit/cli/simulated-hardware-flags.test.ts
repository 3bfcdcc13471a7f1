// The development-only --simulated-hardware of `attestor agent` and `attestor init`: without the
// policy hash the simulated CVM must carry they refuse to start, saying what is missing, and
// --help marks them as development only.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../../src/dev/control-plane.ts';

const attestor = (...args: string[]) =>
  spawnSync(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_NAME: 'n', POD_NAME: 'p', POD_NAMESPACE: 'ns', ATTESTOR_COORDINATOR_CA: 'x' },
  });

describe('attestor agent and init --simulated-hardware', function () {
  this.timeout(120_000);
  it('refuse to start without a well-formed --simulated-policy-hash', () => {
    for (const command of ['agent', 'init']) {
      const r = attestor(
        command,
        '--coordinator',
        'https://127.0.0.1:1',
        '--simulated-hardware',
        'http://127.0.0.1:1',
        '--simulated-policy-hash',
        'not-hex',
        ...(command === 'agent' ? ['--no-countersign', '--ca-file', '/dev/null', '--token-file', '/dev/null'] : []),
      );
      assert.notEqual(r.status, 0, command);
      assert.match(r.stderr + r.stdout, /--simulated-hardware needs --simulated-policy-hash/, command);
    }
  });
  it('are marked development only in --help', () => {
    for (const command of ['agent', 'init'])
      assert.match(attestor(command, '--help').stdout, /--simulated-hardware <url>\s+DEVELOPMENT ONLY/, command);
  });
});
