/** `attestor verify snp` on the real vectors: exit codes, text and JSON output. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceValueReasons } from '../../../src/attestation/snp/appraise.ts';
import { snpRuleReasons } from '../../../src/attestation/snp/rules.ts';
import { verifySnp } from '../../../src/attestation/snp/verify.ts';
import { runVerifySnp, type SnpCliOptions, snpCliRules, snpCommand } from '../../../src/cli/verify/snp.ts';
import { hex, AT as SIM_AT, simulator } from '../../unit/attestation/snp/fixture.ts';
import { gosevguest, negativeChipId, trustee, vectorPath } from './testdata.ts';

const AT = '2025-06-01T00:00:00Z';

function run(opts: SnpCliOptions): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = runVerifySnp(
    opts,
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}

describe('attestor verify snp', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'attestor-snp-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses the go-sev-guest report (DEBUG=1 in its guest policy) with exit 1 naming the debug bit; with --allow-debug it exits 0', () => {
    const v = gosevguest();
    const opts = { report: vectorPath('snp/milan-gosevguest/report.bin'), vcek: v.vcekFile, at: AT };
    const refused = run(opts);
    assert.equal(refused.code, 1, refused.out + refused.err);
    assert.match(refused.out, /^REFUSED\n {2}- \[snp\.policy\.debug\] guest policy allows debugging \(DEBUG, bit 19\)/);
    assert.equal(refused.out.match(/^ {2}- \[/gm)?.length, 1, refused.out);
    const allowed = run({ ...opts, allowDebug: true });
    assert.equal(allowed.code, 0, allowed.out + allowed.err);
    assert.match(allowed.out, /^VERIFIED\n/);
    assert.match(allowed.out, /^ {2}measurement +b07af962/m);
    assert.match(allowed.out, /^not checked:\n[\s\S]*DEBUG in the guest policy: accepted by --allow-debug/m);
  });

  it('prints one JSON object with --json', () => {
    const r = run({
      report: vectorPath('snp/milan-gosevguest/report.bin'),
      vcek: gosevguest().vcekFile,
      at: AT,
      json: true,
      allowDebug: true,
    });
    const json = JSON.parse(r.out) as {
      verified: boolean;
      reasons: unknown[];
      claims: { product: string; reportedTcb: { snp: number } };
    };
    assert.equal(json.verified, true);
    assert.deepEqual(json.reasons, []);
    assert.equal(json.claims.product, 'Milan');
    assert.equal(json.claims.reportedTcb.snp, 5);
  });

  it('refuses provisional firmware (exit 1) unless --allow-provisional', () => {
    const opts = { report: vectorPath('snp/milan-trustee/report.bin'), vcek: trustee().vcekFile, at: AT, json: true };
    const refused = run(opts);
    assert.equal(refused.code, 1);
    assert.deepEqual(
      (JSON.parse(refused.out) as { reasons: Array<{ check: string }> }).reasons.map((x) => x.check),
      ['snp.firmware.provisional'],
    );
    assert.equal(run({ ...opts, allowProvisional: true }).code, 0);
  });

  it('exits 1 with the reasons for the negative vector', () => {
    const r = run({ report: vectorPath('snp/negative-chipid/report.bin'), vcek: negativeChipId().vcekFile, at: AT });
    assert.equal(r.code, 1);
    assert.match(r.out, /^REFUSED\n/);
    assert.match(r.out, /\[snp\.signature\]/);
    assert.match(r.out, /\[snp\.chip-id\]/);
  });

  it('takes a hex report and a --certs PEM bundle', () => {
    const v = gosevguest();
    const hexReport = join(dir, 'report.hex');
    writeFileSync(
      hexReport,
      Buffer.from(v.report)
        .toString('hex')
        .replace(/(.{64})/g, '$1\n'),
    );
    const bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, new X509Certificate(v.vcek).toString() + '\n');
    assert.equal(run({ report: hexReport, certs: bundle, at: AT, allowDebug: true }).code, 0);
  });

  it('exits 2 for unusable input: missing file, both or neither certificate flag, bad --at, bad --vmpl', () => {
    const report = vectorPath('snp/milan-gosevguest/report.bin');
    const vcek = gosevguest().vcekFile;
    for (const opts of [
      { report: join(dir, 'missing.bin'), vcek, at: AT },
      { report, vcek, certs: vcek, at: AT },
      { report, at: AT },
      { report, vcek, at: 'yesterday' },
      { report, vcek: join(dir, 'missing.der'), at: AT },
      { report, vcek, at: AT, vmpl: '4' },
      { report, vcek, at: AT, vmpl: 'one' },
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
    assert.deepEqual(
      (JSON.parse(r.out) as { reasons: Array<{ check: string }> }).reasons.map((x) => x.check),
      ['snp.report.length'],
    );
  });

  it('works as a commander subcommand and sets process.exitCode without exiting', async () => {
    const write = process.stdout.write;
    const saved = process.exitCode;
    let out = '';
    process.stdout.write = ((s: string) => {
      out += s;
      return true;
    }) as typeof process.stdout.write;
    try {
      await snpCommand().parseAsync(
        [
          '--report',
          vectorPath('snp/negative-chipid/report.bin'),
          '--vcek',
          negativeChipId().vcekFile,
          '--at',
          AT,
          '--json',
        ],
        { from: 'user' },
      );
      assert.equal(process.exitCode, 1);
      await snpCommand().parseAsync(
        ['--report', vectorPath('snp/milan-gosevguest/report.bin'), '--vcek', gosevguest().vcekFile, '--at', AT],
        { from: 'user' },
      );
      assert.equal(process.exitCode, 1);
      await snpCommand().parseAsync(
        [
          '--report',
          vectorPath('snp/milan-gosevguest/report.bin'),
          '--vcek',
          gosevguest().vcekFile,
          '--at',
          AT,
          '--allow-debug',
        ],
        { from: 'user' },
      );
      assert.equal(process.exitCode, 0);
    } finally {
      process.stdout.write = write;
      process.exitCode = saved;
    }
    assert.match(out, /"verified": false/);
    assert.match(out, /VERIFIED\n/);
  });

  it('has the defaults of a Manifest entry with no optional fields, and each flag relaxes only its rule', async () => {
    // Simulated evidence (the CLI trusts only AMD's roots, so the rules are compared directly).
    const sim = await simulator({ rsaModulusLength: 2048 });
    const claims = verifySnp(
      {
        report: sim.report({
          policy: { abiMajor: 1, abiMinor: 51, smt: true, debug: true, migrateMA: true, cxlAllowed: true },
          vmpl: 2,
          currentFirmware: { major: 1, minor: 55, build: 22 },
          committedFirmware: { major: 1, minor: 55, build: 21 },
        }),
        certificates: sim.endorsementPem,
      },
      { at: SIM_AT, trust: sim.roots },
    ).claims!;
    const checks = (reasons: readonly { check: string }[]): string[] => reasons.map((r) => r.check).sort();
    const all = ['snp.firmware.provisional', 'snp.policy.cxl', 'snp.policy.debug', 'snp.policy.migrate-ma', 'snp.vmpl'];
    const cli = (opts: Partial<SnpCliOptions>) => checks(snpRuleReasons(claims, snpCliRules({ report: '-', ...opts })));
    const manifestEntry = checks(
      referenceValueReasons(claims, { measurements: [hex(sim.defaultMeasurement)], minimumTCB: sim.tcb }),
    );
    assert.deepEqual(cli({}), all);
    assert.deepEqual(manifestEntry, all);
    const without = (check: string) => all.filter((c) => c !== check);
    assert.deepEqual(cli({ allowDebug: true }), without('snp.policy.debug'));
    assert.deepEqual(cli({ allowMigrateMa: true }), without('snp.policy.migrate-ma'));
    assert.deepEqual(cli({ allowCxl: true }), without('snp.policy.cxl'));
    assert.deepEqual(cli({ allowProvisional: true }), without('snp.firmware.provisional'));
    assert.deepEqual(cli({ vmpl: '1' }), all);
    assert.deepEqual(cli({ vmpl: '2' }), without('snp.vmpl'));
    assert.deepEqual(
      cli({ allowDebug: true, allowMigrateMa: true, allowCxl: true, allowProvisional: true, vmpl: '3' }),
      [],
    );
  });

  it('takes every relaxing flag on the command line', async () => {
    const saved = process.exitCode;
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      const cmd = snpCommand();
      await cmd.parseAsync(
        [
          '--report',
          vectorPath('snp/milan-trustee/report.bin'),
          '--vcek',
          trustee().vcekFile,
          '--at',
          AT,
          '--allow-debug',
          '--allow-migrate-ma',
          '--allow-cxl',
          '--allow-provisional',
          '--vmpl',
          '3',
        ],
        { from: 'user' },
      );
      assert.equal(process.exitCode, 0);
      assert.deepEqual(snpCliRules(cmd.opts() as SnpCliOptions), {
        allowDebug: true,
        allowMigrationAgent: true,
        allowCXL: true,
        allowProvisionalFirmware: true,
        maximumVMPL: 3,
      });
    } finally {
      process.stdout.write = write;
      process.exitCode = saved;
    }
  });
});
