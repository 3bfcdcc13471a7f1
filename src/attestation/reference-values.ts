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
  /** Expected XFAM (8 bytes, 16 hex chars); absent: only the fixed bits every TD must meet are checked. */
  xfam?: string;
  /** Expected TDATTRIBUTES (8 bytes, 16 hex chars); absent: only the fixed bits (and no DEBUG) are checked. */
  tdAttributes?: string;
  /** Expected MROWNER (48 bytes); absent means not checked. */
  mrOwner?: string;
  /** Expected MROWNERCONFIG (48 bytes); absent means not checked. */
  mrOwnerConfig?: string;
  /** Minimum TEE_TCB_SVN (16 bytes, 32 hex chars), compared component by component. */
  minimumTeeTcbSvn?: string;
  /** Minimum ISVSVN of the quoting enclave (from the QE report the PCK key signed). */
  minimumQeSvn?: number;
  /** Minimum PCE SVN (from the PCK certificate's TCB). */
  minimumPceSvn?: number;
  /**
   * Accept quotes without the whole of Intel's collateral (TCB info, QE identity, PCK CRL, root CA
   * CRL): the QE's identity, the TCB status and revocation are then not evaluated. Default false.
   */
  allowMissingCollateral?: boolean;
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
  /** Require that every active measurement matches a RIM (driver and VBIOS). Default true. */
  requireRIMs?: boolean;
}

export interface ReferenceValues {
  snp?: SnpReferenceValues[];
  tdx?: TdxReferenceValues[];
  gpu?: GpuReferenceValues;
}
