import assert from 'node:assert/strict';
import { decodeKeyInfo, encodeKeyInfo, keyInfoProblems } from '../../../../src/attestation/snp/key-info.ts';
import { decodePlatformInfo, encodePlatformInfo } from '../../../../src/attestation/snp/platform-info.ts';
import {
  abiAtLeast,
  decodeGuestPolicy,
  encodeGuestPolicy,
  guestPolicyProblems,
} from '../../../../src/attestation/snp/policy.ts';
import { productFromCpuid, productFromName } from '../../../../src/attestation/snp/product.ts';
import { parseSnpReport, reportFormatProblems, SNP_REPORT_SIZE } from '../../../../src/attestation/snp/report.ts';
import { p1363Signature } from '../../../../src/attestation/snp/signature.ts';
import { ParseError } from '../../../../src/attestation/verdict.ts';

/** A report laid out by hand at the offsets of AMD ABI 56860 / go-sev-guest abi.go, independent of the simulator. */
function handmade(version: number): Uint8Array {
  const b = new Uint8Array(SNP_REPORT_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0x00, version, true);
  v.setUint32(0x04, 7, true); // guest SVN
  v.setBigUint64(0x08, 0x000b_0133n, true); // ABI 1.51, SMT, bit 17, debug
  b.fill(0x10, 0x10, 0x20); // family id
  b.fill(0x20, 0x20, 0x30); // image id
  v.setUint32(0x30, 2, true); // VMPL
  v.setUint32(0x34, 1, true); // signature algo
  v.setBigUint64(0x38, 0x1100_0000_0000_0102n, true); // current TCB
  v.setBigUint64(0x40, 0x3n, true); // platform info: SMT, TSME
  v.setUint32(0x48, 0b0_0110, true); // VLEK, mask chip id
  b.fill(0x50, 0x50, 0x90); // report data
  b.fill(0x90, 0x90, 0xc0); // measurement
  b.fill(0xc0, 0xc0, 0xe0); // host data
  b.fill(0xe0, 0xe0, 0x110); // id key digest
  b.fill(0x11, 0x110, 0x140); // author key digest
  b.fill(0x14, 0x140, 0x160); // report id
  b.fill(0x16, 0x160, 0x180); // report id ma
  v.setBigUint64(0x180, 0x2200_0000_0000_0304n, true); // reported TCB
  b.set([0x19, 0x11, 0x02], 0x188); // CPUID fam/model/stepping (v3+)
  b.fill(0xa0, 0x1a0, 0x1e0); // chip id
  v.setBigUint64(0x1e0, 0x3300_0000_0000_0506n, true); // committed TCB
  b.set([21, 55, 1], 0x1e8); // current build, minor, major
  b.set([20, 54, 1], 0x1ec); // committed build, minor, major
  v.setBigUint64(0x1f0, 0x4400_0000_0000_0708n, true); // launch TCB
  v.setBigUint64(0x1f8, 0xaaaan, true); // launch mit vector (v5)
  v.setBigUint64(0x200, 0xbbbbn, true); // current mit vector (v5)
  b.fill(0x01, 0x2a0, 0x2a0 + 48); // r
  b.fill(0x02, 0x2e8, 0x2e8 + 48); // s
  return b;
}

