/** `attestor verify snp` on the real vectors: exit codes, text and JSON output. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runVerifySnp, snpCommand, type SnpCliOptions } from '../../../src/cli/verify/snp.ts';
import { gosevguest, negativeChipId, testdataPath, trustee } from './testdata.ts';

const AT = '2025-06-01T00:00:00Z';

function run(opts: SnpCliOptions): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = runVerifySnp(opts, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

describe('attestor verify snp', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'attestor-snp-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and prints VERIFIED for the go-sev-guest report and VCEK', () => {
    const v = gosevguest();
    const r = run({ report: testdataPath('snp/milan-gosevguest/report.bin'), vcek: v.vcekFile, at: AT });
    assert.equal(r.code, 0, r.out + r.err);
    assert.match(r.out, /^VERIFIED\n/);
    assert.match(r.out, /"measurement": "b07af962/);
  });

  it('prints one JSON object with --json', () => {
    const r = run({ report: testdataPath('snp/milan-gosevguest/report.bin'), vcek: gosevguest().vcekFile, at: AT, json: true });
    const json = JSON.parse(r.out) as { verified: boolean; reasons: unknown[]; claims: { product: string; reportedTcb: { snp: number } } };
    assert.equal(json.verified, true);
    assert.deepEqual(json.reasons, []);
    assert.equal(json.claims.product, 'Milan');
    assert.equal(json.claims.reportedTcb.snp, 5);
  });

  it('refuses provisional firmware (exit 1) unless --allow-provisional', () => {
    const opts = { report: testdataPath('snp/milan-trustee/report.bin'), vcek: trustee().vcekFile, at: AT, json: true };
    const refused = run(opts);
    assert.equal(refused.code, 1);
    assert.deepEqual((JSON.parse(refused.out) as { reasons: Array<{ check: string }> }).reasons.map((x) => x.check), ['snp.firmware.provisional']);
    assert.equal(run({ ...opts, allowProvisional: true }).code, 0);
  });

  it('exits 1 with the reasons for the negative vector', () => {
    const r = run({ report: testdataPath('snp/negative-chipid/report.bin'), vcek: negativeChipId().vcekFile, at: AT });
    assert.equal(r.code, 1);
    assert.match(r.out, /^REFUSED\n/);
    assert.match(r.out, /\[snp\.signature\]/);
    assert.match(r.out, /\[snp\.chip-id\]/);
  });

  it('takes a hex report and a --certs PEM bundle', () => {
    const v = gosevguest();
    const hexReport = join(dir, 'report.hex');
    writeFileSync(hexReport, Buffer.from(v.report).toString('hex').replace(/(.{64})/g, '$1\n'));
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, new X509Certificate(v.vcek).toString() + '\n');
    assert.equal(run({ report: hexReport, certs: bundle, at: AT }).code, 0);
  });

  it('exits 2 for unusable input: missing file, both or neither certificate flag, bad --at', () => {
    const report = testdataPath('snp/milan-gosevguest/report.bin');
    const vcek = gosevguest().vcekFile;
    for (const opts of [
      { report: join(dir, 'missing.bin'), vcek, at: AT },
      { report, vcek, certs: vcek, at: AT },
      { report, at: AT },
      { report, vcek, at: 'yesterday' },
      { report, vcek: join(dir, 'missing.der'), at: AT },
    ]) {
      const r = run(opts);
      assert.equal(r.code, 2, JSON.stringify(opts));
      assert.match(r.err, /^attestor verify snp: /);
      assert.equal(r.out, '');
    }
  });

  it('refuses (exit 1, not 2) a file that is readable but not a report', () => {
    const r = run({ report: gosevguest().vcekFile, vcek: gosevguest().vcekFile, at: AT, json: true });
    assert.equal(r.code, 1);
    assert.deepEqual((JSON.parse(r.out) as { reasons: Array<{ check: string }> }).reasons.map((x) => x.check), ['snp.report.length']);
  });

  it('works as a commander subcommand and sets process.exitCode without exiting', async () => {
    const write = process.stdout.write;
    const saved = process.exitCode;
    let out = '';
    process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
    try {
      await snpCommand().parseAsync(['--report', testdataPath('snp/negative-chipid/report.bin'), '--vcek', negativeChipId().vcekFile, '--at', AT, '--json'], { from: 'user' });
      assert.equal(process.exitCode, 1);
      await snpCommand().parseAsync(['--report', testdataPath('snp/milan-gosevguest/report.bin'), '--vcek', gosevguest().vcekFile, '--at', AT], { from: 'user' });
      assert.equal(process.exitCode, 0);
    } finally {
      process.stdout.write = write;
      process.exitCode = saved;
    }
    assert.match(out, /"verified": false/);
    assert.match(out, /VERIFIED\n/);
  });
});
