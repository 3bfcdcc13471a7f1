/**
 * The guest policy the VM owner fixed at launch (report offset 0x08, AMD SEV-SNP ABI 56860
 * "GUEST_POLICY"; bit positions as in go-sev-guest abi.SnpPolicy: ABI minor 0-7, major 8-15,
 * SMT 16, reserved-must-be-one 17, MIGRATE_MA 18, DEBUG 19, SINGLE_SOCKET 20, CXL_ALLOW 21,
 * MEM_AES_256_XTS 22, RAPL_DIS 23, CIPHERTEXT_HIDING_DRAM 24, PAGE_SWAP_DISABLE 25).
 */
import type { SnpRules } from '../reference-values.ts';
import { type Reason, reason } from '../verdict.ts';
import type { SnpCheck } from './checks.ts';

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
    [p.smt, 16],
    [true, 17],
    [p.migrateMA, 18],
    [p.debug, 19],
    [p.singleSocket, 20],
    [p.cxlAllowed, 21],
    [p.memAes256Xts, 22],
    [p.raplDisabled, 23],
    [p.ciphertextHiding, 24],
    [p.pageSwapDisabled, 25],
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

/** What the guest policy may allow or must require: the Manifest's rules plus the CLI-only debug switch. */
export type GuestPolicyRules = Pick<
  SnpRules,
  | 'minimumGuestABI'
  | 'allowSMT'
  | 'allowMigrationAgent'
  | 'allowCXL'
  | 'requireSingleSocket'
  | 'requireMemAES256XTS'
  | 'requireRAPLDisabled'
  | 'requireCiphertextHiding'
  | 'requirePageSwapDisabled'
> & { allowDebug?: boolean };

/**
 * Reasons why the guest policy breaks the rules. Refused by default: DEBUG (the host can read
 * guest memory), MIGRATE_MA (a migration agent can export the guest) and CXL_ALLOW (CXL devices
 * or memory outside the CPU package can hold guest memory). The require* rules refuse a policy
 * without the bit: the firmware then enforced nothing of the kind.
 */
export function guestPolicyReasons(policy: SnpGuestPolicy, rules: GuestPolicyRules): Reason[] {
  const out: Reason[] = [];
  if (policy.debug && !rules.allowDebug)
    out.push(
      reason('snp.policy.debug', 'guest policy allows debugging (DEBUG, bit 19): the host can read guest memory'),
    );
  if (policy.migrateMA && !rules.allowMigrationAgent) {
    out.push(
      reason(
        'snp.policy.migrate-ma',
        "guest policy allows a migration agent (MIGRATE_MA, bit 18): it can export the guest's memory",
      ),
    );
  }
  if (policy.cxlAllowed && !rules.allowCXL)
    out.push(reason('snp.policy.cxl', 'guest policy allows CXL devices and memory (CXL_ALLOW, bit 21)'));
  if (policy.smt && rules.allowSMT === false)
    out.push(reason('snp.policy.smt', 'guest policy allows SMT (bit 16), which the rules forbid'));
  const required: Array<[boolean | undefined, boolean, SnpCheck, string]> = [
    [rules.requireSingleSocket, policy.singleSocket, 'snp.policy.single-socket', 'SINGLE_SOCKET, bit 20'],
    [rules.requireMemAES256XTS, policy.memAes256Xts, 'snp.policy.mem-aes-256-xts', 'MEM_AES_256_XTS, bit 22'],
    [rules.requireRAPLDisabled, policy.raplDisabled, 'snp.policy.rapl-dis', 'RAPL_DIS, bit 23'],
    [
      rules.requireCiphertextHiding,
      policy.ciphertextHiding,
      'snp.policy.ciphertext-hiding',
      'CIPHERTEXT_HIDING_DRAM, bit 24',
    ],
    [
      rules.requirePageSwapDisabled,
      policy.pageSwapDisabled,
      'snp.policy.page-swap-disable',
      'PAGE_SWAP_DISABLE, bit 25',
    ],
  ];
  for (const [want, have, check, name] of required)
    if (want && !have) out.push(reason(check, `guest policy does not set ${name}, which the rules require`));
  if (rules.minimumGuestABI !== undefined) {
    const ok = abiAtLeast(policy.abiMajor, policy.abiMinor, rules.minimumGuestABI);
    if (ok === null)
      out.push(reason('snp.policy.abi', `minimumGuestABI "${rules.minimumGuestABI}" is not of the form major.minor`));
    else if (!ok)
      out.push(
        reason(
          'snp.policy.abi',
          `guest policy ABI ${policy.abiMajor}.${policy.abiMinor} is below ${rules.minimumGuestABI}`,
        ),
      );
  }
  return out;
}
