/**
 * PLATFORM_INFO (report offset 0x40): how the host is configured, as the firmware reports it.
 * Bit positions as in go-sev-guest abi.ParseSnpPlatformInfo: SMT_EN 0, TSME_EN 1, ECC_EN 2,
 * RAPL_DIS 3, CIPHERTEXT_HIDING_DRAM_EN 4, ALIAS_CHECK_COMPLETE 5, TIO_EN 7; bit 6 and bits 8-63
 * are reserved.
 */
import type { SnpPlatformInfoRules } from '../reference-values.ts';
import { type Reason, reason } from '../verdict.ts';
import type { SnpCheck } from './checks.ts';

export interface SnpPlatformInfo {
  smtEnabled: boolean;
  tsmeEnabled: boolean;
  eccEnabled: boolean;
  raplDisabled: boolean;
  ciphertextHidingEnabled: boolean;
  aliasCheckComplete: boolean;
  tioEnabled: boolean;
  /** The raw 64-bit value, 16 hex digits. */
  raw: string;
}

/** The bits AMD's ABI defines (0-5 and 7). */
const DEFINED_BITS = 0b1011_1111n;

const bitOf = (raw: bigint, n: number): boolean => ((raw >> BigInt(n)) & 1n) === 1n;

export function decodePlatformInfo(raw: bigint): SnpPlatformInfo {
  return {
    smtEnabled: bitOf(raw, 0),
    tsmeEnabled: bitOf(raw, 1),
    eccEnabled: bitOf(raw, 2),
    raplDisabled: bitOf(raw, 3),
    ciphertextHidingEnabled: bitOf(raw, 4),
    aliasCheckComplete: bitOf(raw, 5),
    tioEnabled: bitOf(raw, 7),
    raw: raw.toString(16).padStart(16, '0'),
  };
}

/** Encodes platform info flags (reserved bits zero), for simulators and tests. */
export function encodePlatformInfo(p: Partial<Omit<SnpPlatformInfo, 'raw'>>): bigint {
  const flags: Array<[boolean | undefined, number]> = [
    [p.smtEnabled, 0],
    [p.tsmeEnabled, 1],
    [p.eccEnabled, 2],
    [p.raplDisabled, 3],
    [p.ciphertextHidingEnabled, 4],
    [p.aliasCheckComplete, 5],
    [p.tioEnabled, 7],
  ];
  let raw = 0n;
  for (const [on, n] of flags) if (on) raw |= 1n << BigInt(n);
  return raw;
}

/**
 * Reasons why the platform breaks the rules. Reserved bits are always refused: a bit the ABI
 * does not define describes a host state nobody here can judge (bit 7 was reserved until SEV-TIO).
 */
export function platformInfoReasons(raw: bigint, rules: SnpPlatformInfoRules = {}): Reason[] {
  const out: Reason[] = [];
  const reserved = raw & ~DEFINED_BITS;
  if (reserved !== 0n) {
    const bits = [...Array(64).keys()].filter((n) => bitOf(reserved, n));
    out.push(
      reason(
        'snp.platform.reserved',
        `PLATFORM_INFO 0x${raw.toString(16)} sets reserved bit${bits.length > 1 ? 's' : ''} ${bits.join(', ')}`,
      ),
    );
  }
  const p = decodePlatformInfo(raw);
  const forbidden: Array<[boolean | undefined, boolean, SnpCheck, string]> = [
    [rules.allowSMT, p.smtEnabled, 'snp.platform.smt', 'SMT is enabled on the host (SMT_EN)'],
    [rules.allowTSME, p.tsmeEnabled, 'snp.platform.tsme', 'TSME is enabled on the host (TSME_EN)'],
    [rules.allowTIO, p.tioEnabled, 'snp.platform.tio', 'SEV-TIO is enabled on the host (TIO_EN)'],
  ];
  for (const [allowed, set, check, what] of forbidden)
    if (allowed === false && set) out.push(reason(check, `${what}, which the rules forbid`));
  const required: Array<[boolean | undefined, boolean, SnpCheck, string]> = [
    [rules.requireECC, p.eccEnabled, 'snp.platform.ecc', 'ECC memory is not enabled (ECC_EN)'],
    [rules.requireRAPLDisabled, p.raplDisabled, 'snp.platform.rapl-dis', 'RAPL is not disabled (RAPL_DIS)'],
    [
      rules.requireCiphertextHiding,
      p.ciphertextHidingEnabled,
      'snp.platform.ciphertext-hiding',
      'ciphertext hiding for DRAM is not enabled (CIPHERTEXT_HIDING_DRAM_EN)',
    ],
    [
      rules.requireAliasCheckComplete,
      p.aliasCheckComplete,
      'snp.platform.alias-check',
      'the memory alias check has not completed (ALIAS_CHECK_COMPLETE)',
    ],
  ];
  for (const [want, set, check, what] of required)
    if (want && !set) out.push(reason(check, `${what}, which the rules require`));
  return out;
}
