// The README's `attestor verify` examples, run exactly as written by bash from another folder,
// through hack/attestor linked onto the PATH as the README says, with only the system's Node.js
// on the PATH (which may be too old: the shim then takes the supported one). Each example states
// its exit code in a `# exit N` comment, which is what the test expects.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../../src/dev/control-plane.ts';

/** Each `attestor verify` command of the README's Usage examples, continuation lines joined, with its stated exit code. */
function readmeVerifyExamples(readme: string): Array<{ command: string; exit: number }> {
  const start = readme.indexOf('Examples on the real public evidence');
  assert.ok(start >= 0, 'the README has the examples paragraph');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start));
  assert.ok(block, 'the examples are in a sh block');
  const examples: Array<{ command: string; exit: number }> = [];
  const lines = block[1]!.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.startsWith('attestor verify ')) continue;
    let command = lines[i]!;
    while (command.trimEnd().endsWith('\\') && i + 1 < lines.length) command += `\n${lines[++i]!}`;
    const exit = /# exit (\d)\b/.exec(command);
    assert.ok(exit, `the example states its exit code: ${command}`);
    examples.push({ command, exit: Number(exit[1]) });
  }
  return examples;
}

describe('README examples', function () {
  this.timeout(300_000);
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'attestor-readme-'));
    // As the README says: a link to hack/attestor in a directory on the PATH.
    mkdirSync(join(dir, 'bin'));
    symlinkSync(join(projectRoot, 'hack/attestor'), join(dir, 'bin/attestor'));
    // A folder with a copy of test/vectors, which is not the checkout.
    mkdirSync(join(dir, 'work/test'), { recursive: true });
    symlinkSync(join(projectRoot, 'test/vectors'), join(dir, 'work/test/vectors'));
    // A user's shell: the system's PATH and a home of its own, but the machine's settings kept
    // (e.g. NODE_EXTRA_CA_CERTS, which npm needs where a TLS proxy stands between it and the
    // registry, when the shim installs Node.js into .tools/); npm's own variables left out.
    env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
    Object.assign(env, { PATH: `${join(dir, 'bin')}:/usr/local/bin:/usr/bin:/bin`, HOME: dir });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every `attestor verify` example of the README from another folder with the exit code it states', () => {
    const examples = readmeVerifyExamples(readFileSync(join(projectRoot, 'README.md'), 'utf8'));
    assert.ok(examples.length >= 5, `${examples.length} examples`);
    assert.deepEqual([...new Set(examples.map((e) => e.exit))].sort(), [0, 1, 2], 'the examples show each exit code');
    for (const { command, exit } of examples) {
      const r = spawnSync('bash', ['-c', command], { cwd: join(dir, 'work'), env, encoding: 'utf8' });
      assert.equal(r.status, exit, `${command}\n${r.stdout}${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    }
  });

  it('hack/attestor does not change directory: a relative path means the caller’s folder', () => {
    const here = join(dir, 'elsewhere');
    mkdirSync(here);
    copyFileSync(join(projectRoot, 'test/vectors/snp/milan-gosevguest/report.bin'), join(here, 'only-here-report.bin'));
    copyFileSync(join(projectRoot, 'test/vectors/snp/milan-gosevguest/vcek.der'), join(here, 'only-here-vcek.der'));
    const r = spawnSync(
      'attestor',
      [
        'verify',
        'snp',
        '--report',
        'only-here-report.bin',
        '--vcek',
        './only-here-vcek.der',
        '--at',
        '2025-06-01T00:00:00Z',
        '--allow-debug',
      ],
      { cwd: here, env, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^VERIFIED\n/);
  });
});