describe('snp/report: parseSnpReport', () => {
  it('reads every field at its ABI offset (version 5)', () => {
    const r = parseSnpReport(handmade(5));
    assert.equal(r.version, 5);
    assert.equal(r.guestSvn, 7);
    assert.equal(r.policy, 0x000b_0133n);
    assert.deepEqual([...r.familyId], new Array(16).fill(0x10));
    assert.deepEqual([...r.imageId], new Array(16).fill(0x20));
    assert.equal(r.vmpl, 2);
    assert.equal(r.signatureAlgorithm, 1);
    assert.equal(r.currentTcb, 0x1100_0000_0000_0102n);
    assert.equal(r.platformInfo, 3n);
    assert.equal(r.keyInfo, 6);
    assert.deepEqual([...r.reportData], new Array(64).fill(0x50));
    assert.deepEqual([...r.measurement], new Array(48).fill(0x90));
    assert.deepEqual([...r.hostData], new Array(32).fill(0xc0));
    assert.deepEqual([...r.idKeyDigest], new Array(48).fill(0xe0));
    assert.deepEqual([...r.authorKeyDigest], new Array(48).fill(0x11));
    assert.deepEqual([...r.reportId], new Array(32).fill(0x14));
    assert.deepEqual([...r.reportIdMa], new Array(32).fill(0x16));
    assert.equal(r.reportedTcb, 0x2200_0000_0000_0304n);
    assert.deepEqual(r.cpuid, { family: 0x19, model: 0x11, stepping: 2 });
    assert.deepEqual([...r.chipId], new Array(64).fill(0xa0));
    assert.equal(r.committedTcb, 0x3300_0000_0000_0506n);
    assert.deepEqual(r.currentFirmware, { major: 1, minor: 55, build: 21 });
    assert.deepEqual(r.committedFirmware, { major: 1, minor: 54, build: 20 });
    assert.equal(r.launchTcb, 0x4400_0000_0000_0708n);
    assert.equal(r.launchMitVector, 0xaaaan);
    assert.equal(r.currentMitVector, 0xbbbbn);
    assert.equal(r.signatureR.length, 72);
    assert.deepEqual([...r.signatureR.subarray(0, 48)], new Array(48).fill(1));
    assert.deepEqual([...r.signatureS.subarray(0, 48)], new Array(48).fill(2));
  });

  it('has no CPUID before version 3 and no mitigation vectors before version 5', () => {
    const b = handmade(2);
    b.fill(0, 0x188, 0x18b);
    b.fill(0, 0x1f8, 0x208);
    const v2 = parseSnpReport(b);
    assert.equal(v2.cpuid, null);
    assert.equal(v2.launchMitVector, null);
    assert.deepEqual(reportFormatProblems(v2), []);
    const v4 = parseSnpReport(handmade(4));
    assert.deepEqual(v4.cpuid, { family: 0x19, model: 0x11, stepping: 2 });
    assert.equal(v4.currentMitVector, null);
  });

  it('reports the v5 mitigation vectors as reserved bytes in a v4 report', () => {
    assert.deepEqual(reportFormatProblems(parseSnpReport(handmade(4))), ['reserved byte 0x1f8 is not zero']);
    assert.deepEqual(reportFormatProblems(parseSnpReport(handmade(5))), []);
  });

  it('finds non-zero reserved bytes, reserved policy bits and key-info bits', () => {
    const b = handmade(5);
    b[0x4c] = 1;
    b[0x19f] = 1;
    b[0x1eb] = 1;
    b[0x29f] = 1;
    b[0x08 + 3] = 0x04; // policy bit 26
    b[0x48 + 1] = 0x01; // key info bit 8
    assert.deepEqual(reportFormatProblems(parseSnpReport(b)), [
      'reserved byte 0x4c is not zero',
      'reserved byte 0x19f is not zero',
      'reserved byte 0x1eb is not zero',
      'reserved byte 0x29f is not zero',
      'guest policy bits 26-63 are reserved and must be 0 (policy 0x40b0133)',
      'key info bits 5-31 are reserved and must be 0 (0x106)',
    ]);
  });

  it('refuses wrong sizes and unsupported versions with ParseError', () => {
    for (const [input, check] of [
      [new Uint8Array(0), 'snp.report.length'],
      [new Uint8Array(SNP_REPORT_SIZE - 1), 'snp.report.length'],
      [new Uint8Array(SNP_REPORT_SIZE + 1), 'snp.report.length'],
      [handmade(1), 'snp.report.version'],
      [handmade(6), 'snp.report.version'],
    ] as const) {
      assert.throws(
        () => parseSnpReport(input),
        (e: unknown) => e instanceof ParseError && e.check === check,
      );
    }
  });

  it("copies the input: later changes to the caller's buffer do not change the parsed report", () => {
    const b = handmade(3);
    const r = parseSnpReport(b);
    b.fill(0xff, 0x90, 0xc0);
    assert.equal(r.measurement[0], 0x90);
  });
});

