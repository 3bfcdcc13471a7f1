// How every attestor subcommand ends when it cannot run as asked, as a user meets it: the real CLI
// in a child process. Usage errors exit 2 (refusals keep 1), one line naming the command and no
// stack trace, JSON on stdout with --json; help shows defaults as they are typed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { commandPath } from '../../../src/cli/conventions.ts';
import { attestorProgram } from '../../../src/cli/program.ts';
import { runCommand } from '../../../src/cli/run.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

function attestor(...args: string[]) {
  const r = spawnSync(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    cwd: projectRoot,
    env: { ...process.env, ATTESTOR_DEBUG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same command tree and error handling as main.ts, in this process: for checks that never reach an action. */
async function inProcess(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const program = attestorProgram();
  const toOut = (s: string): void => {
    stdout += s;
  };
  const toErr = (s: string): void => {
    stderr += s;
  };
  const capture = { writeOut: toOut, writeErr: toErr };
  const visit = (c: Command): void => {
    c.configureOutput({ ...capture, outputError: () => {} });
    for (const sub of c.commands) visit(sub);
  };
  visit(program);
  const code = await runCommand(program, ['node', 'attestor', ...args], toOut, toErr);
  return { code, stdout, stderr };
}

/** Every command that runs something (no subcommands of its own), as typed after `attestor`. */
function leafCommands(): string[][] {
  const out: string[][] = [];
  const walk = (c: Command): void => {
    const subs = c.commands.filter((s) => s.name() !== 'help');
    if (subs.length === 0) out.push(commandPath(c).split(' ').slice(1));
    for (const s of subs) walk(s);
  };
  walk(attestorProgram());
  return out;
}

/** One line on stderr that starts with the command's name, and nothing that looks like a stack. */
function assertOneLine(stderr: string, command: string): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.ok(lines[0]!.startsWith(`${command}: `), stderr);
  assert.doesNotMatch(stderr, /^\s+at /m);
}

describe('attestor usage errors', function () {
  this.timeout(240_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'attestor-usage-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('attestor verify snp --bogus-flag exits 2 (the real CLI)', () => {
    const r = attestor('verify', 'snp', '--bogus-flag');
    assert.equal(r.code, 2, r.stderr);
    assertOneLine(r.stderr, 'attestor verify snp');
  });

  it('every subcommand exits 2 with one line naming it for an unknown option', async () => {
    const leaves = leafCommands();
    assert.ok(leaves.length >= 15, `only ${leaves.length} commands found`);
    for (const words of leaves) {
      // A required option is reported first by some commands; either is a usage error.
      const r = await inProcess(...words, '--bogus-flag');
      assert.equal(r.code, 2, `${words.join(' ')}: ${r.stderr}`);
      assertOneLine(r.stderr, `attestor ${words.join(' ')}`);
      assert.match(r.stderr, /--bogus-flag|required option/);
    }
  });

  it('exits 2 for an unknown subcommand, a missing required flag and a bad flag value; 0 for help', async () => {
    const unknown = await inProcess('verify', 'sev');
    assert.equal(unknown.code, 2);
    assertOneLine(unknown.stderr, 'attestor verify');
    assert.match(unknown.stderr, /unknown command 'sev'/);
    const top = await inProcess('bogus');
    assert.equal(top.code, 2);
    assertOneLine(top.stderr, 'attestor');
    const missing = await inProcess('verify', 'tdx');
    assert.equal(missing.code, 2);
    assertOneLine(missing.stderr, 'attestor verify tdx');
    assert.match(missing.stderr, /required option '--quote <file>' not specified/);
    const badValue = await inProcess('operator', '--lease-duration', 'soon');
    assert.equal(badValue.code, 2);
    assertOneLine(badValue.stderr, 'attestor operator');
    assert.match(badValue.stderr, /expected a duration such as 15s/);
    const json = await inProcess('verify', 'snp', '--report', 'x', '--vcek', 'y', '--bogus-flag', '--json');
    assert.equal(json.code, 2);
    assert.equal(JSON.parse(json.stdout).error.command, 'attestor verify snp');
    assert.equal(json.stderr, '');
    assert.equal((await inProcess('verify', 'snp', '--help')).code, 0);
    assert.equal((await inProcess('--version')).code, 0);
  });

  it('attestor operator without TLS flags or with a bad --kubeconfig prints one line and no stack trace', () => {
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:1" } }]',
        'users: [{ name: u, user: { token: t } }]',
        'contexts: [{ name: x, context: { cluster: c, user: u } }]',
        'current-context: x',
      ].join('\n'),
    );
    const tls = attestor('operator', '--kubeconfig', kubeconfig);
    assert.equal(tls.code, 2, tls.stderr);
    assertOneLine(tls.stderr, 'attestor operator');
    assert.match(tls.stderr, /need --tls-cert-file and --tls-key-file/);

    const missing = attestor('operator', '--kubeconfig', join(dir, 'no-such-kubeconfig'));
    assert.equal(missing.code, 2, missing.stderr);
    assertOneLine(missing.stderr, 'attestor operator');
    assert.match(missing.stderr, /--kubeconfig .*no-such-kubeconfig: ENOENT/);

    const broken = join(dir, 'broken-kubeconfig');
    writeFileSync(broken, 'clusters: [\n');
    const bad = attestor('operator', '--kubeconfig', broken);
    assert.equal(bad.code, 2, bad.stderr);
    assertOneLine(bad.stderr, 'attestor operator');

    const certMissing = attestor(
      'operator',
      '--kubeconfig',
      kubeconfig,
      '--tls-cert-file',
      join(dir, 'tls.crt'),
      '--tls-key-file',
      join(dir, 'tls.key'),
      '--webhook-allow-any-client',
    );
    assert.equal(certMissing.code, 2, certMissing.stderr);
    assertOneLine(certMissing.stderr, 'attestor operator');
    assert.match(certMissing.stderr, /tls\.crt/);
  });

  it('with --json, errors come out as one JSON object on stdout', () => {
    const unreadable = attestor(
      'verify',
      'gpu',
      '--report',
      join(dir, 'none.hex'),
      '--certs',
      'x',
      '--nonce',
      '00',
      '--json',
    );
    assert.equal(unreadable.code, 2);
    const body = JSON.parse(unreadable.stdout) as { error: { command: string; exitCode: number; message: string } };
    assert.equal(body.error.command, 'attestor verify gpu');
    assert.equal(body.error.exitCode, 2);
    assert.equal(unreadable.stderr, '');
    const coordinator = attestor('verify', 'coordinator', '--coordinator', 'https://127.0.0.1:1', '--json');
    assert.equal(coordinator.code, 2);
    assert.match(
      JSON.parse(coordinator.stdout).error.message,
      /exactly one of --manifest FILE and --manifest-hash HEX/,
    );
  });

  it('help shows defaults as they are typed: addresses as host:port, durations with a unit', async () => {
    const walk = (c: Command): void => {
      for (const o of c.options) {
        const shown =
          o.defaultValueDescription ?? (o.defaultValue === undefined ? undefined : JSON.stringify(o.defaultValue));
        if (shown === undefined) continue;
        assert.doesNotMatch(shown, /[{}]|\[object/, `${commandPath(c)} ${o.flags}: ${shown}`);
        if (/<duration>/.test(o.flags)) assert.match(shown, /^\d+(ms|s|m|h)$/, `${commandPath(c)} ${o.flags}`);
      }
      for (const s of c.commands) walk(s);
    };
    walk(attestorProgram());
    const help = (await inProcess('operator', '--help')).stdout;
    assert.match(help, /\(default: 0\.0\.0\.0:8080\)/);
    assert.match(help, /--lease-duration <duration>[\s\S]*?\(default: 15s\)/);
    assert.doesNotMatch(help, /"host"/);
  });
});
