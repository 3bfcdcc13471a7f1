import assert from 'node:assert/strict';
import { parseEvidenceList } from '../../../../src/attestation/nvidia/evidence-list.ts';
import {
  encodeVbiosVersion,
  formatVbiosVersion,
  parseOpaqueData,
} from '../../../../src/attestation/nvidia/opaque-data.ts';
import { parseGpuReport } from '../../../../src/attestation/nvidia/spdm.ts';
import { ParseError } from '../../../../src/attestation/verdict.ts';
import { reportBytes } from '../../../vectors/nvidia/testdata.ts';

const tlv = (type: number, value: number[]): number[] => [
  type & 0xff,
  type >> 8,
  value.length & 0xff,
  value.length >> 8,
  ...value,
];
const refusedWith = (check: string, pattern: RegExp) => (err: unknown) =>
  err instanceof ParseError && err.check === check && pattern.test(err.message);

describe('nvidia/opaque-data', () => {
  it('prints the VBIOS version as nvtrust and nvidia-smi do (b3.b2.b1.b0.b4, upper case)', () => {
    assert.equal(formatVbiosVersion(new Uint8Array([0x00, 0x9f, 0x00, 0x96, 0x01, 0, 0, 0])), '96.00.9F.00.01');
    assert.equal(formatVbiosVersion(new Uint8Array([0x00, 0x5e, 0x00, 0x96, 0x01, 0, 0, 0])), '96.00.5E.00.01');
    assert.deepEqual(encodeVbiosVersion('96.00.9F.00.01'), new Uint8Array([0x00, 0x9f, 0x00, 0x96, 0x01, 0, 0, 0]));
  });

  it('decodes strings, counts, PDIs and NVDEC0, and keeps unknown types raw', () => {
    const od = parseOpaqueData(
      new Uint8Array([
        ...tlv(3, [...Buffer.from('570.124.06'), 0]),
        ...tlv(12, [1, 0, 0, 0, 2, 0, 0, 0]),
        ...tlv(22, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]),
        ...tlv(11, [0xaa]),
        ...tlv(36, [7]),
        ...tlv(300, [1, 2]),
      ]),
    );
    assert.equal(od.driverVersion, '570.124.06');
    assert.deepEqual(od.msrCounts, [1, 2]);
    assert.deepEqual(od.switchPdis, ['0102030405060708', '090a0b0c0d0e0f10']);
    assert.equal(od.nvdec0Status, 0xaa);
    assert.deepEqual(
      od.fields.map((f) => f.name),
      ['DRIVER_VERSION', 'MSRSCNT', 'SWITCH_PDI', 'NVDEC0_STATUS', 'FEATURE_FLAG', 'UNKNOWN_300'],
    );
  });

  it('refuses truncated fields, duplicates and malformed values', () => {
    assert.throws(
      () => parseOpaqueData(new Uint8Array([3, 0, 9, 0, 1])),
      refusedWith('gpu.report', /runs past the end/),
    );
    assert.throws(() => parseOpaqueData(new Uint8Array([3, 0])), refusedWith('gpu.report', /truncated TLV header/));
    assert.throws(
      () => parseOpaqueData(new Uint8Array([...tlv(3, [0x35]), ...tlv(3, [0x36])])),
      refusedWith('gpu.report', /appears twice/),
    );
    assert.throws(
      () => parseOpaqueData(new Uint8Array(tlv(3, [0x35, 0x01]))),
      refusedWith('gpu.report', /non-printable/),
    );
    assert.throws(
      () => parseOpaqueData(new Uint8Array(tlv(20, [1, 2, 3]))),
      refusedWith('gpu.report', /FWID is 3 bytes/),
    );
    assert.throws(
      () => parseOpaqueData(new Uint8Array(tlv(6, [1, 2, 3]))),
      refusedWith('gpu.report', /VBIOS_VERSION is 3 bytes/),
    );
    assert.throws(() => parseOpaqueData(new Uint8Array(tlv(12, [1, 2, 3]))), refusedWith('gpu.report', /MSRSCNT/));
  });
});

