/**
 * The SEV-SNP certificate table: what the host hands the guest with an extended report request
 * (SNP_GET_EXT_REPORT) and what Linux configfs-tsm returns as `auxblob` for sev_guest. Entries
 * of a 16-byte GUID, a 4-byte offset and a 4-byte length (little-endian, offsets from the table
 * start), ended by an all-zero entry (GHCB spec 2.0, "SNP Extended Guest Request").
 */

import { toPem } from '../pem.ts';
import { ParseError } from '../verdict.ts';

/** GUIDs as the spec writes them (canonical text form). */
export const SNP_CERT_GUIDS = {
  vcek: '63da758d-e664-4564-adc5-f4b93be8accd',
  vlek: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  ask: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  ark: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
} as const;

export type SnpCertKind = keyof typeof SNP_CERT_GUIDS | 'other';

export interface SnpCertEntry {
  guid: string;
  kind: SnpCertKind;
  der: Uint8Array;
}

const ENTRY_SIZE = 24;
const MAX_ENTRIES = 64;

/** GUID bytes in the mixed-endian layout of EFI/UUID structures. */
export function guidToBytes(guid: string): Uint8Array {
  const hex = guid.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  const out = Buffer.alloc(16);
  out.writeUInt32LE(b.readUInt32BE(0), 0);
  out.writeUInt16LE(b.readUInt16BE(4), 4);
  out.writeUInt16LE(b.readUInt16BE(6), 6);
  b.copy(out, 8, 8, 16);
  return new Uint8Array(out);
}

export function bytesToGuid(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, 16);
  const h = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return `${h(b.readUInt32LE(0), 8)}-${h(b.readUInt16LE(4), 4)}-${h(b.readUInt16LE(6), 4)}-${b.subarray(8, 10).toString('hex')}-${b.subarray(10, 16).toString('hex')}`;
}

/** Parses a certificate table; throws ParseError for anything malformed. */
export function parseSnpCertTable(table: Uint8Array): SnpCertEntry[] {
  const view = Buffer.from(table.buffer, table.byteOffset, table.byteLength);
  const entries: SnpCertEntry[] = [];
  for (let i = 0; ; i++) {
    const at = i * ENTRY_SIZE;
    if (at + ENTRY_SIZE > view.length)
      throw new ParseError('snp.cert-table', 'certificate table has no terminating all-zero entry');
    if (i >= MAX_ENTRIES)
      throw new ParseError('snp.cert-table', `certificate table has more than ${MAX_ENTRIES} entries`);
    const entry = view.subarray(at, at + ENTRY_SIZE);
    if (entry.every((x) => x === 0)) break;
    const offset = entry.readUInt32LE(16);
    const length = entry.readUInt32LE(20);
    if (length === 0 || offset < ENTRY_SIZE || offset + length > view.length) {
      throw new ParseError(
        'snp.cert-table',
        `certificate table entry ${i} points outside the table (offset ${offset}, length ${length}, table ${view.length} bytes)`,
      );
    }
    const guid = bytesToGuid(entry.subarray(0, 16));
    const kind = (Object.entries(SNP_CERT_GUIDS).find(([, g]) => g === guid)?.[0] ?? 'other') as SnpCertKind;
    entries.push({ guid, kind, der: new Uint8Array(view.subarray(offset, offset + length)) });
  }
  return entries;
}

/** Builds a certificate table (for simulated evidence and tests). */
export function encodeSnpCertTable(
  certs: ReadonlyArray<{ kind: keyof typeof SNP_CERT_GUIDS; der: Uint8Array }>,
): Uint8Array {
  const headerSize = (certs.length + 1) * ENTRY_SIZE;
  const total = headerSize + certs.reduce((n, c) => n + c.der.length, 0);
  const out = Buffer.alloc(total);
  let offset = headerSize;
  certs.forEach((c, i) => {
    Buffer.from(guidToBytes(SNP_CERT_GUIDS[c.kind])).copy(out, i * ENTRY_SIZE);
    out.writeUInt32LE(offset, i * ENTRY_SIZE + 16);
    out.writeUInt32LE(c.der.length, i * ENTRY_SIZE + 20);
    Buffer.from(c.der).copy(out, offset);
    offset += c.der.length;
  });
  return new Uint8Array(out);
}

/** The certificates of a table as one PEM bundle (what verifySnp takes as its evidence's certificates). */
export function certTableToPem(entries: readonly SnpCertEntry[]): string {
  return entries
    .filter((e) => e.kind !== 'other')
    .map((e) => toPem(e.der))
    .join('');
}
