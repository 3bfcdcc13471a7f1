/**
 * The byte formats of a simulated GPU's evidence, as real Hopper/Blackwell firmware writes them:
 * the SPDM GET_MEASUREMENTS request and MEASUREMENTS response with NVIDIA's opaque data, and the
 * TCG DICE extensions that carry the FWID in the leaf certificate.
 */
import * as asn1js from 'asn1js';
import { encodeVbiosVersion } from '../nvidia/opaque-data.ts';

/** Measurement blocks in a report, as on H100. */
export const SIM_MEASUREMENT_BLOCKS = 64;

/** The report bytes up to the signature: SPDM GET_MEASUREMENTS request + MEASUREMENTS response. */
export function buildReport(p: {
  nonce: Uint8Array;
  responderNonce: Uint8Array;
  blocks: readonly Uint8Array[];
  opaque: Uint8Array;
}): Uint8Array {
  if (p.nonce.length !== 32) throw new Error('the nonce must be 32 bytes');
  const request = Buffer.concat([Buffer.from([0x11, 0xe0, 0x01, 0xff]), p.nonce, Buffer.from([0x00])]);
  const record = Buffer.concat(
    p.blocks.map((value, i) => {
      const header = Buffer.alloc(7);
      header.writeUInt8(i + 1, 0);
      header.writeUInt8(0x01, 1); // DMTF measurement specification
      header.writeUInt16LE(value.length + 3, 2);
      header.writeUInt8(0x01, 4); // DMTF value type, as in real reports
      header.writeUInt16LE(value.length, 5);
      return Buffer.concat([header, value]);
    }),
  );
  const head = Buffer.alloc(8);
  head.writeUInt8(0x11, 0);
  head.writeUInt8(0x60, 1);
  head.writeUInt8(p.blocks.length, 4);
  head.writeUIntLE(record.length, 5, 3);
  const opaqueLength = Buffer.alloc(2);
  opaqueLength.writeUInt16LE(p.opaque.length);
  return new Uint8Array(Buffer.concat([request, head, record, p.responderNonce, opaqueLength, p.opaque]));
}

/** Opaque data TLVs in the order real H100 firmware writes them. */
export function opaqueData(f: {
  driverVersion: string;
  vbiosVersion: string;
  project: string;
  projectSku: string;
  chipSku: string;
  fwid: Uint8Array | null;
  nvdec0: number;
  featureFlag: number | undefined;
}): Uint8Array {
  const tlv = (type: number, value: Uint8Array): Buffer => {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(type, 0);
    h.writeUInt16LE(value.length, 2);
    return Buffer.concat([h, value]);
  };
  const str = (s: string, pad = 1): Uint8Array =>
    new Uint8Array(Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(pad)]));
  const msrs = Buffer.alloc(256);
  for (let i = 0; i < 64; i++) msrs.writeUInt32LE(i % 3, i * 4);
  const parts = [
    tlv(6, encodeVbiosVersion(f.vbiosVersion)),
    tlv(14, new Uint8Array([0xb1, 0x03, 0, 0])),
    tlv(15, str(f.chipSku, 6)),
    tlv(16, str('0', 4)),
    tlv(17, str(f.project)),
    tlv(18, str(f.projectSku)),
    tlv(19, new Uint8Array(2)),
    tlv(3, str(f.driverVersion)),
    tlv(4, new Uint8Array([0x80, 0x01, 0, 0, 0, 0, 0, 0])),
    tlv(12, msrs),
    tlv(13, new Uint8Array([0x00, 0xc0, 0x01, 0x00])),
    tlv(11, new Uint8Array([f.nvdec0])),
  ];
  if (f.fwid) parts.push(tlv(20, f.fwid));
  parts.push(tlv(21, new Uint8Array([0x55])));
  if (f.featureFlag !== undefined) parts.push(tlv(36, new Uint8Array([f.featureFlag & 0xff])));
  return new Uint8Array(Buffer.concat(parts));
}

/** NVIDIA's DICE extension value: SEQUENCE { version 1, SPKI, FWID { sha384, digest } }. */
export function fwidExtension(spki: Uint8Array, fwid: Uint8Array): ArrayBuffer {
  const spkiAsn = asn1js.fromBER(spki).result;
  return new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 1 }),
      spkiAsn,
      new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: '2.16.840.1.101.3.4.2.2' }),
          new asn1js.OctetString({ valueHex: fwid }),
        ],
      }),
    ],
  }).toBER();
}

/** DiceTcbInfo as Blackwell leaves carry it: SEQUENCE { vendor [0], model [1], fwids [6] { FWID } }. */
export function tcbInfoExtension(fwid: Uint8Array): ArrayBuffer {
  const fwidAsn = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: '2.16.840.1.101.3.4.2.2' }),
      new asn1js.OctetString({ valueHex: fwid }),
    ],
  });
  return new asn1js.Sequence({
    value: [
      new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: Buffer.from('NVIDIA') }),
      new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 1 }, valueHex: Buffer.from('GB100') }),
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 6 }, value: [fwidAsn] }),
    ],
  }).toBER();
}
