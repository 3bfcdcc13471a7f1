import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runVerifyTdx, tdxCommand } from '../../../src/cli/verify/tdx.ts';
import { loadTdxCollateralDir } from '../../../src/collateral/directories.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';
import { COLLATERAL_DIR, COLLATERAL_TIME, fixturePath, SPR_QUOTE, vectorBytes, vectorPath } from './testdata.ts';

interface Run {
  code: number;
  out: string;
  err: string;
}

function run(opts: Parameters<typeof runVerifyTdx>[0]): Run {
  let out = '';
  let err = '';
  const code = runVerifyTdx(
    opts,
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}

const json = (r: Run): { verified: boolean; reasons: { check: string }[]; claims: Record<string, unknown> } =>
  JSON.parse(r.out);

describe('attestor verify tdx (real quote)', () => {
  let dir: string;
  let collateral: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'attestor-tdx-cli-'));
    // The documented layout, built from the vector samples (linked, not copied) and the issuer chain fixture.
    collateral = join(dir, 'collateral');
    mkdirSync(collateral);
    for (const name of ['sample_tcbInfo_response', 'sample_qeIdentity_response', 'pckcrl', 'rootcrl.der'])
      symlinkSync(vectorPath(COLLATERAL_DIR + name), join(collateral, name));
    copyFileSync(fixturePath('tcbinfo-issuer-chain.pem'), join(collateral, 'tcbinfo-issuer-chain.pem'));
    writeFileSync(join(dir, 'quote.hex'), Buffer.from(vectorBytes(SPR_QUOTE)).toString('hex') + '\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('attestor verify tdx without collateral exits 1 naming the missing collateral; with --allow-missing-collateral exits 0 and says the TCB was not evaluated', () => {
    const attestor = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [
          join(projectRoot, 'src/cli/main.ts'),
          'verify',
          'tdx',
          '--quote',
          vectorPath(SPR_QUOTE),
          '--at',
          '2024-01-01T00:00:00Z',
          '--json',
          ...args,
        ],
        { encoding: 'utf8' },
      );
    const refused = attestor();
    assert.equal(refused.status, 1, refused.stderr);
    assert.deepEqual(JSON.parse(refused.stdout).reasons, [
      {
        check: 'tdx.collateral.missing',
        kind: 'comparison',
        message:
          "Intel collateral missing: TCB info, QE identity, PCK CRL, root CA CRL; without it nothing shows that the quoting enclave is Intel's, that the platform's TCB is current or that the PCK is not revoked",
      },
    ]);
    const allowed = attestor('--allow-missing-collateral');
    assert.equal(allowed.status, 0, allowed.stdout + allowed.stderr);
    const v = JSON.parse(allowed.stdout);
    assert.equal(v.verified, true);
    assert.equal(v.claims.tcbEvaluated, false);
    assert.equal(v.claims.tcbStatus, undefined);
    assert.deepEqual(v.claims.missingCollateral, ['TCB info', 'QE identity', 'PCK CRL', 'root CA CRL']);
  });

  it('exit 0 for the authentic quote, raw or hex, with claims in --json', () => {
    for (const quote of [vectorPath(SPR_QUOTE), join(dir, 'quote.hex')]) {
      const r = run({ quote, at: '2024-01-01T00:00:00Z', allowMissingCollateral: true, json: true });
      assert.equal(r.code, 0, r.out + r.err);
      const v = json(r);
      assert.equal(v.verified, true);
      assert.equal(v.claims.fmspc, '50806f000000');
      assert.equal(v.claims.version, 4);
    }
  });

  it('text output says VERIFIED and lists claims', () => {
    const r = run({ quote: vectorPath(SPR_QUOTE), at: '2024-01-01T00:00:00Z', allowMissingCollateral: true });
    assert.equal(r.code, 0);
    assert.match(r.out, /^VERIFIED\n/);
    assert.match(r.out, /^ {2}MRTD +6363b804/m);
  });

  it('with --collateral: reports the TCB status and refuses NotSupported unless allowed', () => {
    const refused = run({ quote: vectorPath(SPR_QUOTE), collateral, at: COLLATERAL_TIME.toISOString(), json: true });
    assert.equal(refused.code, 1);
    assert.deepEqual(
      json(refused).reasons.map((r) => r.check),
      ['tdx.tcb-status'],
    );
    assert.equal(json(refused).claims.tcbStatus, 'NotSupported');
    const allowed = run({
      quote: vectorPath(SPR_QUOTE),
      collateral,
      at: COLLATERAL_TIME.toISOString(),
      allowTcbStatus: 'NotSupported',
      json: true,
    });
    assert.equal(allowed.code, 0, allowed.out);
    assert.equal(json(allowed).claims.qeTcbStatus, 'UpToDate');
    assert.equal(json(allowed).claims.tcbEvaluated, true);
  });

  it('with --collateral after it expired: refused with the validity checks', () => {
    const r = run({
      quote: vectorPath(SPR_QUOTE),
      collateral,
      at: '2023-08-01T00:00:00Z',
      allowTcbStatus: 'NotSupported',
      json: true,
    });
    assert.equal(r.code, 1);
    assert.deepEqual(
      json(r)
        .reasons.map((x) => x.check)
        .sort(),
      ['tdx.collateral.pck-crl.validity', 'tdx.collateral.qe-identity.validity', 'tdx.collateral.tcb-info.validity'],
    );
  });

  it('the vector collateral folder as it is (no issuer chain): TCB info and QE identity signatures cannot be checked', () => {
    const c = loadTdxCollateralDir(vectorPath(COLLATERAL_DIR));
    assert.ok(c.tcbInfo && c.qeIdentity && c.pckCrl && c.rootCrl);
    assert.equal(c.tcbInfoIssuerChain, undefined);
    const r = run({
      quote: vectorPath(SPR_QUOTE),
      collateral: vectorPath(COLLATERAL_DIR),
      at: COLLATERAL_TIME.toISOString(),
      allowTcbStatus: 'NotSupported',
      json: true,
    });
    assert.equal(r.code, 1);
    assert.deepEqual(
      json(r)
        .reasons.map((x) => x.check)
        .sort(),
      ['tdx.collateral.qe-identity.signature', 'tdx.collateral.tcb-info.signature'],
    );
  });

  it('--report-data and --reference-values appraise the TD', () => {
    const rd = run({
      quote: vectorPath(SPR_QUOTE),
      at: '2024-01-01T00:00:00Z',
      allowMissingCollateral: true,
      reportData: '00',
      json: true,
    });
    assert.equal(rd.code, 1);
    assert.deepEqual(
      json(rd).reasons.map((x) => x.check),
      ['tdx.report-data'],
    );
    const rv = join(dir, 'rv.json');
    writeFileSync(rv, JSON.stringify({ tdx: [{ name: 'wrong', mrTd: ['00'.repeat(48)], xfam: 'e71a060000000000' }] }));
    const r = run({
      quote: vectorPath(SPR_QUOTE),
      at: '2024-01-01T00:00:00Z',
      allowMissingCollateral: true,
      referenceValues: rv,
      json: true,
    });
    assert.equal(r.code, 1);
    assert.deepEqual(
      json(r).reasons.map((x) => x.check),
      ['tdx.mrtd'],
    );
  });

  it('--reference-values cannot relax collateral: only --allow-missing-collateral does', () => {
    const rv = join(dir, 'rv-lenient.json');
    const mrTd = '6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb';
    writeFileSync(rv, JSON.stringify([{ mrTd: [mrTd], allowMissingCollateral: true }]));
    const strict = run({ quote: vectorPath(SPR_QUOTE), at: '2024-01-01T00:00:00Z', referenceValues: rv, json: true });
    assert.equal(strict.code, 1);
    assert.deepEqual(
      json(strict).reasons.map((x) => x.check),
      ['tdx.collateral.missing'],
    );
    const relaxed = run({
      quote: vectorPath(SPR_QUOTE),
      at: '2024-01-01T00:00:00Z',
      referenceValues: rv,
      allowMissingCollateral: true,
      json: true,
    });
    assert.equal(relaxed.code, 0, relaxed.out);
    assert.equal(json(relaxed).claims.tcbEvaluated, false);
  });

  it('refuses DEBUG and TDATTRIBUTES/XFAM outside the fixed masks by default; --allow-debug relaxes DEBUG alone', () => {
    // The real quote with bits flipped: the signature no longer verifies either, but the verdict
    // lists every problem, so what the defaults refuse is visible.
    const TD_ATTRIBUTES = 48 + 16 + 48 + 48 + 8;
    const XFAM = TD_ATTRIBUTES + 8;
    let n = 0;
    const mutated = (edit: (q: Uint8Array) => void): string => {
      const q = Uint8Array.from(vectorBytes(SPR_QUOTE));
      edit(q);
      const path = join(dir, `mutated-${n++}.dat`);
      writeFileSync(path, q);
      return path;
    };
    const checks = (quote: string, allowDebug = false): string[] =>
      json(
        run({ quote, at: '2024-01-01T00:00:00Z', allowMissingCollateral: true, allowDebug, json: true }),
      ).reasons.map((x) => x.check);
    const debug = mutated((q) => (q[TD_ATTRIBUTES] = (q[TD_ATTRIBUTES] as number) | 0x01));
    assert.deepEqual(checks(debug), ['tdx.quote-signature', 'tdx.td-attributes.debug']);
    assert.deepEqual(checks(debug, true), ['tdx.quote-signature']);
    const migratable = mutated((q) => (q[TD_ATTRIBUTES + 3] = (q[TD_ATTRIBUTES + 3] as number) | 0x20));
    assert.deepEqual(checks(migratable, true), ['tdx.quote-signature', 'tdx.td-attributes.fixed-bits']);
    const allOnes = mutated((q) => q.fill(0xff, XFAM, XFAM + 8));
    assert.deepEqual(checks(allOnes, true), ['tdx.quote-signature', 'tdx.xfam.fixed-bits']);
  });

  it('exit 1 for a forged quote', () => {
    const forged = vectorBytes(SPR_QUOTE);
    forged[200] = (forged[200] as number) ^ 0xff;
    const path = join(dir, 'forged.dat');
    writeFileSync(path, forged);
    const r = run({ quote: path, at: '2024-01-01T00:00:00Z' });
    assert.equal(r.code, 1);
    assert.match(r.out, /^REFUSED\n {2}- \[tdx\.quote-signature\]/);
  });

  it('exit 2 for unusable input', () => {
    const cases: Parameters<typeof runVerifyTdx>[0][] = [
      { quote: join(dir, 'missing.dat') },
      { quote: vectorPath(SPR_QUOTE), at: 'yesterday' },
      { quote: vectorPath(SPR_QUOTE), allowTcbStatus: 'Fine' },
      { quote: vectorPath(SPR_QUOTE), reportData: 'xyz' },
      { quote: vectorPath(SPR_QUOTE), collateral: join(dir, 'no-such-dir') },
      { quote: vectorPath(SPR_QUOTE), collateral: join(dir, 'collateral-empty') },
      { quote: vectorPath(SPR_QUOTE), referenceValues: join(dir, 'quote.hex') },
    ];
    mkdirSync(join(dir, 'collateral-empty'));
    for (const opts of cases) {
      const r = run(opts);
      assert.equal(r.code, 2, JSON.stringify(opts));
      assert.match(r.err, /^attestor verify tdx: /);
    }
  });

  it('tdxCommand() wires the flags to the same function and sets process.exitCode without exiting', async () => {
    const cmd = tdxCommand();
    assert.equal(cmd.name(), 'tdx');
    assert.deepEqual(cmd.options.map((o) => o.long).sort(), [
      '--allow-debug',
      '--allow-missing-collateral',
      '--allow-tcb-status',
      '--at',
      '--collateral',
      '--json',
      '--quote',
      '--reference-values',
      '--report-data',
    ]);
    const write = process.stdout.write;
    let out = '';
    process.stdout.write = ((s: string) => {
      out += s;
      return true;
    }) as typeof process.stdout.write;
    try {
      await cmd.parseAsync(
        ['--quote', vectorPath(SPR_QUOTE), '--at', '2030-01-01T00:00:00Z', '--allow-missing-collateral', '--json'],
        { from: 'user' },
      );
    } finally {
      process.stdout.write = write;
    }
    assert.equal(process.exitCode, 1);
    process.exitCode = 0;
    assert.deepEqual(
      JSON.parse(out).reasons.map((r: { check: string }) => r.check),
      ['tdx.pck-chain.validity'],
    );
  });
});
