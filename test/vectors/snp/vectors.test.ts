/** Real SEV-SNP reports from public projects verify (or are refused) as testdata/README.md says. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { snpClaims } from '../../../src/attestation/snp/claims.ts';
import { provisionalFirmwareReasons } from '../../../src/attestation/snp/firmware.ts';
import { parseSnpReport } from '../../../src/attestation/snp/report.ts';
import { snpRuleReasons } from '../../../src/attestation/snp/rules.ts';
import { verifySnp } from '../../../src/attestation/snp/verify.ts';
import { gosevguest, negativeChipId, trustee, VECTOR_TIME, vectorPath } from './testdata.ts';

const checks = (v: { reasons: readonly { check: string }[] }): string[] => v.reasons.map((r) => r.check).sort();
const askArkMilan = (): string => readFileSync(vectorPath('roots/ask_ark_milan.pem'), 'utf8');

describe('snp vectors (test/vectors/snp)', () => {
  it('milan-gosevguest: authentic; Milan, v2, VCEK, REPORT_DATA 0102030405..., TCB bl=2 tee=0 snp=5 ucode=68', () => {
    const v = gosevguest();
    const verdict = verifySnp({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME });
    assert.deepEqual(verdict.reasons, []);
    assert.equal(verdict.verified, true);
    const c = verdict.claims!;
    assert.equal(c.product, 'Milan');
    assert.equal(c.version, 2);
    assert.equal(c.signingKey, 'vcek');
    assert.ok(c.reportData.startsWith('0102030405'));
    assert.equal(c.reportData, '0102030405'.padEnd(128, '0'));
    for (const tcb of [c.reportedTcb, c.currentTcb, c.committedTcb, c.launchTcb, c.certificate!.tcb]) {
      assert.deepEqual(
        { bl: tcb.bootloader, tee: tcb.tee, snp: tcb.snp, ucode: tcb.microcode },
        { bl: 2, tee: 0, snp: 5, ucode: 68 },
      );
    }
    assert.equal(
      c.measurement,
      'b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01',
    );
    assert.equal(c.chipId, c.certificate!.hwId);
    assert.equal(c.certificate!.productName, 'Milan-B0');
    assert.equal(c.certificate!.root, 'Milan');
    assert.equal(c.policy.debug, true);
    assert.deepEqual(c.currentFirmware, { major: 1, minor: 49, build: 3 });
    assert.deepEqual(provisionalFirmwareReasons(c), []);
  });

  it('milan-trustee: authentic; Milan, v2, VCEK (CURRENT_TCB microcode 0xce ahead of COMMITTED 0x73: provisional)', () => {
    const v = trustee();
    const verdict = verifySnp({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME });
    assert.deepEqual(verdict.reasons, []);
    const c = verdict.claims!;
    assert.equal(c.product, 'Milan');
    assert.equal(c.version, 2);
    assert.equal(c.signingKey, 'vcek');
    assert.equal(c.guestSvn, 4);
    assert.deepEqual(c.reportedTcb, { bootloader: 3, tee: 0, snp: 8, microcode: 115, raw: '7308000000000003' });
    assert.equal(c.currentTcb.microcode, 0xce);
    assert.deepEqual(
      provisionalFirmwareReasons(c).map((r) => r.check),
      ['snp.firmware.provisional'],
    );
  });

  it('negative-chipid: refused, CHIP_ID differs from the VCEK hwID and the signature does not verify', () => {
    const v = negativeChipId();
    const verdict = verifySnp({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME });
    assert.equal(verdict.verified, false);
    assert.deepEqual(checks(verdict), ['snp.chip-id', 'snp.signature']);
  });

  it('verifies with a KDS-style bundle (VCEK + ASK + ARK), the ARK from the bundle being ignored', () => {
    const v = gosevguest();
    const pem = new X509Certificate(v.vcek).toString();
    assert.deepEqual(
      verifySnp({ report: v.report, certificates: pem + askArkMilan() }, { at: VECTOR_TIME }).reasons,
      [],
    );
    // The Genoa ASK/ARK in the bundle neither helps nor hurts: the Milan ASK is pinned.
    const genoa = readFileSync(vectorPath('roots/ask_ark_genoa.pem'), 'utf8');
    assert.deepEqual(verifySnp({ report: v.report, certificates: pem + genoa }, { at: VECTOR_TIME }).reasons, []);
  });

  it('refuses a real report with another real VCEK: signature, chip and TCB all differ', () => {
    const a = trustee();
    const b = gosevguest();
    const verdict = verifySnp({ report: a.report, certificates: b.vcek }, { at: VECTOR_TIME });
    assert.deepEqual(checks(verdict), ['snp.chip-id', 'snp.signature', 'snp.tcb.certificate']);
  });

  it('checks the real chain at the given time', () => {
    const v = gosevguest();
    // VCEK valid 2022-09-24T00:55:28Z to 2029-09-24T00:55:28Z.
    const at = (iso: string) => checks(verifySnp({ report: v.report, certificates: v.vcek }, { at: new Date(iso) }));
    assert.deepEqual(at('2022-09-24T00:55:27Z'), ['snp.chain.validity']);
    assert.deepEqual(at('2022-09-24T00:55:28Z'), []);
    assert.deepEqual(at('2029-09-24T00:55:29Z'), ['snp.chain.validity']);
  });
});

describe('snp vectors: guest policy, platform info and ID block rules on real reports', () => {
  const ruleChecks = (reasons: readonly { check: string }[]): string[] => reasons.map((r) => r.check).sort();

  it('milan-gosevguest: policy 0xb0000 is SMT (bit 16) and DEBUG (bit 19); the default rules refuse DEBUG and nothing else', () => {
    const v = gosevguest();
    const c = verifySnp({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME }).claims!;
    assert.equal(c.policy.raw, '00000000000b0000');
    assert.deepEqual(
      {
        smt: c.policy.smt,
        debug: c.policy.debug,
        migrateMA: c.policy.migrateMA,
        cxl: c.policy.cxlAllowed,
        singleSocket: c.policy.singleSocket,
        abi: `${c.policy.abiMajor}.${c.policy.abiMinor}`,
      },
      { smt: true, debug: true, migrateMA: false, cxl: false, singleSocket: false, abi: '0.0' },
    );
    assert.equal(c.platformInfo.raw, '0000000000000001');
    assert.equal(c.platformInfo.smtEnabled, true);
    assert.deepEqual(ruleChecks(snpRuleReasons(c, {})), ['snp.policy.debug']);
    assert.deepEqual(snpRuleReasons(c, { allowDebug: true }), []);
  });

  it('milan-trustee: meets ID-block rules naming its real ID key, FAMILY_ID, IMAGE_ID and GUEST_SVN; provisional firmware allowed keeps COMMITTED <= CURRENT', () => {
    const v = trustee();
    const c = verifySnp({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME }).claims!;
    assert.equal(c.policy.raw, '000000000003001f');
    assert.equal(c.authorKeyEnabled, false);
    const family = '01'.padEnd(32, '0');
    const image = '02'.padEnd(32, '0');
    assert.deepEqual([c.familyId, c.imageId, c.guestSvn], [family, image, 4]);
    const idBlock = { idKeyDigests: [c.idKeyDigest], familyIds: [family], imageIds: [image], minimumGuestSVN: 4 };
    assert.deepEqual(snpRuleReasons(c, { allowProvisionalFirmware: true, idBlock }), []);
    assert.deepEqual(ruleChecks(snpRuleReasons(c, { idBlock })), ['snp.firmware.provisional']);
    assert.deepEqual(
      ruleChecks(
        snpRuleReasons(c, {
          allowProvisionalFirmware: true,
          idBlock: { ...idBlock, idKeyDigests: ['00'.repeat(48)], imageIds: [family], minimumGuestSVN: 5 },
        }),
      ),
      ['snp.id-block.guest-svn', 'snp.id-block.image-id', 'snp.id-block.key'],
    );
    // Its platform has SMT enabled, and its firmware is 1.52 build 4.
    assert.deepEqual(
      ruleChecks(snpRuleReasons(c, { allowProvisionalFirmware: true, platformInfo: { allowSMT: false } })),
      ['snp.platform.smt'],
    );
    assert.deepEqual(
      snpRuleReasons(c, { allowProvisionalFirmware: true, minimumFirmware: { major: 1, minor: 52, build: 4 } }),
      [],
    );
    assert.deepEqual(
      ruleChecks(
        snpRuleReasons(c, { allowProvisionalFirmware: true, minimumFirmware: { major: 1, minor: 52, build: 5 } }),
      ),
      ['snp.firmware.minimum', 'snp.firmware.minimum'],
    );
  });

  it("AMD's bit positions on real report bytes: MIGRATE_MA is bit 2 and CXL_ALLOW bit 5 of byte 0x0A, PLATFORM_INFO bit 6 and bit 8 are reserved", () => {
    // The bytes are changed after signing, so only the decoding is under test here, not authenticity.
    const claimsOf = (change: (b: Uint8Array) => void) => {
      const b = trustee().report.slice();
      change(b);
      return snpClaims(parseSnpReport(b), 'Milan', null, null);
    };
    const rules = { allowProvisionalFirmware: true };
    assert.deepEqual(
      snpRuleReasons(
        claimsOf(() => {}),
        rules,
      ),
      [],
    );
    const ma = claimsOf((b) => {
      b[0x0a]! |= 1 << 2;
    });
    assert.equal(ma.policy.raw, '000000000007001f');
    assert.deepEqual(ruleChecks(snpRuleReasons(ma, rules)), ['snp.policy.migrate-ma']);
    const cxl = claimsOf((b) => {
      b[0x0a]! |= 1 << 5;
    });
    assert.equal(cxl.policy.raw, '000000000023001f');
    assert.deepEqual(ruleChecks(snpRuleReasons(cxl, rules)), ['snp.policy.cxl']);
    assert.deepEqual(snpRuleReasons(cxl, { ...rules, allowCXL: true }), []);
    const debug = claimsOf((b) => {
      b[0x0a]! |= 1 << 3;
    });
    assert.deepEqual(ruleChecks(snpRuleReasons(debug, rules)), ['snp.policy.debug']);
    for (const [offset, bit] of [
      [0x40, 6],
      [0x41, 0],
    ] as const) {
      const pi = claimsOf((b) => {
        b[offset]! |= 1 << bit;
      });
      assert.deepEqual(
        ruleChecks(snpRuleReasons(pi, rules)),
        ['snp.platform.reserved'],
        `byte 0x${offset.toString(16)} bit ${bit}`,
      );
    }
    const tio = claimsOf((b) => {
      b[0x40]! |= 1 << 7;
    });
    assert.equal(tio.platformInfo.tioEnabled, true);
    assert.deepEqual(snpRuleReasons(tio, rules), []);
  });
});
