/**
 * The guest policy the VM owner fixed at launch (report offset 0x08, AMD SEV-SNP ABI 56860
 * "GUEST_POLICY"; bit names as in go-sev-guest abi.SnpPolicy).
 */

/** Decoded guest policy. */
export interface SnpGuestPolicy {
  abiMajor: number;
  abiMinor: number;
  /** SMT may be enabled on the host. */
  smt: boolean;
  /** A migration agent may be associated with the guest. */
  migrateMA: boolean;
  /** The host may debug (decrypt) the guest: never acceptable for confidential workloads. */
  debug: boolean;
  singleSocket: boolean;
  cxlAllowed: boolean;
  memAes256Xts: boolean;
  raplDisabled: boolean;
  ciphertextHiding: boolean;
  pageSwapDisabled: boolean;
  /** The raw 64-bit value, 16 hex digits. */
  raw: string;
}

const bit = (raw: bigint, n: number): boolean => ((raw >> BigInt(n)) & 1n) === 1n;

export function decodeGuestPolicy(raw: bigint): SnpGuestPolicy {
  return {
    abiMinor: Number(raw & 0xffn),
    abiMajor: Number((raw >> 8n) & 0xffn),
    smt: bit(raw, 16),
    migrateMA: bit(raw, 18),
    debug: bit(raw, 19),
    singleSocket: bit(raw, 20),
    cxlAllowed: bit(raw, 21),
    memAes256Xts: bit(raw, 22),
    raplDisabled: bit(raw, 23),
    ciphertextHiding: bit(raw, 24),
    pageSwapDisabled: bit(raw, 25),
    raw: raw.toString(16).padStart(16, '0'),
  };
}

/** Encodes a policy (the reserved bit 17 is always set, as the firmware requires). */
export function encodeGuestPolicy(p: Partial<Omit<SnpGuestPolicy, 'raw'>>): bigint {
  const flags: Array<[boolean | undefined, number]> = [
    [p.smt, 16], [true, 17], [p.migrateMA, 18], [p.debug, 19], [p.singleSocket, 20], [p.cxlAllowed, 21],
    [p.memAes256Xts, 22], [p.raplDisabled, 23], [p.ciphertextHiding, 24], [p.pageSwapDisabled, 25],
  ];
  let raw = BigInt(p.abiMinor ?? 0) & 0xffn;
  raw |= (BigInt(p.abiMajor ?? 0) & 0xffn) << 8n;
  for (const [on, n] of flags) if (on) raw |= 1n << BigInt(n);
  return raw;
}

/** Format violations: bit 17 must be one, bits 26-63 must be zero (the firmware enforces both). */
export function guestPolicyProblems(raw: bigint): string[] {
  const out: string[] = [];
  if (!bit(raw, 17)) out.push('guest policy bit 17 is reserved and must be 1');
  if (raw >> 26n !== 0n) out.push(`guest policy bits 26-63 are reserved and must be 0 (policy 0x${raw.toString(16)})`);
  return out;
}

/** Compares "major.minor" ABI versions; returns null when `minimum` is not of that form. */
export function abiAtLeast(major: number, minor: number, minimum: string): boolean | null {
  const m = /^(\d{1,3})\.(\d{1,3})$/.exec(minimum.trim());
  if (!m) return null;
  const wantMajor = Number(m[1]);
  const wantMinor = Number(m[2]);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}
