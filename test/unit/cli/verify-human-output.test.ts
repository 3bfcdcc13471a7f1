// What `attestor verify snp|tdx|gpu` print without --json, on the real vectors: the verdict, what
// was checked, what was not and why (a flag relaxed it, or input such as collateral, RIMs or a CRL
// was not given), and the key claims; --json keeps every claim.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printCoordinatorVerification } from '../../../src/cli/verify/coordinator.ts';
import { runVerifyGpu } from '../../../src/cli/verify/gpu.ts';
import { runVerifySnp } from '../../../src/cli/verify/snp.ts';
import { runVerifyTdx } from '../../../src/cli/verify/tdx.ts';
import { vectorPath } from '../../vectors/paths.ts';

function capture(): { out: string; write: (s: string) => void } {
  const c = {
    out: '',
    write: (s: string): void => {
      c.out += s;
    },
  };
  return c;
}

/** The lines of one section (`checked:`, `not checked:`, `claims:`), without their indentation. */
function section(text: string, name: string): string[] {
  const m = new RegExp(`^${name}:\\n((?:  .*\\n)*)`, 'm').exec(text);
  return m
    ? m[1]!
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.trim())
    : [];
}

const NONCE = '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';

describe('attestor verify: human output', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'attestor-human-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('snp: says the signature, chain and policy rules were checked, the measurement and CRL not, and shows the key claims instead of every claim', () => {
    const o = capture();
    const code = runVerifySnp(
      {
        report: vectorPath('snp/milan-gosevguest/report.bin'),
        vcek: vectorPath('snp/milan-gosevguest/vcek.der'),
        at: '2025-06-01T00:00:00Z',
        allowDebug: true,
      },
      o.write,
      o.write,
    );
    assert.equal(code, 0, o.out);
    assert.match(o.out, /^VERIFIED\n/);
    assert.ok(
      section(o.out, 'checked').some((l) => /VCEK chain to AMD's pinned Milan roots/.test(l)),
      o.out,
    );
    const notChecked = section(o.out, 'not checked');
    assert.ok(
      notChecked.some((l) => /^measurement, HOST_DATA.*only a Manifest/.test(l)),
      o.out,
    );
    assert.ok(
      notChecked.some((l) => /no --crl given/.test(l)),
      o.out,
    );
    assert.ok(
      notChecked.some((l) => /DEBUG .*--allow-debug/.test(l)),
      o.out,
    );
    const claims = section(o.out, 'claims');
    assert.ok(
      claims.some((l) => /^measurement +b07af962/.test(l)),
      o.out,
    );
    assert.ok(
      claims.some((l) => /^reported TCB +bl 2 tee 0 snp 5 ucode 68 \(4405000000000002\)/.test(l)),
      o.out,
    );
    assert.doesNotMatch(o.out, /[{}"]/, 'no JSON without --json');
    assert.ok(o.out.split('\n').length < 30, 'a few lines');
  });

  it('tdx: without collateral, the TCB status is listed as not evaluated; with it, as checked with its status', () => {
    const quote = vectorPath('tdx/spr-v4/quote.dat');
    const bare = capture();
    assert.equal(runVerifyTdx({ quote, allowMissingCollateral: true }, bare.write, bare.write), 0, bare.out);
    assert.ok(
      section(bare.out, 'not checked').some((l) =>
        /^TCB status, QE identity and revocation: .*missing: TCB info, QE identity, PCK CRL, root CA CRL.*--allow-missing-collateral/.test(
          l,
        ),
      ),
      bare.out,
    );
    assert.ok(
      section(bare.out, 'claims').some((l) => /^MRTD +6363b804/.test(l)),
      bare.out,
    );

    const collateral = join(dir, 'collateral');
    mkdirSync(collateral);
    for (const name of ['sample_tcbInfo_response', 'sample_qeIdentity_response', 'pckcrl', 'rootcrl.der'])
      symlinkSync(vectorPath(`tdx/collateral/${name}`), join(collateral, name));
    symlinkSync(vectorPath('tdx/tcbinfo-issuer-chain.pem'), join(collateral, 'tcbinfo-issuer-chain.pem'));
    const full = capture();
    runVerifyTdx(
      { quote, collateral, at: '2023-06-20T00:00:00Z', allowTcbStatus: 'OutOfDate,SWHardeningNeeded' },
      full.write,
      full.write,
    );
    assert.ok(
      section(full.out, 'checked').some((l) => /^Intel collateral signed and current; TCB status accepted/.test(l)),
      full.out,
    );
    assert.ok(
      section(full.out, 'claims').some((l) => /^TCB status +\w+/.test(l)),
      full.out,
    );
    assert.ok(!section(full.out, 'not checked').some((l) => /^TCB status/.test(l)), full.out);
  });

  it('gpu: OCSP and RIMs relaxed by flags are listed as not checked, with the flag that relaxed them', async () => {
    const o = capture();
    const code = await runVerifyGpu(
      {
        report: vectorPath('nvidia/hopper-550/report.hex'),
        certs: vectorPath('nvidia/hopper-550/certs.pem'),
        nonce: NONCE,
        at: '2025-01-01T00:00:00Z',
        allowMissingOcsp: true,
        allowMissingRims: true,
      },
      o.write,
      o.write,
    );
    assert.equal(code, 0, o.out);
    assert.ok(
      section(o.out, 'checked').some((l) => /^FWID equal/.test(l)),
      o.out,
    );
    const notChecked = section(o.out, 'not checked');
    assert.ok(
      notChecked.some((l) => /^revocation of 3 certificate\(s\).*--allow-missing-ocsp/.test(l)),
      o.out,
    );
    assert.ok(
      notChecked.some((l) => /^measurements: not evaluated .*--allow-missing-rims/.test(l)),
      o.out,
    );
    assert.ok(
      section(o.out, 'claims').some((l) => /^driver +550\.90\.07/.test(l)),
      o.out,
    );
  });
});

