/**
 * The Manifest resource: the reference values the Coordinator appraises evidence against.
 * Cluster-scoped; the active one is the newest Valid Manifest (see controllers/manifest).
 * Its canonical hash (status.hash) is what clients pin.
 */
import type { ReferenceValues } from '../attestation/reference-values.ts';
import {
  type Condition,
  conditionsSchema,
  customResourceDefinition,
  dnsSubdomainPattern,
  durationPattern,
  type GROUP,
  hexSchema,
  type VERSION,
} from './common.ts';
import type { JSONSchemaProps } from './schema.ts';

export const MANIFEST_KIND = 'Manifest';
export const MANIFEST_PLURAL = 'manifests';

export interface PolicyReference {
  /** Short name shown in verdicts and errors. */
  name: string;
  /** SHA-256 of the policy document (Kata agent policy / initdata), lower-case hex. */
  hash: string;
  description?: string;
}

export interface AttestationTiming {
  /** How long a nonce (and so the evidence bound to it) stays usable. Default 5m. */
  evidenceMaxAge?: string;
  /** How often nodes re-attest; an attestation expires after this interval. Default 1h. */
  reattestationInterval?: string;
}

export interface ManifestSpec {
  referenceValues: ReferenceValues;
  policies: PolicyReference[];
  runtimeClasses: string[];
  attestation?: AttestationTiming;
  development?: { acceptSimulatedEvidence?: boolean };
}

export interface ManifestHistoryEntry {
  hash: string;
  generation: number;
  /** When this hash stopped being the current one. */
  replacedAt: string;
}

export interface ManifestStatus {
  hash?: string;
  observedGeneration?: number;
  conditions?: Condition[];
  history?: ManifestHistoryEntry[];
  activeSince?: string;
}

export interface Manifest {
  apiVersion: `${typeof GROUP}/${typeof VERSION}`;
  kind: typeof MANIFEST_KIND;
  metadata: import('@kubernetes/client-node').V1ObjectMeta;
  spec: ManifestSpec;
  status?: ManifestStatus;
}

export const DEFAULT_EVIDENCE_MAX_AGE = '5m';
export const DEFAULT_REATTESTATION_INTERVAL = '1h';
/** How many earlier hashes status.history keeps. */
export const MANIFEST_HISTORY_LIMIT = 20;

const measurement = (what: string) => hexSchema(48, what);

const snpTcbSchema: JSONSchemaProps = {
  type: 'object',
  description:
    'Minimum AMD SEV-SNP TCB: every component of REPORTED_TCB, COMMITTED_TCB, CURRENT_TCB and LAUNCH_TCB must be at least this.',
  required: ['bootloader', 'tee', 'snp', 'microcode'],
  properties: {
    bootloader: { type: 'integer', minimum: 0, maximum: 255, description: 'Boot loader SPL.' },
    tee: { type: 'integer', minimum: 0, maximum: 255, description: 'PSP OS (TEE) SPL.' },
    snp: { type: 'integer', minimum: 0, maximum: 255, description: 'SNP firmware SPL.' },
    microcode: { type: 'integer', minimum: 0, maximum: 255, description: 'CPU microcode SPL.' },
    fmc: { type: 'integer', minimum: 0, maximum: 255, description: 'FMC SPL (Turin only).' },
  },
};

const snpSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Reference values for one kind of AMD SEV-SNP confidential VM.',
  required: ['measurements', 'minimumTCB'],
  properties: {
    name: { type: 'string', maxLength: 63, description: 'Label shown in verdicts.' },
    measurements: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed launch measurements; any one matches.',
      items: measurement('SNP launch measurement'),
    },
    minimumTCB: snpTcbSchema,
    products: {
      type: 'array',
      maxItems: 3,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed processor products; empty means any.',
      items: { type: 'string', enum: ['Milan', 'Genoa', 'Turin'] },
    },
    signingKeys: {
      type: 'array',
      maxItems: 2,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed report signing keys; empty means both.',
      items: { type: 'string', enum: ['vcek', 'vlek'] },
    },
    maximumVMPL: {
      type: 'integer',
      minimum: 0,
      maximum: 3,
      description:
        'Highest VMPL the report may come from (0 is the most privileged). Default 0; a higher value relaxes the check and is reported.',
    },
    minimumGuestABI: {
      type: 'string',
      pattern: '^[0-9]{1,3}\\.[0-9]{1,3}$',
      description: 'Minimum guest policy ABI version, "major.minor".',
    },
    allowSMT: { type: 'boolean', description: 'Whether the guest policy may allow SMT. Default true.' },
    allowMigrationAgent: {
      type: 'boolean',
      description:
        'Accept a guest policy with MIGRATE_MA set (a migration agent may export the guest). Default false; true relaxes the check and is reported.',
    },
    allowCXL: {
      type: 'boolean',
      description:
        'Accept a guest policy with CXL_ALLOW set (CXL devices and memory may hold guest memory). Default false; true relaxes the check and is reported.',
    },
    requireSingleSocket: { type: 'boolean', description: 'Require SINGLE_SOCKET in the guest policy. Default false.' },
    requireMemAES256XTS: {
      type: 'boolean',
      description: 'Require MEM_AES_256_XTS (AES-256-XTS memory encryption) in the guest policy. Default false.',
    },
    requireRAPLDisabled: { type: 'boolean', description: 'Require RAPL_DIS in the guest policy. Default false.' },
    requireCiphertextHiding: {
      type: 'boolean',
      description: 'Require CIPHERTEXT_HIDING_DRAM in the guest policy. Default false.',
    },
    requirePageSwapDisabled: {
      type: 'boolean',
      description: 'Require PAGE_SWAP_DISABLE in the guest policy. Default false.',
    },
    platformInfo: {
      type: 'object',
      description:
        'Requirements on PLATFORM_INFO (the host configuration the firmware reports). Reserved bits are always refused.',
      properties: {
        allowSMT: { type: 'boolean', description: 'SMT may be enabled on the host (SMT_EN). Default true.' },
        allowTSME: { type: 'boolean', description: 'TSME may be enabled on the host (TSME_EN). Default true.' },
        allowTIO: { type: 'boolean', description: 'SEV-TIO may be enabled on the host (TIO_EN). Default true.' },
        requireECC: { type: 'boolean', description: 'Require ECC memory (ECC_EN). Default false.' },
        requireRAPLDisabled: { type: 'boolean', description: 'Require RAPL to be disabled (RAPL_DIS). Default false.' },
        requireCiphertextHiding: {
          type: 'boolean',
          description: 'Require ciphertext hiding for DRAM (CIPHERTEXT_HIDING_DRAM_EN). Default false.',
        },
        requireAliasCheckComplete: {
          type: 'boolean',
          description:
            'Require a completed memory alias check (ALIAS_CHECK_COMPLETE, BadRAM mitigation AMD-SB-3015). Default false.',
        },
      },
    },
    allowProvisionalFirmware: {
      type: 'boolean',
      description:
        'Accept reports from provisional (not yet committed) firmware; COMMITTED must still not be above CURRENT. Default false; true relaxes the check and is reported.',
    },
    minimumFirmware: {
      type: 'object',
      description:
        'Minimum SEV firmware version, ordered by major, then minor, then build; the current and the committed firmware must both meet it. Default: not checked.',
      required: ['major', 'minor', 'build'],
      properties: {
        major: { type: 'integer', minimum: 0, maximum: 255, description: 'API major version (CURRENT_MAJOR).' },
        minor: { type: 'integer', minimum: 0, maximum: 255, description: 'API minor version (CURRENT_MINOR).' },
        build: { type: 'integer', minimum: 0, maximum: 255, description: 'Build (CURRENT_BUILD).' },
      },
    },
    minimumMitigationVector: {
      type: 'object',
      description:
        'Mitigations that must be in force (report version 5 and later; an older report meets only an all-zero vector). Default: not checked.',
      properties: {
        launch: {
          type: 'string',
          pattern: '^[0-9a-f]{16}$',
          description:
            'Bits that must be set in LAUNCH_MIT_VECTOR: the 64-bit value as 16 lower-case hex digits, most significant first.',
        },
        current: {
          type: 'string',
          pattern: '^[0-9a-f]{16}$',
          description:
            'Bits that must be set in CURRENT_MIT_VECTOR: the 64-bit value as 16 lower-case hex digits, most significant first.',
        },
      },
    },
    idBlock: {
      type: 'object',
      description:
        'Requirements on the ID block the VM was launched with. Default: not checked. FAMILY_ID, IMAGE_ID and GUEST_SVN are chosen by the ID key holder, so they need idKeyDigests or authorKeyDigests.',
      properties: {
        idKeyDigests: {
          type: 'array',
          minItems: 1,
          maxItems: 64,
          'x-kubernetes-list-type': 'set',
          description: 'Trusted ID keys: ID_KEY_DIGEST must be one, unless a trusted author key signed the ID key.',
          items: hexSchema(48, 'SHA-384 of an ID public key'),
        },
        authorKeyDigests: {
          type: 'array',
          minItems: 1,
          maxItems: 64,
          'x-kubernetes-list-type': 'set',
          description: 'Trusted author keys: with AUTHOR_KEY_EN set, AUTHOR_KEY_DIGEST being one trusts the ID key.',
          items: hexSchema(48, 'SHA-384 of an author public key'),
        },
        familyIds: {
          type: 'array',
          minItems: 1,
          maxItems: 64,
          'x-kubernetes-list-type': 'set',
          description: 'Allowed FAMILY_ID values.',
          items: hexSchema(16, 'FAMILY_ID'),
        },
        imageIds: {
          type: 'array',
          minItems: 1,
          maxItems: 64,
          'x-kubernetes-list-type': 'set',
          description: 'Allowed IMAGE_ID values.',
          items: hexSchema(16, 'IMAGE_ID'),
        },
        minimumGuestSVN: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'Minimum GUEST_SVN.' },
      },
    },
  },
};

const tdxSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Reference values for one kind of Intel TDX trust domain.',
  required: ['mrTd'],
  properties: {
    name: { type: 'string', maxLength: 63, description: 'Label shown in verdicts.' },
    mrTd: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed MRTD values; any one matches.',
      items: measurement('MRTD'),
    },
    rtmrs: {
      type: 'array',
      maxItems: 4,
      description: 'Expected RTMR0..RTMR3 in order; a null or empty entry is not checked.',
      items: {
        type: 'string',
        nullable: true,
        pattern: '^([0-9a-f]{96})?$',
        description: 'RTMR value (48 bytes as 96 lower-case hex characters), or empty/null to skip.',
      },
    },
    mrSeam: {
      type: 'array',
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed MRSEAM values (TDX module); empty means any Intel-signed module.',
      items: measurement('MRSEAM'),
    },
    xfam: hexSchema(
      8,
      "Expected XFAM, exactly; absent: any XFAM within the fixed bits every TD must meet (x87 and SSE set, no feature outside go-tdx-guest's XFAM mask)",
    ),
    tdAttributes: hexSchema(
      8,
      'Expected TDATTRIBUTES, exactly; absent: any within the fixed bits every TD must meet (only SEPT_VE_DISABLE, PKS and PERFMON may be set; DEBUG is always refused)',
    ),
    mrOwner: hexSchema(48, 'Expected MROWNER, exactly; absent: not checked'),
    mrOwnerConfig: hexSchema(48, 'Expected MROWNERCONFIG, exactly; absent: not checked'),
    minimumTeeTcbSvn: hexSchema(16, 'Minimum TEE_TCB_SVN, compared byte by byte'),
    minimumQeSvn: {
      type: 'integer',
      minimum: 0,
      maximum: 65535,
      description:
        "Minimum ISVSVN of the quoting enclave (QE report signed by the PCK key). Absent: not checked beyond the QE identity's TCB status.",
    },
    minimumPceSvn: {
      type: 'integer',
      minimum: 0,
      maximum: 65535,
      description: "Minimum PCE SVN (the PCK certificate's TCB). Absent: not checked beyond the TCB info's TCB status.",
    },
    allowMissingCollateral: {
      type: 'boolean',
      description:
        "Accept quotes matching this entry without the whole of Intel's collateral (TCB info, QE identity, PCK CRL, root CA CRL): the quoting enclave's identity, the TCB status and revocation are then NOT evaluated. Reported in the Relaxed condition. Default false: a quote without complete collateral is refused (tdx.collateral.missing).",
    },
  },
};

const gpuSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Reference values for NVIDIA GPUs in confidential-computing mode.',
  required: ['architectures', 'driverVersions', 'vbiosVersions'],
  properties: {
    architectures: {
      type: 'array',
      minItems: 1,
      maxItems: 2,
      'x-kubernetes-list-type': 'set',
      items: { type: 'string', enum: ['HOPPER', 'BLACKWELL'] },
      description: 'Allowed GPU architectures.',
    },
    driverVersions: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed driver versions as the report spells them, e.g. 550.90.07.',
      items: { type: 'string', pattern: '^[0-9]+\\.[0-9]+(\\.[0-9]+)?$', maxLength: 32 },
    },
    vbiosVersions: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed VBIOS versions as NVIDIA prints them, e.g. 96.00.9F.00.01.',
      items: { type: 'string', pattern: '^[0-9A-F]{2}(\\.[0-9A-F]{2}){4}$', maxLength: 14 },
    },
    rimDigests: {
      type: 'array',
      maxItems: 256,
      'x-kubernetes-list-type': 'set',
      description:
        'SHA-384 digests of the RIM documents the appraisal may use; empty means any RIM signed under the pinned NVIDIA RIM root.',
      items: measurement('RIM document SHA-384'),
    },
    requireRIMs: {
      type: 'boolean',
      description:
        'Require every active GPU measurement to match a trusted driver or VBIOS RIM. Default true. false (a relaxation, reported in the Relaxed condition) accepts GPUs without trusted RIMs; their measurements are then reported as NotEvaluated in the NodeAttestation, and a measurement a trusted RIM contradicts is still refused.',
    },
    requireFWID: {
      type: 'boolean',
      description:
        'Require the FWID in each GPU report, equal to the one in its leaf certificate. Default true. false (a relaxation) accepts firmware that reports none (Hopper with driver 535).',
    },
    ocsp: {
      type: 'object',
      description:
        'Revocation of the GPU device chain (every certificate above the leaf) and of the RIM signer chains, by OCSP answers from the collateral cache or NVIDIA\'s responder. Default: a current answer saying "good" for each certificate.',
      properties: {
        required: {
          type: 'boolean',
          description:
            'Refuse a certificate without a current OCSP answer. Default true. false (a relaxation) skips certificates without one; a forged answer is still refused.',
        },
        allowUnknown: {
          type: 'boolean',
          description: 'Accept the status "unknown". Default false (a relaxation when true).',
        },
        revokedGracePeriodHours: {
          type: 'integer',
          minimum: 0,
          maximum: 8760,
          description:
            'Accept a revoked certificate for this many hours after its revocation time, as nvtrust and Privatemode allow. Default 0: a revoked certificate is refused (a relaxation when above 0).',
        },
      },
    },
  },
};

