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

/**
 * Whose CVM a reference-value entry describes. `node`: a confidential node's CVM, attested by the
 * node agent (the confidential-node model, which trusts the cluster admin); `pod`: the pod VM of a
 * workload (Kata / Confidential Containers); `coordinator`: the Coordinator's own pod VM. Evidence
 * is appraised only against the entries of its own role. Absent means `node`.
 */
export type CvmRole = 'node' | 'pod' | 'coordinator';
export const CVM_ROLES: readonly CvmRole[] = ['node', 'pod', 'coordinator'];

/** SEV firmware version as the report gives it (CURRENT_MAJOR/MINOR/BUILD). */
export interface SnpFirmwareVersion {
  major: number;
  minor: number;
  build: number;
}

/**
 * Requirements on PLATFORM_INFO, the host's configuration as the firmware reports it. Absent
 * fields keep the default; reserved bits are always refused.
 */
export interface SnpPlatformInfoRules {
  /** SMT_EN may be set. Default true. */
  allowSMT?: boolean;
  /** TSME_EN may be set. Default true. */
  allowTSME?: boolean;
  /** TIO_EN (SEV-TIO) may be set. Default true. */
  allowTIO?: boolean;
  /** ECC_EN must be set. Default false. */
  requireECC?: boolean;
  /** RAPL_DIS must be set. Default false. */
  requireRAPLDisabled?: boolean;
  /** CIPHERTEXT_HIDING_DRAM_EN must be set. Default false. */
  requireCiphertextHiding?: boolean;
  /** ALIAS_CHECK_COMPLETE must be set (BadRAM mitigation, AMD-SB-3015). Default false. */
  requireAliasCheckComplete?: boolean;
}

/**
 * Requirements on the ID block the VM was launched with. FAMILY_ID, IMAGE_ID and GUEST_SVN are
 * chosen by whoever signs the ID block, so they mean something only with a trusted key.
 */
export interface SnpIdBlockRules {
  /** SHA-384 digests (hex) of trusted ID keys; ID_KEY_DIGEST must be one, unless a trusted author key signed it. */
  idKeyDigests?: string[];
  /** SHA-384 digests (hex) of trusted author keys; with AUTHOR_KEY_EN set, AUTHOR_KEY_DIGEST being one trusts the ID key. */
  authorKeyDigests?: string[];
  /** Allowed FAMILY_ID values (16 bytes hex). */
  familyIds?: string[];
  /** Allowed IMAGE_ID values (16 bytes hex). */
  imageIds?: string[];
  /** Minimum GUEST_SVN. */
  minimumGuestSVN?: number;
}

/**
 * Rules on a report's guest policy, VMPL, platform and firmware: every field optional, and an
 * absent field means the safe default. A Manifest entry carries them beside its measurements;
 * `attestor verify snp` applies them with the same defaults.
 */
export interface SnpRules {
  /** Highest VMPL the report may come from (0 = most privileged). Default 0. */
  maximumVMPL?: number;
  /** Minimum guest ABI version in the guest policy, as "major.minor". */
  minimumGuestABI?: string;
  /** Whether the guest policy may allow SMT. Default true. */
  allowSMT?: boolean;
  /** Whether the guest policy may allow a migration agent (MIGRATE_MA). Default false. */
  allowMigrationAgent?: boolean;
  /** Whether the guest policy may allow CXL (CXL_ALLOW). Default false. */
  allowCXL?: boolean;
  /** The guest policy must restrict the guest to a single socket (SINGLE_SOCKET). Default false. */
  requireSingleSocket?: boolean;
  /** The guest policy must require AES-256-XTS memory encryption (MEM_AES_256_XTS). Default false. */
  requireMemAES256XTS?: boolean;
  /** The guest policy must require RAPL to be disabled (RAPL_DIS). Default false. */
  requireRAPLDisabled?: boolean;
  /** The guest policy must require ciphertext hiding for DRAM (CIPHERTEXT_HIDING_DRAM). Default false. */
  requireCiphertextHiding?: boolean;
  /** The guest policy must disable page swapping (PAGE_SWAP_DISABLE). Default false. */
  requirePageSwapDisabled?: boolean;
  /** Requirements on PLATFORM_INFO; reserved bits are refused whatever this says. */
  platformInfo?: SnpPlatformInfoRules;
  /** Accept a report whose CURRENT firmware differs from COMMITTED (provisional firmware). Default false. */
  allowProvisionalFirmware?: boolean;
  /** Minimum firmware version (major, minor, build, in that order); compared with CURRENT and COMMITTED. */
  minimumFirmware?: SnpFirmwareVersion;
  /** Mitigation bits (a 64-bit value as 16 hex digits, most significant first) that a version 5+ report must have set. */
  minimumMitigationVector?: { launch?: string; current?: string };
  /** ID block requirements; absent: not checked. */
  idBlock?: SnpIdBlockRules;
}

export interface SnpReferenceValues extends SnpRules {
  /** Optional label shown in verdicts (e.g. "kata-qemu-snp 3.18 on Genoa"). */
  name?: string;
  /** Whose CVM this entry describes; default `node`. */
  role?: CvmRole;
  /** Allowed launch measurements (48 bytes each, 96 hex chars). Any one matches. */
  measurements: string[];
  /** Minimum TCB; compared with REPORTED_TCB, COMMITTED_TCB, LAUNCH_TCB and CURRENT_TCB. */
  minimumTCB: SnpTcb;
  /** Allowed products; empty or absent means any known product. */
  products?: SnpProduct[];
  /** Allowed signing keys; absent means both. */
  signingKeys?: Array<'vcek' | 'vlek'>;
}

export interface TdxReferenceValues {
  name?: string;
  /** Whose CVM this entry describes; default `node`. */
  role?: CvmRole;
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
