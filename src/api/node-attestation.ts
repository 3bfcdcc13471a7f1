/**
 * The NodeAttestation resource: one per GPU node, named after it, status only. The Coordinator
 * writes the verdict on the node's CVM and GPUs there; the node gating controller opens or closes
 * the node by it.
 */
import { type Condition, conditionsSchema, customResourceDefinition, type GROUP, type VERSION } from './common.ts';
import type { JSONSchemaProps } from './schema.ts';

export const NODE_ATTESTATION_KIND = 'NodeAttestation';
export const NODE_ATTESTATION_PLURAL = 'nodeattestations';

export interface CvmVerdict {
  platform: 'snp' | 'tdx';
  verified: boolean;
  simulated?: boolean;
  measurement?: string;
  tcb?: string;
  policyHash?: string;
  referenceValues?: string;
  /** SEV-SNP REPORT_ID (hex): unique per launch of the CVM; the launch attests this node only. */
  reportId?: string;
  reasons?: string[];
}

export interface GpuVerdict {
  uuid: string;
  architecture?: string;
  driverVersion?: string;
  vbiosVersion?: string;
  /** The device the evidence came from: serial number of the leaf's issuer in its signed chain, hex. */
  deviceId?: string;
  /** The multi-GPU mode the report states (SPT, MPT, PPCIE, LEGACY). */
  mode?: string;
  /** Whether the measurements were compared with trusted RIMs. NotEvaluated only where the Manifest sets requireRIMs: false. */
  measurements?: 'Matched' | 'Mismatched' | 'NotEvaluated';
  verified: boolean;
  activated: boolean;
  reasons?: string[];
}

/** A GPU UUID and the device its verified evidence came from, kept across verdicts. */
export interface GpuBindingStatus {
  uuid: string;
  deviceId: string;
}

export interface NodeAttestationStatus {
  /** The metadata.generation the status was written for. */
  observedGeneration?: number;
  manifestHash?: string;
  cvm?: CvmVerdict;
  gpus?: GpuVerdict[];
  /** Every UUID this node's GPUs were verified under, with the device behind it: a UUID never changes device. */
  gpuBindings?: GpuBindingStatus[];
  attestedAt?: string;
  expiresAt?: string;
  conditions?: Condition[];
}

export interface NodeAttestation {
  apiVersion: `${typeof GROUP}/${typeof VERSION}`;
  kind: typeof NODE_ATTESTATION_KIND;
  metadata: import('@kubernetes/client-node').V1ObjectMeta;
  spec?: Record<string, never>;
  status?: NodeAttestationStatus;
}

const reasons: JSONSchemaProps = {
  type: 'array',
  maxItems: 64,
  items: { type: 'string', maxLength: 1024 },
  description: 'Why the evidence was refused (empty when verified).',
};