describe('attestor verify coordinator: human output', () => {
  const hash = 'ab'.repeat(32);
  const verified = {
    verified: true,
    reasons: [],
    pinnedHash: hash,
    manifestHash: hash,
    history: [{ manifestHash: hash, transition: 'cd'.repeat(32) }],
    rootCA: '-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n',
    meshCA: '-----BEGIN CERTIFICATE-----\nmesh\n-----END CERTIFICATE-----\n',
    relaxations: [{ path: 'spec.development.acceptSimulatedEvidence', message: 'simulated evidence is accepted' }],
    simulated: true,
    cvm: { platform: 'snp' as const, verified: true, measurement: 'ef'.repeat(48), reasons: [], details: {} },
  };

  it('says what was checked, what the pinned Manifest relaxes (simulated evidence included), and the claims', () => {
    const o = capture();
    printCoordinatorVerification(verified, false, o.write);
    assert.match(o.out, new RegExp(`^VERIFIED: the Coordinator runs Manifest ${hash}\\n`));
    assert.ok(
      section(o.out, 'checked').some((l) => /^its SEV-SNP evidence: the simulated roots you passed/.test(l)),
      o.out,
    );
    const relaxed = section(o.out, 'not checked \\(relaxed by the pinned Manifest\\)');
    assert.ok(
      relaxed.some((l) => /^hardware evidence: SIMULATED/.test(l)),
      o.out,
    );
    assert.ok(
      relaxed.some((l) => /^spec\.development\.acceptSimulatedEvidence: /.test(l)),
      o.out,
    );
    assert.ok(
      section(o.out, 'claims').some((l) => l === `measurement  ${'ef'.repeat(48)}`),
      o.out,
    );
  });

  it('keeps the JSON of --json', () => {
    const o = capture();
    printCoordinatorVerification(verified, true, o.write);
    const body = JSON.parse(o.out) as { verified: boolean; manifestHash: string; simulated: boolean };
    assert.deepEqual([body.verified, body.manifestHash, body.simulated], [true, hash, true]);
  });
});
