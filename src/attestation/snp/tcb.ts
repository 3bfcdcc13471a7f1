/**
 * TCB_VERSION: a little-endian 64-bit field of security patch levels (SPLs). Its layout depends
 * on the product (AMD SEV-SNP ABI 56860, go-sev-guest kds.TCBVersion / kds.TCBVersionTurin):
 *
 *   byte:          0     1     2     3     4     5     6     7
 *   Milan, Genoa:  BL    TEE   rsvd  rsvd  rsvd  rsvd  SNP   UCODE
 *   Turin:         FMC   BL    TEE   SNP   rsvd  rsvd  rsvd  UCODE
 */
import type { SnpProduct, SnpTcb } from '../reference-values.ts';

/** A decoded TCB plus its raw value (16 hex digits, most significant byte first, as AMD tools print it). */
export interface SnpTcbClaims extends SnpTcb {
  raw: string;
}

const COMPONENTS = ['bootloader', 'tee', 'snp', 'microcode', 'fmc'] as const;

type Layout = Readonly<Record<(typeof COMPONENTS)[number], number | null>>;

// Byte index of each component in the little-endian 64-bit value.
const MILAN_GENOA: Layout = { bootloader: 0, tee: 1, snp: 6, microcode: 7, fmc: null };
const TURIN: Layout = { fmc: 0, bootloader: 1, tee: 2, snp: 3, microcode: 7 };

function layout(product: SnpProduct | null): Layout {
  // Without a known product the Milan/Genoa layout is the historical default.
  return product === 'Turin' ? TURIN : MILAN_GENOA;
}

function byteAt(raw: bigint, index: number): number {
  return Number((raw >> BigInt(8 * index)) & 0xffn);
}

/** Splits a raw TCB_VERSION into its SPLs for the given product. */
export function decodeTcb(raw: bigint, product: SnpProduct | null): SnpTcb {
  const l = layout(product);
  const tcb: SnpTcb = {
    bootloader: byteAt(raw, l.bootloader!),
    tee: byteAt(raw, l.tee!),
    snp: byteAt(raw, l.snp!),
    microcode: byteAt(raw, l.microcode!),
  };
  if (l.fmc !== null) tcb.fmc = byteAt(raw, l.fmc);
  return tcb;
}

/**
 * Composes a raw TCB_VERSION. `reserved` fills the reserved bytes in order (Milan/Genoa: the
 * spl4-spl7 certificate extensions; Turin: spl5-spl7), so that a certificate's TCB compares
 * with a report's bit for bit.
 */
export function encodeTcb(tcb: SnpTcb, product: SnpProduct | null, reserved: readonly number[] = []): bigint {
  const l = layout(product);
  const bytes = new Array<number>(8).fill(0);
  bytes[l.bootloader!] = tcb.bootloader;
  bytes[l.tee!] = tcb.tee;
  bytes[l.snp!] = tcb.snp;
  bytes[l.microcode!] = tcb.microcode;
  if (l.fmc !== null) bytes[l.fmc] = tcb.fmc ?? 0;
  const used = new Set(Object.values(l).filter((i): i is number => i !== null));
  let r = 0;
  for (let i = 0; i < 8; i++) if (!used.has(i)) bytes[i] = reserved[r++] ?? 0;
  let raw = 0n;
  for (let i = 7; i >= 0; i--) raw = (raw << 8n) | BigInt(bytes[i]! & 0xff);
  return raw;
}

/** The TCB as claims: decoded components plus the raw value. */
export function tcbClaims(raw: bigint, product: SnpProduct | null): SnpTcbClaims {
  return { ...decodeTcb(raw, product), raw: raw.toString(16).padStart(16, '0') };
}

/** Components of `actual` below `minimum`, e.g. ["snp 5 < 8"]; empty when the minimum is met. */
export function tcbShortfalls(actual: SnpTcb, minimum: SnpTcb): string[] {
  const out: string[] = [];
  for (const c of COMPONENTS) {
    const want = minimum[c];
    if (want === undefined) continue;
    const have = actual[c] ?? 0;
    if (have < want) out.push(`${c} ${have} < ${want}`);
  }
  return out;
}

/**
 * Components of raw TCB `a` above those of raw TCB `b`, e.g. ["snp 9 > 8"]; empty when `a` <= `b`
 * in every byte. All eight bytes count, reserved ones too (go-sev-guest kds.TCBPartsLE), so the
 * result does not depend on the layout; the product only names the components.
 */
export function tcbAbove(a: bigint, b: bigint, product: SnpProduct | null): string[] {
  const names = new Map(
    Object.entries(layout(product))
      .filter(([, i]) => i !== null)
      .map(([name, i]) => [i as number, name]),
  );
  const out: string[] = [];
  for (let i = 0; i < 8; i++) {
    const x = byteAt(a, i);
    const y = byteAt(b, i);
    if (x > y) out.push(`${names.get(i) ?? `reserved byte ${i}`} ${x} > ${y}`);
  }
  return out;
}

/** Short text form, e.g. "bl=2 tee=0 snp=5 ucode=68". */
export function formatTcb(tcb: SnpTcb): string {
  const fmc = tcb.fmc === undefined ? '' : `fmc=${tcb.fmc} `;
  return `${fmc}bl=${tcb.bootloader} tee=${tcb.tee} snp=${tcb.snp} ucode=${tcb.microcode}`;
}
