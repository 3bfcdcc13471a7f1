/**
 * A minimal, bounds-checked DER reader for the few certificate fields Node's X509Certificate does
 * not expose (extensions: key usage, path length, the TCG DICE FWID). A general ASN.1 library
 * costs milliseconds per certificate here, which dominated a cold chain check; this reads only
 * what it needs, in microseconds. Anything that is not definite-length DER is refused.
 */

export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte: the TLV's whole encoding is buf[at, end). */
  readonly at: number;
  /** Start and end of the value (contents) within the buffer. */
  readonly start: number;
  readonly end: number;
}

export class DerError extends Error {
  override name = 'DerError';
}

/** Reads the TLV at `offset` (which must lie before `limit`). */
export function readTlv(buf: Uint8Array, offset: number, limit = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated TLV at ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tag at ${offset}`);
  let p = offset + 1;
  let len = buf[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError(`unsupported length form at ${offset}`);
    if (p + n > limit) throw new DerError(`truncated length at ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  const end = p + len;
  if (end > limit) throw new DerError(`value of ${len} bytes at ${offset} runs past its container`);
  return { tag, at: offset, start: p, end };
}

/** The TLVs directly inside a constructed value. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.start;
  while (p < parent.end) {
    const t = readTlv(buf, p, parent.end);
    out.push(t);
    p = t.end;
  }
  return out;
}

export function isConstructed(t: Tlv): boolean {
  return (t.tag & 0x20) !== 0;
}

/** Dotted-decimal form of an OBJECT IDENTIFIER's contents. */
export function oid(buf: Uint8Array, t: Tlv): string {
  if (t.tag !== 0x06 || t.end === t.start) throw new DerError('expected an OBJECT IDENTIFIER');
  const parts: number[] = [];
  let value = 0;
  for (let i = t.start; i < t.end; i++) {
    const b = buf[i]!;
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OBJECT IDENTIFIER arc too large');
    if ((b & 0x80) === 0) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  if (buf[t.end - 1]! & 0x80) throw new DerError('truncated OBJECT IDENTIFIER');
  return parts.join('.');
}

export interface RawExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** The extnValue OCTET STRING's contents. */
  readonly value: Uint8Array;
}

/** The extensions of an X.509 certificate (empty when it has none). */
export function certificateExtensions(der: Uint8Array): RawExtension[] {
  const cert = readTlv(der, 0);
  if (cert.tag !== 0x30 || cert.end !== der.length) throw new DerError('not a single DER SEQUENCE');
  const tbs = children(der, cert)[0];
  if (tbs?.tag !== 0x30) throw new DerError('no tbsCertificate');
  const ext = children(der, tbs).find((t) => t.tag === 0xa3);
  if (!ext) return [];
  const list = children(der, ext);
  if (list.length !== 1 || list[0]!.tag !== 0x30) throw new DerError('extensions are not one SEQUENCE');
  return children(der, list[0]!).map((e) => {
    const parts = children(der, e);
    if (e.tag !== 0x30 || parts.length < 2 || parts.length > 3) throw new DerError('malformed Extension');
    const critical = parts.length === 3 ? boolean(der, parts[1]!) : false;
    const value = parts[parts.length - 1]!;
    if (value.tag !== 0x04) throw new DerError('extnValue is not an OCTET STRING');
    return { oid: oid(der, parts[0]!), critical, value: der.subarray(value.start, value.end) };
  });
}

function boolean(buf: Uint8Array, t: Tlv): boolean {
  if (t.tag !== 0x01 || t.end - t.start !== 1) throw new DerError('expected a BOOLEAN');
  return buf[t.start] !== 0;
}

/** A non-negative INTEGER that fits a JS number. */
export function smallInteger(buf: Uint8Array, t: Tlv): number {
  if (t.tag !== 0x02 || t.end === t.start || t.end - t.start > 6) throw new DerError('expected a small INTEGER');
  if (buf[t.start]! & 0x80) throw new DerError('negative INTEGER');
  let n = 0;
  for (let i = t.start; i < t.end; i++) n = n * 256 + buf[i]!;
  return n;
}