describe('snp/policy, key-info, platform-info, product', () => {
  it('decodes the guest policy bits', () => {
    const p = decodeGuestPolicy(0x000b_0133n);
    assert.deepEqual(
      { ...p },
      {
        abiMinor: 0x33,
        abiMajor: 1,
        smt: true,
        migrateMA: false,
        debug: true,
        singleSocket: false,
        cxlAllowed: false,
        memAes256Xts: false,
        raplDisabled: false,
        ciphertextHiding: false,
        pageSwapDisabled: false,
        raw: '00000000000b0133',
      },
    );
    assert.equal(encodeGuestPolicy({ abiMajor: 1, abiMinor: 0x33, smt: true, debug: true }), 0x000b_0133n);
    assert.deepEqual(guestPolicyProblems(0x1_0000n), ['guest policy bit 17 is reserved and must be 1']);
    assert.deepEqual(guestPolicyProblems(encodeGuestPolicy({ pageSwapDisabled: true, migrateMA: true })), []);
  });

  it('compares guest ABI versions', () => {
    assert.equal(abiAtLeast(1, 51, '1.51'), true);
    assert.equal(abiAtLeast(1, 50, '1.51'), false);
    assert.equal(abiAtLeast(2, 0, '1.51'), true);
    assert.equal(abiAtLeast(0, 99, '1.0'), false);
    assert.equal(abiAtLeast(1, 0, 'one'), null);
  });

  it('decodes key info: VCEK, VLEK, none, reserved, mask chip id, author key', () => {
    assert.deepEqual(decodeKeyInfo(0), {
      signingKey: 'vcek',
      signingKeyValue: 0,
      maskChipId: false,
      authorKeyEnabled: false,
    });
    assert.deepEqual(decodeKeyInfo(0b111), {
      signingKey: 'vlek',
      signingKeyValue: 1,
      maskChipId: true,
      authorKeyEnabled: true,
    });
    assert.equal(decodeKeyInfo(7 << 2).signingKey, null);
    assert.deepEqual(keyInfoProblems(3 << 2), ['SIGNING_KEY 3 is reserved']);
    assert.deepEqual(keyInfoProblems(7 << 2), []);
    assert.equal(encodeKeyInfo({ signingKey: 'vlek', maskChipId: true }), 0b110);
  });

  it('decodes platform info', () => {
    const p = decodePlatformInfo(0b10_0101n);
    assert.equal(p.smtEnabled, true);
    assert.equal(p.tsmeEnabled, false);
    assert.equal(p.eccEnabled, true);
    assert.equal(p.aliasCheckComplete, true);
    assert.equal(p.tioEnabled, false);
    assert.equal(p.raw, '0000000000000025');
    assert.equal(decodePlatformInfo(0x80n).tioEnabled, true);
    assert.equal(encodePlatformInfo({ smtEnabled: true, aliasCheckComplete: true, tioEnabled: true }), 0xa1n);
  });

  it('names the product from CPUID and from productName', () => {
    assert.equal(productFromCpuid(0x19, 0x01), 'Milan');
    assert.equal(productFromCpuid(0x19, 0x11), 'Genoa');
    assert.equal(productFromCpuid(0x19, 0xa0), 'Genoa');
    assert.equal(productFromCpuid(0x1a, 0x02), 'Turin');
    assert.equal(productFromCpuid(0x19, 0x21), null);
    assert.equal(productFromCpuid(0x17, 0x31), null);
    assert.equal(productFromName('Milan-B0'), 'Milan');
    assert.equal(productFromName('Genoa'), 'Genoa');
    assert.equal(productFromName('Turin-B1'), 'Turin');
    assert.equal(productFromName('Naples-B0'), null);
  });
});

describe('snp/signature: p1363Signature', () => {
  it('reverses 72-byte little-endian r and s into 48-byte big-endian halves', () => {
    const r = new Uint8Array(72);
    const s = new Uint8Array(72);
    r[0] = 0x01; // least significant byte of r
    r[47] = 0xaa; // most significant byte that fits
    s[0] = 0x02;
    const sig = p1363Signature(r, s)!;
    assert.equal(sig.length, 96);
    assert.equal(sig[0], 0xaa);
    assert.equal(sig[47], 0x01);
    assert.equal(sig[95], 0x02);
  });

  it('refuses r or s with non-zero bytes beyond 48 (the value would exceed the P-384 order)', () => {
    const r = new Uint8Array(72);
    const s = new Uint8Array(72);
    r[48] = 1;
    assert.equal(p1363Signature(r, s), null);
    r[48] = 0;
    s[71] = 1;
    assert.equal(p1363Signature(r, s), null);
  });
});
