// The operator's collateral flags: --snp-vcek-dir was folded into the collateral cache, and an
// operator still started with it is refused with the cache path to use instead, before anything else.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../../src/dev/control-plane.ts';

describe('attestor operator collateral flags', function () {
  this.timeout(60_000);
  it('refuses --snp-vcek-dir, naming the cache layout that replaces it', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(projectRoot, 'src/cli/main.ts'),
        'operator',
        '--snp-vcek-dir',
        '/nonexistent',
        '--no-coordinator',
        '--no-webhook',
      ],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /--snp-vcek-dir is replaced by --collateral-cache: put each VCEK at snp\/vcek\/<product>\/<hwid>-<tcb>\.der/,
    );
  });
  it('does not list --snp-vcek-dir in its help, and names the cache layout under --collateral-cache', () => {
    const help = spawnSync(process.execPath, [join(projectRoot, 'src/cli/main.ts'), 'operator', '--help'], {
      encoding: 'utf8',
    }).stdout;
    assert.doesNotMatch(help, /--snp-vcek-dir/);
    assert.match(help, /--collateral-cache <dir>[\s\S]*snp\/vcek\/<product>\/<hwid>-<tcb>\.der/);
  });
});
