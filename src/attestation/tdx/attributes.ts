/**
 * The bits a TD may have in TDATTRIBUTES and XFAM, whatever the Manifest says: the fixed-0 and
 * fixed-1 masks of go-tdx-guest's validate package (a bit clear in FIXED0 must be clear, a bit set
 * in FIXED1 must be set). TDATTRIBUTES may only carry DEBUG (refused on its own, see appraise.ts),
 * SEPT_VE_DISABLE, PKS and PERFMON: MIGRATABLE (a migration TD can export the TD's memory), KL
 * and every reserved bit are refused. XFAM must enable x87 and SSE and may enable only the
 * extended features a TD can use safely.
 */

/** A bit clear here must be clear in TDATTRIBUTES: DEBUG (0), SEPT_VE_DISABLE (28), PKS (30), PERFMON (63). */
export const TD_ATTRIBUTES_FIXED0 = (1n << 0n) | (1n << 28n) | (1n << 30n) | (1n << 63n);
/** A bit set here must be set in TDATTRIBUTES: none. */
export const TD_ATTRIBUTES_FIXED1 = 0n;
/** A bit clear here must be clear in XFAM. */
export const XFAM_FIXED0 = 0x0006dbe7n;
/** A bit set here must be set in XFAM: x87 (0) and SSE (1). */
export const XFAM_FIXED1 = 0x00000003n;

const TD_ATTRIBUTE_NAMES: Readonly<Record<number, string>> = { 29: 'MIGRATABLE', 31: 'KL' };

/** The field as an unsigned 64-bit little-endian integer; undefined unless it is 8 bytes. */
export function littleEndian64(bytes: Uint8Array): bigint | undefined {
  if (bytes.length !== 8) return undefined;
  return Buffer.from(bytes.buffer, bytes.byteOffset, 8).readBigUInt64LE(0);
}

/** What is wrong with TDATTRIBUTES under the fixed masks (8 bytes, little-endian); undefined when nothing. */
export function tdAttributesProblem(value: bigint): string | undefined {
  return maskProblem(value, TD_ATTRIBUTES_FIXED0, TD_ATTRIBUTES_FIXED1, (bit) =>
    TD_ATTRIBUTE_NAMES[bit] ? `${TD_ATTRIBUTE_NAMES[bit]} (bit ${bit})` : `reserved bit ${bit}`,
  );
}

/** What is wrong with XFAM under the fixed masks; undefined when nothing. */
export function xfamProblem(value: bigint): string | undefined {
  return maskProblem(value, XFAM_FIXED0, XFAM_FIXED1, (bit) => `bit ${bit}`);
}

function maskProblem(value: bigint, fixed0: bigint, fixed1: bigint, name: (bit: number) => string): string | undefined {
  const forbidden = bits(value & ~fixed0 & 0xffffffffffffffffn);
  const absent = bits(fixed1 & ~value);
  const parts = [
    ...(forbidden.length > 0 ? [`sets ${forbidden.map(name).join(', ')}, which must be clear`] : []),
    ...(absent.length > 0 ? [`clears ${absent.map(name).join(', ')}, which must be set`] : []),
  ];
  return parts.length > 0 ? parts.join(' and ') : undefined;
}

function bits(v: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 64; i++) if ((v >> BigInt(i)) & 1n) out.push(i);
  return out;
}
