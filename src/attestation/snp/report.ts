/**
 * The SEV-SNP ATTESTATION_REPORT structure, versions 2 to 5 (AMD SEV-SNP ABI 56860, Table 23;
 * offsets checked against google/go-sev-guest abi.ReportToProto). Parsing only: no field is
 * trusted here, the signature is checked in signature.ts.
 */
import type { SnpFirmwareVersion } from '../reference-values.ts';
import { ParseError } from '../verdict.ts';
import { keyInfoProblems } from './key-info.ts';
import { guestPolicyProblems } from './policy.ts';

/** Size of every report version 2-5. */
export const SNP_REPORT_SIZE = 0x4a0;
/** The signature covers bytes 0x000-0x29F. */
export const SNP_SIGNED_LENGTH = 0x2a0;
export const SNP_SIGNATURE_R_OFFSET = 0x2a0;
export const SNP_SIGNATURE_S_OFFSET = 0x2e8;
/** r and s are 72-byte little-endian integers; P-384 needs only the low 48 bytes. */
export const SNP_SIGNATURE_COMPONENT_SIZE = 72;
export const SNP_MIN_VERSION = 2;
export const SNP_MAX_VERSION = 5;
/** SIGNATURE_ALGO value for ECDSA P-384 with SHA-384, the only one defined. */
export const SNP_SIG_ALGO_ECDSA_P384_SHA384 = 1;

export type { SnpFirmwareVersion };

export interface SnpCpuid {
  family: number;
  model: number;
  stepping: number;
}

/** A parsed report: fixed-size byte fields are copies, 64-bit fields are bigints. */
export interface SnpReport {
  /** The whole report as given (a copy). */
  readonly bytes: Uint8Array;
  readonly version: number;
  readonly guestSvn: number;
  readonly policy: bigint;
  readonly familyId: Uint8Array;
  readonly imageId: Uint8Array;
  readonly vmpl: number;
  readonly signatureAlgorithm: number;
  readonly currentTcb: bigint;
  readonly platformInfo: bigint;
  readonly keyInfo: number;
  readonly reportData: Uint8Array;
  readonly measurement: Uint8Array;
  readonly hostData: Uint8Array;
  readonly idKeyDigest: Uint8Array;
  readonly authorKeyDigest: Uint8Array;
  readonly reportId: Uint8Array;
  readonly reportIdMa: Uint8Array;
  readonly reportedTcb: bigint;
  /** Version 3 and later; null before. */
  readonly cpuid: SnpCpuid | null;
  readonly chipId: Uint8Array;
  readonly committedTcb: bigint;
  readonly currentFirmware: SnpFirmwareVersion;
  readonly committedFirmware: SnpFirmwareVersion;
  readonly launchTcb: bigint;
  /** Version 5 and later; null before. */
  readonly launchMitVector: bigint | null;
  readonly currentMitVector: bigint | null;
  /** Little-endian r and s, 72 bytes each. */
  readonly signatureR: Uint8Array;
  readonly signatureS: Uint8Array;
}

/** Parses a report; throws ParseError (never anything else) for input that is not one. */
export function parseSnpReport(input: Uint8Array): SnpReport {
  if (!(input instanceof Uint8Array)) throw new ParseError('snp.report.length', 'report is not a byte array');
  if (input.length !== SNP_REPORT_SIZE) {
    throw new ParseError('snp.report.length', `report is ${input.length} bytes, expected ${SNP_REPORT_SIZE}`);
  }
  const b = input.slice();
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (o: number): number => v.getUint32(o, true);
  const u64 = (o: number): bigint => v.getBigUint64(o, true);
  const bytes = (o: number, n: number): Uint8Array => b.slice(o, o + n);
  const version = u32(0x00);
  if (version < SNP_MIN_VERSION || version > SNP_MAX_VERSION) {
    throw new ParseError(
      'snp.report.version',
      `report version ${version} is not supported (${SNP_MIN_VERSION}-${SNP_MAX_VERSION})`,
    );
  }
  return {
    bytes: b,
    version,
    guestSvn: u32(0x04),
    policy: u64(0x08),
    familyId: bytes(0x10, 16),
    imageId: bytes(0x20, 16),
    vmpl: u32(0x30),
    signatureAlgorithm: u32(0x34),
    currentTcb: u64(0x38),
    platformInfo: u64(0x40),
    keyInfo: u32(0x48),
    reportData: bytes(0x50, 64),
    measurement: bytes(0x90, 48),
    hostData: bytes(0xc0, 32),
    idKeyDigest: bytes(0xe0, 48),
    authorKeyDigest: bytes(0x110, 48),
    reportId: bytes(0x140, 32),
    reportIdMa: bytes(0x160, 32),
    reportedTcb: u64(0x180),
    cpuid: version >= 3 ? { family: b[0x188]!, model: b[0x189]!, stepping: b[0x18a]! } : null,
    chipId: bytes(0x1a0, 64),
    committedTcb: u64(0x1e0),
    currentFirmware: { build: b[0x1e8]!, minor: b[0x1e9]!, major: b[0x1ea]! },
    committedFirmware: { build: b[0x1ec]!, minor: b[0x1ed]!, major: b[0x1ee]! },
    launchTcb: u64(0x1f0),
    launchMitVector: version >= 5 ? u64(0x1f8) : null,
    currentMitVector: version >= 5 ? u64(0x200) : null,
    signatureR: bytes(SNP_SIGNATURE_R_OFFSET, SNP_SIGNATURE_COMPONENT_SIZE),
    signatureS: bytes(SNP_SIGNATURE_S_OFFSET, SNP_SIGNATURE_COMPONENT_SIZE),
  };
}

/** The signed part of the report, bytes 0x000-0x29F. */
export function signedBytes(report: SnpReport): Uint8Array {
  return report.bytes.subarray(0, SNP_SIGNED_LENGTH);
}

/** Signed ranges that must be zero for the report's version: [start, end) pairs. */
export function reservedRanges(version: number): Array<[number, number]> {
  return [
    [0x4c, 0x50],
    [version >= 3 ? 0x18b : 0x188, 0x1a0],
    [0x1eb, 0x1ec],
    [0x1ef, 0x1f0],
    [version >= 5 ? 0x208 : 0x1f8, SNP_SIGNED_LENGTH],
  ];
}

/**
 * Format violations inside the signed part: reserved bytes, reserved policy and key-info bits.
 * The firmware never produces them, so a signed report with one is not from conforming firmware.
 * Bytes after the signature (0x330-0x49F) are not signed and deliberately not checked: they carry
 * no information an attacker could not change anyway.
 */
export function reportFormatProblems(report: SnpReport): string[] {
  const out: string[] = [];
  for (const [start, end] of reservedRanges(report.version)) {
    const i = report.bytes.subarray(start, end).findIndex((x) => x !== 0);
    if (i >= 0) out.push(`reserved byte 0x${(start + i).toString(16)} is not zero`);
  }
  out.push(...guestPolicyProblems(report.policy), ...keyInfoProblems(report.keyInfo));
  return out;
}
