/** Real SEV-SNP reports from public projects verify (or are refused) as testdata/README.md says. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { verifySnpReport } from '../../../src/attestation/snp/verify.ts';
import { provisionalFirmwareReasons } from '../../../src/attestation/snp/firmware.ts';
import { gosevguest, negativeChipId, TESTDATA, trustee, VECTOR_TIME } from './testdata.ts';

const checks = (v: { reasons: readonly { check: string }[] }): string[] => v.reasons.map((r) => r.check).sort();
const askArkMilan = (): string => readFileSync(new URL('roots/ask_ark_milan.pem', TESTDATA), 'utf8');

describe('snp vectors (../shared/testdata/snp)', () => {
  it('milan-gosevguest: authentic; Milan, v2, VCEK, REPORT_DATA 0102030405..., TCB bl=2 tee=0 snp=5 ucode=68', () => {
    const v = gosevguest();
    const verdict = verifySnpReport({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME });
    assert.deepEqual(verdict.reasons, []);
    assert.equal(verdict.verified, true);
    const c = verdict.claims!;
    assert.equal(c.product, 'Milan');
    assert.equal(c.version, 2);
    assert.equal(c.signingKey, 'vcek');
    assert.ok(c.reportData.startsWith('0102030405'));
    assert.equal(c.reportData, '0102030405'.padEnd(128, '0'));
    for (const tcb of [c.reportedTcb, c.currentTcb, c.committedTcb, c.launchTcb, c.certificate!.tcb]) {
      assert.deepEqual({ bl: tcb.bootloader, tee: tcb.tee, snp: tcb.snp, ucode: tcb.microcode }, { bl: 2, tee: 0, snp: 5, ucode: 68 });
    }
    assert.equal(c.measurement, 'b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01');
    assert.equal(c.chipId, c.certificate!.hwId);
    assert.equal(c.certificate!.productName, 'Milan-B0');
    assert.equal(c.certificate!.root, 'Milan');
    assert.equal(c.policy.debug, true);
    assert.deepEqual(c.currentFirmware, { major: 1, minor: 49, build: 3 });
    assert.deepEqual(provisionalFirmwareReasons(c), []);
  });

  it('milan-trustee: authentic; Milan, v2, VCEK (CURRENT_TCB microcode 0xce ahead of COMMITTED 0x73: provisional)', () => {
    const v = trustee();
    const verdict = verifySnpReport({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME });
    assert.deepEqual(verdict.reasons, []);
    const c = verdict.claims!;
    assert.equal(c.product, 'Milan');
    assert.equal(c.version, 2);
    assert.equal(c.signingKey, 'vcek');
    assert.equal(c.guestSvn, 4);
    assert.deepEqual(c.reportedTcb, { bootloader: 3, tee: 0, snp: 8, microcode: 115, raw: '7308000000000003' });
    assert.equal(c.currentTcb.microcode, 0xce);
    assert.deepEqual(provisionalFirmwareReasons(c).map((r) => r.check), ['snp.firmware.provisional']);
  });

  it('negative-chipid: refused, CHIP_ID differs from the VCEK hwID and the signature does not verify', () => {
    const v = negativeChipId();
    const verdict = verifySnpReport({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME });
    assert.equal(verdict.verified, false);
    assert.deepEqual(checks(verdict), ['snp.chip-id', 'snp.signature']);
  });

  it('verifies with a KDS-style bundle (VCEK + ASK + ARK), the ARK from the bundle being ignored', () => {
    const v = gosevguest();
    const pem = new X509Certificate(v.vcek).toString();
    assert.deepEqual(verifySnpReport({ report: v.report, certificates: pem + askArkMilan() }, { at: VECTOR_TIME }).reasons, []);
    // The Genoa ASK/ARK in the bundle neither helps nor hurts: the Milan ASK is pinned.
    const genoa = readFileSync(new URL('roots/ask_ark_genoa.pem', TESTDATA), 'utf8');
    assert.deepEqual(verifySnpReport({ report: v.report, certificates: pem + genoa }, { at: VECTOR_TIME }).reasons, []);
  });

  it('refuses a real report with another real VCEK: signature, chip and TCB all differ', () => {
    const a = trustee();
    const b = gosevguest();
    const verdict = verifySnpReport({ report: a.report, certificates: b.vcek }, { at: VECTOR_TIME });
    assert.deepEqual(checks(verdict), ['snp.chip-id', 'snp.signature', 'snp.tcb.certificate']);
  });

  it('checks the real chain at the given time', () => {
    const v = gosevguest();
    // VCEK valid 2022-09-24T00:55:28Z to 2029-09-24T00:55:28Z.
    const at = (iso: string) => checks(verifySnpReport({ report: v.report, certificates: v.vcek }, { at: new Date(iso) }));
    assert.deepEqual(at('2022-09-24T00:55:27Z'), ['snp.chain.validity']);
    assert.deepEqual(at('2022-09-24T00:55:28Z'), []);
    assert.deepEqual(at('2029-09-24T00:55:29Z'), ['snp.chain.validity']);
  });
});
