/**
 * What an SEV-SNP report establishes, as plain JSON-able data (hex lower-case, 64-bit values as
 * 16 hex digits) for verdicts, NodeAttestation status and the CLI.
 */
import { hex } from '../bytes.ts';
import type { SnpProduct } from '../reference-values.ts';
import type { EndorsementCertificate } from './endorsement.ts';
import { decodeKeyInfo, type SnpSigningKey } from './key-info.ts';
import { decodePlatformInfo, type SnpPlatformInfo } from './platform-info.ts';
import { decodeGuestPolicy, type SnpGuestPolicy } from './policy.ts';
import type { SnpCpuid, SnpFirmwareVersion, SnpReport } from './report.ts';
import { type SnpTcbClaims, tcbClaims } from './tcb.ts';

export interface SnpCertificateClaims {
  kind: SnpSigningKey;
  productName: string;
  /** VCEK only. */
  hwId: string | null;
  /** VLEK only. */
  cspId: string | null;
  /** The TCB the certificate was issued for. */
  tcb: SnpTcbClaims;
  notBefore: string;
  notAfter: string;
  /** Product of the pinned ARK the chain ends in; null when no chain was found. */
  root: SnpProduct | null;
}

export interface SnpClaims {
  version: number;
  /** From CPUID (v3+) or else the certificate; null when neither names a known product. */
  product: SnpProduct | null;
  /** Which key the report says signed it. */
  signingKey: SnpSigningKey | null;
  maskChipId: boolean;
  authorKeyEnabled: boolean;
  guestSvn: number;
  policy: SnpGuestPolicy;
  familyId: string;
  imageId: string;
  vmpl: number;
  signatureAlgorithm: number;
  platformInfo: SnpPlatformInfo;
  reportData: string;
  measurement: string;
  hostData: string;
  idKeyDigest: string;
  authorKeyDigest: string;
  reportId: string;
  reportIdMa: string;
  chipId: string;
  currentTcb: SnpTcbClaims;
  reportedTcb: SnpTcbClaims;
  committedTcb: SnpTcbClaims;
  launchTcb: SnpTcbClaims;
  /** Version 3 and later. */
  cpuid: SnpCpuid | null;
  currentFirmware: SnpFirmwareVersion;
  committedFirmware: SnpFirmwareVersion;
  /** Version 5 and later (16 hex digits). */
  launchMitVector: string | null;
  currentMitVector: string | null;
  /** The endorsement certificate, when one could be read. */
  certificate: SnpCertificateClaims | null;
}

/** ISO time, or OpenSSL's text when the certificate's time does not make a valid Date. */
const isoOrRaw = (d: Date, text: string): string => (Number.isNaN(d.getTime()) ? text : d.toISOString());
const u64 = (v: bigint | null): string | null => (v === null ? null : v.toString(16).padStart(16, '0'));

/** Claims of a parsed report, with TCBs decoded for `product`. */
export function snpClaims(
  report: SnpReport,
  product: SnpProduct | null,
  leaf: EndorsementCertificate | null,
  root: SnpProduct | null,
): SnpClaims {
  const key = decodeKeyInfo(report.keyInfo);
  return {
    version: report.version,
    product,
    signingKey: key.signingKey,
    maskChipId: key.maskChipId,
    authorKeyEnabled: key.authorKeyEnabled,
    guestSvn: report.guestSvn,
    policy: decodeGuestPolicy(report.policy),
    familyId: hex(report.familyId),
    imageId: hex(report.imageId),
    vmpl: report.vmpl,
    signatureAlgorithm: report.signatureAlgorithm,
    platformInfo: decodePlatformInfo(report.platformInfo),
    reportData: hex(report.reportData),
    measurement: hex(report.measurement),
    hostData: hex(report.hostData),
    idKeyDigest: hex(report.idKeyDigest),
    authorKeyDigest: hex(report.authorKeyDigest),
    reportId: hex(report.reportId),
    reportIdMa: hex(report.reportIdMa),
    chipId: hex(report.chipId),
    currentTcb: tcbClaims(report.currentTcb, product),
    reportedTcb: tcbClaims(report.reportedTcb, product),
    committedTcb: tcbClaims(report.committedTcb, product),
    launchTcb: tcbClaims(report.launchTcb, product),
    cpuid: report.cpuid,
    currentFirmware: report.currentFirmware,
    committedFirmware: report.committedFirmware,
    launchMitVector: u64(report.launchMitVector),
    currentMitVector: u64(report.currentMitVector),
    certificate: leaf === null ? null : certificateClaims(leaf, root),
  };
}

export function certificateClaims(leaf: EndorsementCertificate, root: SnpProduct | null): SnpCertificateClaims {
  return {
    kind: leaf.kind,
    productName: leaf.productName,
    hwId: leaf.extensions.hwId === null ? null : hex(leaf.extensions.hwId),
    cspId: leaf.extensions.cspId,
    tcb: tcbClaims(leaf.tcb, leaf.product),
    notBefore: isoOrRaw(leaf.x509.validFromDate, leaf.x509.validFrom),
    notAfter: isoOrRaw(leaf.x509.validToDate, leaf.x509.validTo),
    root,
  };
}
