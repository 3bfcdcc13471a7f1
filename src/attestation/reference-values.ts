/**
 * Reference values as the Manifest carries them (spec.referenceValues). Plain data: the
 * Kubernetes types in src/api embed these, the appraisers in this package consume them.
 * Hex strings are lower-case without 0x; field names match the CRD schema.
 */

/** AMD SEV-SNP security version numbers; a minimum is met when every component is >= it. */
export interface SnpTcb {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** Turin only (FMC SPL). */
  fmc?: number;
}

export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';

export interface SnpReferenceValues {
  /** Optional label shown in verdicts (e.g. "kata-qemu-snp 3.18 on Genoa"). */
  name?: string;
  /** Allowed launch measurements (48 bytes each, 96 hex chars). Any one matches. */
  measurements: string[];
  /** Minimum TCB; compared with REPORTED_TCB, COMMITTED_TCB and LAUNCH_TCB. */
  minimumTCB: SnpTcb;
  /** Allowed products; empty or absent means any known product. */
  products?: SnpProduct[];
  /** Allowed signing keys; absent means both. */
  signingKeys?: Array<'vcek' | 'vlek'>;
  /** Highest VMPL the report may come from (0 = most privileged). Default 0. */
  maximumVMPL?: number;
  /** Minimum guest ABI version in the guest policy, as "major.minor". */
  minimumGuestABI?: string;
  /** Whether the guest policy may allow SMT. Default true. */
  allowSMT?: boolean;
  /** Accept a report whose CURRENT firmware differs from COMMITTED (provisional firmware). Default false. */
  allowProvisionalFirmware?: boolean;
}

export interface TdxReferenceValues {
  name?: string;
  /** Allowed MRTD values (48 bytes each). */
  mrTd: string[];
  /** RTMR0..3; an entry that is absent or null is not checked. */
  rtmrs?: Array<string | null>;
  /** Allowed MRSEAM values; absent means any TDX module signed by Intel. */
  mrSeam?: string[];
  /** Expected XFAM (8 bytes, 16 hex chars); absent means not checked. */
  xfam?: string;
  /** Minimum TEE_TCB_SVN (16 bytes, 32 hex chars), compared component by component. */
  minimumTeeTcbSvn?: string;
}

export type GpuArchitecture = 'HOPPER' | 'BLACKWELL';

export interface GpuReferenceValues {
  /** Allowed architectures. */
  architectures: GpuArchitecture[];
  /** Allowed driver versions, exactly as the report's opaque data spells them (e.g. "550.90.07"). */
  driverVersions: string[];
  /** Allowed VBIOS versions, as NVIDIA prints them (e.g. "96.00.9F.00.01"). */
  vbiosVersions: string[];
  /** SHA-384 digests (hex) of the RIM documents the appraisal may use; absent: any RIM that verifies to the pinned NVIDIA RIM root. */
  rimDigests?: string[];
  /**
   * Require that every active measurement matches a RIM (driver and VBIOS). Default true. When
   * false, measurements without a trusted RIM are reported as not evaluated (a mismatch with a
   * trusted RIM is still refused).
   */
  requireRIMs?: boolean;
  /** Require the FWID in the report (and equal to the leaf certificate's). Default true; false accepts older firmware (driver 535 era). */
  requireFWID?: boolean;
  /** Revocation of the device chain (every certificate above the leaf) and the RIM signer chains. */
  ocsp?: GpuOcspPolicy;
}

/** How OCSP answers are judged; every default is the strict one. */
export interface GpuOcspPolicy {
  /** Refuse a certificate without a current OCSP answer. Default true. */
  required?: boolean;
  /** Accept the status "unknown". Default false. */
  allowUnknown?: boolean;
  /** Accept a revoked certificate for this many hours after its revocation time. Default 0 (never). */
  revokedGracePeriodHours?: number;
}

export interface ReferenceValues {
  snp?: SnpReferenceValues[];
  tdx?: TdxReferenceValues[];
  gpu?: GpuReferenceValues;
}