describe('nvidia/spdm', () => {
  const report = reportBytes('hopper-550/report.hex');

  it('parses the request and response by position; RIM index = SPDM block index - 1', () => {
    const r = parseGpuReport(report);
    assert.deepEqual(
      [r.request.version, r.request.code, r.request.param1, r.request.param2, r.request.slotId],
      [0x11, 0xe0, 0x01, 0xff, 0],
    );
    assert.deepEqual([r.response.version, r.response.code], [0x11, 0x60]);
    assert.deepEqual(
      r.response.blocks.map((b) => b.index),
      Array.from({ length: 64 }, (_, i) => i + 1),
    );
    assert.ok(r.response.blocks.every((b) => b.specification === 1 && b.value.length === 48));
    assert.equal(r.response.signature.length, 96);
    assert.equal(r.signedBytes.length, report.length - 96);
  });

  it('counts trailing bytes after the signature', () => {
    const padded = new Uint8Array(report.length + 5);
    padded.set(report);
    assert.equal(parseGpuReport(padded).trailingBytes, 5);
  });

  it('refuses what is not a signed SPDM 1.1 GET_MEASUREMENTS exchange', () => {
    const edit = (at: number, value: number): Uint8Array => {
      const r = new Uint8Array(report);
      r[at] = value;
      return r;
    };
    assert.throws(() => parseGpuReport(edit(0, 0x12)), refusedWith('gpu.report', /SPDM version 0x12/));
    assert.throws(() => parseGpuReport(edit(1, 0xe1)), refusedWith('gpu.report', /GET_MEASUREMENTS/));
    assert.throws(() => parseGpuReport(edit(2, 0x00)), refusedWith('gpu.report', /does not ask for a signature/));
    assert.throws(() => parseGpuReport(edit(38, 0x61)), refusedWith('gpu.report', /expected 0x60/));
    assert.throws(() => parseGpuReport(edit(37 + 8 + 1, 0x02)), refusedWith('gpu.report', /specification 0x02/));
    assert.throws(
      () => parseGpuReport(report.subarray(0, report.length - 1)),
      refusedWith('gpu.report', /Signature needs 96 bytes/),
    );
    assert.throws(() => parseGpuReport(report.subarray(0, 20)), refusedWith('gpu.report', /truncated/));
  });
});

describe('nvidia/evidence-list', () => {
  const item = {
    arch: 'HOPPER',
    certificate: Buffer.from('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n').toString('base64'),
    evidence: 'EeAB/w==',
    nonce: 'AB',
  };

  it('reads the SDK list and its {"evidence_list": [...]} wrapping', () => {
    assert.deepEqual(parseEvidenceList(JSON.stringify([item]))[0]!.report, new Uint8Array([0x11, 0xe0, 0x01, 0xff]));
    assert.equal(parseEvidenceList(JSON.stringify({ evidence_list: [item], nonce: 'ab' }))[0]!.nonce, 'ab');
  });

  it('says which entry and field is wrong', () => {
    assert.throws(() => parseEvidenceList('{'), refusedWith('gpu.evidence', /not JSON/));
    assert.throws(() => parseEvidenceList('[]'), refusedWith('gpu.evidence', /empty/));
    assert.throws(
      () => parseEvidenceList(JSON.stringify([item, { ...item, arch: 'AMPERE' }])),
      refusedWith('gpu.evidence', /\[1\]\.arch/),
    );
    assert.throws(
      () => parseEvidenceList(JSON.stringify([{ ...item, evidence: 'not base64!' }])),
      refusedWith('gpu.evidence', /\[0\]\.evidence/),
    );
    assert.throws(
      () => parseEvidenceList(JSON.stringify([{ ...item, certificate: Buffer.from('x').toString('base64') }])),
      refusedWith('gpu.evidence', /PEM/),
    );
  });
});