export const nodeAttestationCrd = customResourceDefinition({
  kind: NODE_ATTESTATION_KIND,
  listKind: 'NodeAttestationList',
  plural: NODE_ATTESTATION_PLURAL,
  singular: 'nodeattestation',
  shortNames: ['na'],
  scope: 'Cluster',
  subresources: { status: {} },
  printerColumns: [
    { name: 'Attested', type: 'string', jsonPath: '.status.conditions[?(@.type=="Attested")].status' },
    { name: 'GPUs Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="GPUsActivated")].status' },
    { name: 'Platform', type: 'string', jsonPath: '.status.cvm.platform' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Attested")].reason' },
    {
      // A `date` column shows a future time as <invalid>: the time itself says when the node closes.
      name: 'Expires',
      type: 'string',
      jsonPath: '.status.expiresAt',
      description: 'When the attestation stops being current (RFC 3339, UTC).',
    },
    { name: 'Manifest', type: 'string', jsonPath: '.status.manifestHash', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  schema: {
    type: 'object',
    description:
      "NodeAttestation records the Coordinator's verdict on a GPU node: its confidential VM and every GPU, against the active Manifest. Named after the node; written by the operator only.",
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: { type: 'object', description: 'Empty: NodeAttestation is status only.', maxProperties: 0 },
      status: {
        type: 'object',
        description: "The Coordinator's verdict, written by the operator.",
        properties: {
          observedGeneration: {
            type: 'integer',
            format: 'int64',
            description: 'The metadata.generation this status was written for (always 1: the kind has no spec).',
          },
          manifestHash: {
            type: 'string',
            pattern: '^[0-9a-f]{64}$',
            description: 'Hash of the Manifest the verdict was made against.',
          },
          cvm: {
            type: 'object',
            required: ['platform', 'verified'],
            description: 'Verdict on the confidential VM.',
            properties: {
              platform: { type: 'string', enum: ['snp', 'tdx'], description: 'AMD SEV-SNP or Intel TDX.' },
              verified: {
                type: 'boolean',
                description: 'Whether the CVM evidence verified against the pinned vendor roots and met the Manifest.',
              },
              simulated: { type: 'boolean', description: 'The evidence was signed by simulated (development) roots.' },
              measurement: { type: 'string', maxLength: 96, description: 'Launch measurement (SNP) or MRTD (TDX).' },
              tcb: { type: 'string', maxLength: 256, description: 'Reported TCB, as text.' },
              policyHash: { type: 'string', maxLength: 96, description: 'Workload policy hash the CVM carries.' },
              referenceValues: { type: 'string', maxLength: 63, description: 'Name of the Manifest entry it matched.' },
              reportId: {
                type: 'string',
                pattern: '^[0-9a-f]{64}$',
                description:
                  'SEV-SNP REPORT_ID, unique per launch of the CVM. While this node is attested, evidence of the same launch is refused for any other node.',
              },
              reasons,
            },
          },
          gpus: {
            type: 'array',
            maxItems: 16,
            description: 'Verdict per GPU.',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['uuid'],
            items: {
              type: 'object',
              required: ['uuid', 'verified', 'activated'],
              properties: {
                uuid: { type: 'string', maxLength: 64, description: 'GPU UUID, as NVML reports it.' },
                architecture: { type: 'string', maxLength: 32, description: 'GPU architecture (HOPPER, BLACKWELL).' },
                driverVersion: { type: 'string', maxLength: 32, description: 'Driver version the evidence states.' },
                vbiosVersion: { type: 'string', maxLength: 32, description: 'VBIOS version the evidence states.' },
                deviceId: {
                  type: 'string',
                  maxLength: 64,
                  description:
                    "The device the evidence came from: serial number (hex) of the certificate that issued the GPU's leaf certificate (GSP BROM).",
                },
                mode: {
                  type: 'string',
                  maxLength: 32,
                  description:
                    'Multi-GPU mode the signed report states: SPT, MPT, PPCIE, or LEGACY (firmware without FEATURE_FLAG).',
                },
                measurements: {
                  type: 'string',
                  enum: ['Matched', 'Mismatched', 'NotEvaluated'],
                  description:
                    'Whether the GPU measurements were compared with trusted driver and VBIOS RIMs. NotEvaluated only where the Manifest sets requireRIMs: false.',
                },
                verified: { type: 'boolean', description: 'Evidence verified against the Manifest.' },
                activated: {
                  type: 'boolean',
                  description: 'Set ready for confidential work through NVML, read back after a valid grant.',
                },
                reasons,
              },
            },
          },
          gpuBindings: {
            type: 'array',
            maxItems: 64,
            description:
              'Every GPU UUID verified on this node, with the device behind it; later evidence for a UUID must come from the same device.',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['uuid'],
            items: {
              type: 'object',
              required: ['uuid', 'deviceId'],
              properties: {
                uuid: { type: 'string', maxLength: 64, description: 'GPU UUID.' },
                deviceId: { type: 'string', maxLength: 64, description: 'The device its verified evidence came from.' },
              },
            },
          },
          attestedAt: { type: 'string', format: 'date-time', description: 'When the evidence was accepted.' },
          expiresAt: {
            type: 'string',
            format: 'date-time',
            description:
              'When the attestation stops being current (RFC 3339): the node is closed then unless the agent attested again. After an accepted re-attestation of an activated node it stays the expiry of that activation until the agent reads back the GPUs with the new grant.',
          },
          conditions: {
            ...conditionsSchema,
            description:
              'Attested (the CVM and GPU evidence was accepted), GPUsActivated (the GPUs were set ready through NVML and read back), and the kstatus summary: Ready (attested and activated), Reconciling (present while evidence, activation or attesting again under a new Manifest is pending), Stalled (present while the evidence or the read-back was refused). Ready does not turn False by itself at expiresAt: the node gating controller closes the node then.',
          },
        },
      },
    },
  },
});
