/**
 * The schema of a Manifest's `spec.referenceValues.snp[]` entry (AMD SEV-SNP): measurements, the
 * TCB minimum, and the rules on guest policy, VMPL, PLATFORM_INFO, firmware, mitigation vectors and
 * ID block (src/attestation/snp/rules.ts applies them). Each description states the safe default.
 */
import { hexSchema } from './common.ts';
import { cvmRoleSchema } from './manifest-roles.ts';
import type { JSONSchemaProps } from './schema.ts';

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

export const snpReferenceValuesSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Reference values for one kind of AMD SEV-SNP confidential VM.',
  required: ['measurements', 'minimumTCB'],
  properties: {
    name: { type: 'string', maxLength: 63, description: 'Label shown in verdicts.' },
    role: cvmRoleSchema,
    measurements: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed launch measurements; any one matches.',
      items: hexSchema(48, 'SNP launch measurement'),
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
