/**
 * The bytes of a TDX quote as Intel's quote generation writes them (v4, or v5 with a TDX 1.0 or
 * 1.5 body): header, TD report body, the quote signature by the QE's attestation key, and the
 * certification data (QE report signed by the PCK key, QE auth data, PCK chain PEM).
 */
import { createHash, type KeyObject, sign } from 'node:crypto';
import { BODY_TYPE_TDX10, BODY_TYPE_TDX15, INTEL_QE_VENDOR_ID } from '../tdx/quote.ts';
import type { TdxQuoteFields } from './tdx.ts';

type Bytes = string | Uint8Array;

export const TD_QE_MRSIGNER = 'dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5';
/** QE ATTRIBUTES as Intel's TD QE reports them (INIT, MODE64BIT, PROVISIONKEY; XFRM 0xE7). */
const QE_ATTRIBUTES = '1500000000000000e700000000000000';

/** What signs and certifies the quote: the platform's keys and PCK chain. */
export interface QuoteSigner {
  readonly attestationPrivate: KeyObject;
  /** The attestation public key as raw X || Y. */
  readonly attestationKey: Uint8Array;
  readonly pckPrivate: KeyObject;
  readonly pckChainPem: string;
  /** The PCK certificate's CPUSVN (the SGX TCB components), for the QE report. */
  readonly cpuSvn: Uint8Array;
  readonly qeIsvSvn: number;
}

export function quoteBytes(f: TdxQuoteFields, s: QuoteSigner): Uint8Array {
  const version = f.version ?? 4;
  const bodyType = version === 4 ? BODY_TYPE_TDX10 : (f.bodyType ?? BODY_TYPE_TDX15);
  const header = Buffer.alloc(48);
  header.writeUInt16LE(version, 0);
  header.writeUInt16LE(2, 2);
  header.writeUInt32LE(0x81, 4);
  Buffer.from(INTEL_QE_VENDOR_ID, 'hex').copy(header, 12);
  createHash('sha256').update('tdx-sim/platform').digest().copy(header, 28, 0, 16);
  const rtmrs = f.rtmrs ?? [0, 1, 2, 3].map((i) => createHash('sha384').update(`tdx-sim/rtmr${i}`).digest());
  const parts = [
    field(f.teeTcbSvn ?? '03000400000000000000000000000000', 16, 'teeTcbSvn'),
    field(f.mrSeam ?? createHash('sha384').update('tdx-sim/mrseam').digest(), 48, 'mrSeam'),
    field(f.mrSignerSeam ?? new Uint8Array(48), 48, 'mrSignerSeam'),
    field(f.seamAttributes ?? new Uint8Array(8), 8, 'seamAttributes'),
    field(f.tdAttributes ?? '0000001000000000', 8, 'tdAttributes'),
    field(f.xfam ?? 'e718060000000000', 8, 'xfam'),
    field(f.mrTd ?? createHash('sha384').update('tdx-sim/mrtd').digest(), 48, 'mrTd'),
    field(f.mrConfigId ?? new Uint8Array(48), 48, 'mrConfigId'),
    field(f.mrOwner ?? new Uint8Array(48), 48, 'mrOwner'),
    field(f.mrOwnerConfig ?? new Uint8Array(48), 48, 'mrOwnerConfig'),
    ...[0, 1, 2, 3].map((i) => field(rtmrs[i] ?? new Uint8Array(48), 48, `rtmrs[${i}]`)),
    field(f.reportData ?? new Uint8Array(64), 64, 'reportData'),
  ];
  if (bodyType === BODY_TYPE_TDX15)
    parts.push(
      field(f.teeTcbSvn2 ?? new Uint8Array(16), 16, 'teeTcbSvn2'),
      field(f.mrServiceTd ?? new Uint8Array(48), 48, 'mrServiceTd'),
    );
  const body = Buffer.concat(parts);
  const descriptor = Buffer.alloc(version === 5 ? 6 : 0);
  if (version === 5) {
    descriptor.writeUInt16LE(bodyType, 0);
    descriptor.writeUInt32LE(body.length, 2);
  }
  const signed = Buffer.concat([header, descriptor, body]);
  const signature = sign('sha256', signed, { key: s.attestationPrivate, dsaEncoding: 'ieee-p1363' });

  const authData = Buffer.from(f.qeAuthData ?? Uint8Array.from({ length: 32 }, (_, i) => i));
  const qeReport = Buffer.alloc(384);
  Buffer.from(s.cpuSvn).copy(qeReport, 0);
  Buffer.from(QE_ATTRIBUTES, 'hex').copy(qeReport, 48);
  createHash('sha256').update('tdx-sim/qe-mrenclave').digest().copy(qeReport, 64);
  field(f.qeMrSigner ?? TD_QE_MRSIGNER, 32, 'qeMrSigner').copy(qeReport, 128);
  qeReport.writeUInt16LE(2, 256);
  qeReport.writeUInt16LE(s.qeIsvSvn, 258);
  createHash('sha256').update(s.attestationKey).update(authData).digest().copy(qeReport, 320);
  const qeSignature = sign('sha256', qeReport, { key: s.pckPrivate, dsaEncoding: 'ieee-p1363' });

  const chain = Buffer.from(s.pckChainPem, 'latin1');
  const pckData = Buffer.concat([u16(5), u32(chain.length), chain]);
  const certData = Buffer.concat([qeReport, qeSignature, u16(authData.length), authData, pckData]);
  const signatureData = Buffer.concat([signature, s.attestationKey, u16(6), u32(certData.length), certData]);
  const trailing = Buffer.alloc(f.trailingBytes ?? 0, 0x0a);
  return new Uint8Array(Buffer.concat([signed, u32(signatureData.length), signatureData, trailing]));
}

export function field(v: Bytes, length: number, name: string): Buffer {
  const b = typeof v === 'string' ? Buffer.from(v, 'hex') : Buffer.from(v);
  if (b.length !== length) throw new TypeError(`${name} must be ${length} bytes, got ${b.length}`);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