export const manifestSpecSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Reference values and rules that evidence and workloads must meet.',
  required: ['referenceValues', 'policies', 'runtimeClasses'],
  properties: {
    referenceValues: {
      type: 'object',
      description: 'What genuine, acceptable CVMs and GPUs measure to.',
      properties: {
        snp: {
          type: 'array',
          maxItems: 32,
          items: snpSchema,
          description: 'AMD SEV-SNP reference values; a report is accepted when it meets any entry.',
        },
        tdx: {
          type: 'array',
          maxItems: 32,
          items: tdxSchema,
          description: 'Intel TDX reference values; a quote is accepted when it meets any entry.',
        },
        gpu: gpuSchema,
      },
      'x-kubernetes-validations': [
        {
          rule: '(has(self.snp) && size(self.snp) > 0) || (has(self.tdx) && size(self.tdx) > 0)',
          message: 'at least one CVM platform (snp or tdx) needs reference values',
        },
      ],
    },
    policies: {
      type: 'array',
      minItems: 1,
      maxItems: 256,
      description:
        'Workload policies (Kata agent policy / initdata) that may run: the CVM carries the SHA-256 in SNP HOST_DATA or TDX MRCONFIGID, pods in the annotation attestor.dev/policy.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: {
        type: 'object',
        required: ['name', 'hash'],
        properties: {
          name: {
            type: 'string',
            minLength: 1,
            maxLength: 63,
            pattern: dnsSubdomainPattern,
            description: 'Name of the policy.',
          },
          hash: hexSchema(32, 'SHA-256 of the policy document'),
          description: { type: 'string', maxLength: 1024 },
        },
      },
      'x-kubernetes-validations': [
        {
          rule: 'self.all(p, self.exists_one(q, q.hash == p.hash))',
          message: 'each policy hash may be listed only once',
        },
      ],
    },
    runtimeClasses: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      'x-kubernetes-list-type': 'set',
      description:
        'RuntimeClass names of confidential runtimes that AI worker pods may use (e.g. kata-qemu-nvidia-gpu-snp).',
      items: { type: 'string', maxLength: 253, pattern: dnsSubdomainPattern },
    },
    attestation: {
      type: 'object',
      description: 'Attestation timing.',
      properties: {
        evidenceMaxAge: {
          type: 'string',
          pattern: durationPattern,
          default: DEFAULT_EVIDENCE_MAX_AGE,
          description: 'How long a nonce, and the evidence bound to it, stays usable (Go duration). Default 5m.',
        },
        reattestationInterval: {
          type: 'string',
          pattern: durationPattern,
          default: DEFAULT_REATTESTATION_INTERVAL,
          description: 'How often nodes re-attest; an attestation expires after it (Go duration). Default 1h.',
        },
      },
      'x-kubernetes-validations': [
        {
          rule: "!has(self.reattestationInterval) || duration(self.reattestationInterval) >= duration('30s')",
          message: 'reattestationInterval must be at least 30s',
          fieldPath: '.reattestationInterval',
        },
        {
          rule: '!has(self.evidenceMaxAge) || !has(self.reattestationInterval) || duration(self.evidenceMaxAge) <= duration(self.reattestationInterval)',
          message: 'evidenceMaxAge must not exceed reattestationInterval',
          fieldPath: '.evidenceMaxAge',
        },
      ],
    },
    development: {
      type: 'object',
      description: 'Development switches. Never enable in production.',
      properties: {
        acceptSimulatedEvidence: {
          type: 'boolean',
          default: false,
          description:
            'Accept evidence signed by the simulated (test) roots instead of AMD, Intel and NVIDIA. Reported loudly in status and events. Default false.',
        },
      },
    },
  },
};

export const manifestCrd = customResourceDefinition({
  kind: MANIFEST_KIND,
  listKind: 'ManifestList',
  plural: MANIFEST_PLURAL,
  singular: 'manifest',
  shortNames: ['mf'],
  scope: 'Cluster',
  subresources: { status: {} },
  printerColumns: [
    {
      name: 'Active',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Active")].status',
      description: 'Whether this is the Manifest the Coordinator appraises against.',
    },
    { name: 'Valid', type: 'string', jsonPath: '.status.conditions[?(@.type=="Valid")].status' },
    {
      name: 'Hash',
      type: 'string',
      jsonPath: '.status.hash',
      description: 'Canonical SHA-256 of the spec, for clients to pin.',
    },
    {
      name: 'Relaxed',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Relaxed")].status',
      description:
        'Whether the Manifest turns off fail-closed checks (simulated evidence, missing collateral, ...); see the Relaxed condition.',
    },
    { name: 'Simulated', type: 'boolean', jsonPath: '.spec.development.acceptSimulatedEvidence', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  schema: {
    type: 'object',
    description:
      'Manifest holds the reference values (CVM measurements and TCB minimums, workload policy hashes, runtime classes, GPU driver/VBIOS versions and RIMs) that the attestor Coordinator verifies evidence against. Clients pin its hash.',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: manifestSpecSchema,
      status: {
        type: 'object',
        description: 'Observed state, written by the operator.',
        properties: {
          hash: hexSchema(32, 'Canonical SHA-256 of the spec (RFC 8785 JSON)'),
          observedGeneration: { type: 'integer', format: 'int64' },
          activeSince: {
            type: 'string',
            format: 'date-time',
            description: 'When this Manifest became the active one.',
          },
          conditions: conditionsSchema,
          history: {
            type: 'array',
            maxItems: MANIFEST_HISTORY_LIMIT,
            description: 'Earlier hashes of this Manifest, newest first.',
            items: {
              type: 'object',
              required: ['hash', 'generation', 'replacedAt'],
              properties: {
                hash: hexSchema(32, 'Earlier canonical hash'),
                generation: { type: 'integer', format: 'int64' },
                replacedAt: { type: 'string', format: 'date-time' },
              },
            },
          },
        },
      },
    },
  },
});
