/**
 * The schema of a Manifest's `spec.referenceValues.gpu` (NVIDIA GPUs in confidential-computing
 * mode): architectures, driver and VBIOS versions, RIMs, FWID and OCSP
 * (src/attestation/nvidia/appraise.ts applies them). Each description states the safe default.
 */
import { hexSchema } from './common.ts';
import type { JSONSchemaProps } from './schema.ts';

export const gpuReferenceValuesSchema: JSONSchemaProps = {
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
      items: hexSchema(48, 'RIM document SHA-384'),
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
