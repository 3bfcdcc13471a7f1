/**
 * PLATFORM_INFO (report offset 0x40): how the host is configured. Informational: the host sets
 * these bits, and only some appraisals care (SMT).
 */

export interface SnpPlatformInfo {
  smtEnabled: boolean;
  tsmeEnabled: boolean;
  eccEnabled: boolean;
  raplDisabled: boolean;
  ciphertextHidingEnabled: boolean;
  aliasCheckComplete: boolean;
  /** The raw 64-bit value, 16 hex digits (bits beyond 5 are kept here, not interpreted). */
  raw: string;
}

export function decodePlatformInfo(raw: bigint): SnpPlatformInfo {
  const bit = (n: number): boolean => ((raw >> BigInt(n)) & 1n) === 1n;
  return {
    smtEnabled: bit(0),
    tsmeEnabled: bit(1),
    eccEnabled: bit(2),
    raplDisabled: bit(3),
    ciphertextHidingEnabled: bit(4),
    aliasCheckComplete: bit(5),
    raw: raw.toString(16).padStart(16, '0'),
  };
}
