/**
 * The key-info word at report offset 0x48 (go-sev-guest abi.SignerInfo): which key signed the
 * report (SIGNING_KEY, bits 2-4), whether CHIP_ID is masked (bit 1) and whether an author key
 * signed the ID block (bit 0). Bits 5-31 are reserved.
 */

export type SnpSigningKey = 'vcek' | 'vlek';

export interface SnpKeyInfo {
  /** null when SIGNING_KEY is 7 (report not signed) or a reserved value 2-6. */
  signingKey: SnpSigningKey | null;
  /** The raw SIGNING_KEY value (0 VCEK, 1 VLEK, 7 none). */
  signingKeyValue: number;
  /** MASK_CHIP_ID: the host asked for CHIP_ID to be zero. */
  maskChipId: boolean;
  authorKeyEnabled: boolean;
}

export function decodeKeyInfo(raw: number): SnpKeyInfo {
  const value = (raw >>> 2) & 7;
  return {
    signingKey: value === 0 ? 'vcek' : value === 1 ? 'vlek' : null,
    signingKeyValue: value,
    maskChipId: (raw & 2) !== 0,
    authorKeyEnabled: (raw & 1) !== 0,
  };
}

export function encodeKeyInfo(k: {
  signingKey: SnpSigningKey | 'none';
  maskChipId?: boolean;
  authorKeyEnabled?: boolean;
}): number {
  const value = k.signingKey === 'vcek' ? 0 : k.signingKey === 'vlek' ? 1 : 7;
  return (value << 2) | (k.maskChipId ? 2 : 0) | (k.authorKeyEnabled ? 1 : 0);
}

/** Format violations: reserved bits set or a reserved SIGNING_KEY value. */
export function keyInfoProblems(raw: number): string[] {
  const out: string[] = [];
  if (raw >>> 5 !== 0) out.push(`key info bits 5-31 are reserved and must be 0 (0x${raw.toString(16)})`);
  const value = (raw >>> 2) & 7;
  if (value >= 2 && value <= 6) out.push(`SIGNING_KEY ${value} is reserved`);
  return out;
}
