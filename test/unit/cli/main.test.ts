// The attestor command as users call it: every subcommand is wired, and verify works end to end
// on the real public evidence with the documented exit codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../../src/dev/control-plane.ts';

/** The command as the README's examples run it: from the repository root, on test/vectors. */
function attestor(...args: string[]) {
  const r = spawnSync(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    cwd: projectRoot,
  });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('attestor command', function () {
  this.timeout(240_000);
  it('has the operator, agent, init, dev, verify, collateral, manifest, aiworker, worker-proxy, proxy and secret-service subcommands', () => {
    const help = attestor('--help');
    assert.equal(help.code, 0);
    for (const sub of [
      'operator',
      'agent',
      'init',
      'dev',
      'verify',
      'collateral',
      'manifest',
      'aiworker',
      'worker-proxy',
      'proxy',
      'secret-service',
    ])
      assert.match(help.out, new RegExp(`^  ${sub}\\b`, 'm'), sub);
    assert.match(attestor('verify', '--help').out, /snp[\s\S]*tdx[\s\S]*gpu[\s\S]*coordinator/);
    assert.match(attestor('manifest', '--help').out, /hash[\s\S]*sign[\s\S]*owner/);
    assert.match(attestor('collateral', '--help').out, /fetch[\s\S]*check/);
  });
  it('verify coordinator: exit 2 without a pinned Manifest, with a malformed hash, and for a Coordinator nobody answers at', () => {
    const url = ['verify', 'coordinator', '--coordinator', 'https://127.0.0.1:1'];
    const none = attestor(...url);
    assert.equal(none.code, 2, none.out);
    assert.match(none.out, /exactly one of --manifest FILE and --manifest-hash HEX/);
    const malformed = attestor(...url, '--manifest-hash', 'abc');
    assert.equal(malformed.code, 2, malformed.out);
    assert.match(malformed.out, /--manifest-hash: expected 64 hex characters/);
    const unreachable = attestor(...url, '--manifest-hash', 'ab'.repeat(32));
    assert.equal(unreachable.code, 2, unreachable.out);
    assert.match(unreachable.out, /https:\/\/127\.0\.0\.1:1\/v1\/coordinator\/attest: .*ECONNREFUSED/);
  });
  it('verifies each kind of real evidence with exit 0, and refuses with exit 1', () => {
    // The go-sev-guest report's guest policy allows DEBUG: refused by default, accepted with --allow-debug.
    assert.equal(
      attestor(
        'verify',
        'snp',
        '--report',
        'test/vectors/snp/milan-gosevguest/report.bin',
        '--vcek',
        'test/vectors/snp/milan-gosevguest/vcek.der',
        '--at',
        '2025-06-01T00:00:00Z',
      ).code,
      1,
    );
    assert.equal(
      attestor(
        'verify',
        'snp',
        '--report',
        'test/vectors/snp/milan-gosevguest/report.bin',
        '--vcek',
        'test/vectors/snp/milan-gosevguest/vcek.der',
        '--at',
        '2025-06-01T00:00:00Z',
        '--allow-debug',
      ).code,
      0,
    );
    assert.equal(
      attestor('verify', 'tdx', '--quote', 'test/vectors/tdx/spr-v4/quote.dat', '--allow-missing-collateral').code,
      0,
    );
    const nonce = '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';
    // hopper-550 has no public RIMs and no OCSP answers in the vectors: exit 1 under the defaults, 0 with both relaxed.
    const hopper550 = [
      'verify',
      'gpu',
      '--report',
      'test/vectors/nvidia/hopper-550/report.hex',
      '--certs',
      'test/vectors/nvidia/hopper-550/certs.pem',
      '--nonce',
      nonce,
      '--at',
      '2025-01-01T00:00:00Z',
    ];
    assert.equal(attestor(...hopper550).code, 1);
    assert.equal(attestor(...hopper550, '--allow-missing-ocsp', '--allow-missing-rims').code, 0);
    const refused = attestor(
      'verify',
      'gpu',
      '--report',
      'test/vectors/nvidia/hopper-550/report.hex',
      '--certs',
      'test/vectors/nvidia/hopper-550/certs.pem',
      '--nonce',
      '00'.repeat(32),
      '--at',
      '2025-01-01T00:00:00Z',
      '--json',
    );
    assert.equal(refused.code, 1);
    assert.equal(JSON.parse(refused.out).verified, false);
  });
  it('exits 2 on unusable input', () => {
    assert.equal(
      attestor('verify', 'snp', '--report', 'no-such-file', '--vcek', 'test/vectors/snp/milan-gosevguest/vcek.der')
        .code,
      2,
    );
  });
  it('refuses to start the operator without TLS for the Coordinator and webhook', () => {
    // A usable kubeconfig (its server is never contacted), so that the TLS check is what refuses.
    const dir = mkdtempSync(join(tmpdir(), 'attestor-main-'));
    try {
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
      const tls = /the Coordinator API and the webhook need --tls-cert-file and --tls-key-file/;
      for (const flags of [[], ['--tls-cert-file', join(dir, 'tls.crt')], ['--tls-key-file', join(dir, 'tls.key')]]) {
        const r = attestor('operator', '--kubeconfig', kubeconfig, ...flags);
        assert.notEqual(r.code, 0, flags.join(' '));
        assert.match(r.out, tls, flags.join(' '));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
