/**
 * The Manifest resource: the reference values the Coordinator appraises evidence against.
 * Cluster-scoped; the active one is the newest Valid Manifest (see controllers/manifest).
 * Its canonical hash (status.hash) is what clients pin. The schemas of the per-platform reference
 * values are in manifest-snp-schema.ts, manifest-tdx-schema.ts and manifest-gpu-schema.ts.
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
import { gpuReferenceValuesSchema } from './manifest-gpu-schema.ts';
import { ownedSpecImmutable, ownersSchema } from './manifest-owners-schema.ts';
import { sansSchema, type WorkloadRole, workloadRoleSchema } from './manifest-roles.ts';
import type { OwnerKey } from './manifest-signature.ts';
import { snpReferenceValuesSchema } from './manifest-snp-schema.ts';
import { tdxReferenceValuesSchema } from './manifest-tdx-schema.ts';
import type { JSONSchemaProps } from './schema.ts';

export const MANIFEST_KIND = 'Manifest';
export const MANIFEST_PLURAL = 'manifests';

export interface PolicyReference {
  /** Short name shown in verdicts and errors. */
  name: string;
  /** SHA-256 of the policy document (Kata agent policy / initdata), lower-case hex. */
  hash: string;
  description?: string;
  /** The role of the CVMs that carry this policy (manifest-roles.ts); default worker. */
  role?: WorkloadRole;
  /** DNS names and IP addresses its workload certificates may carry. */
  sans?: string[];
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
  /** Who may approve a successor (manifest-owners.ts): absent, anyone; empty, nobody. */
  owners?: OwnerKey[];
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

export const manifestSpecSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Reference values and rules that evidence and workloads must meet.',
  required: ['referenceValues', 'policies', 'runtimeClasses'],
  'x-kubernetes-validations': [ownedSpecImmutable],
  properties: {
    referenceValues: {
      type: 'object',
      description: 'What genuine, acceptable CVMs and GPUs measure to.',
      properties: {
        snp: {
          type: 'array',
          maxItems: 32,
          items: snpReferenceValuesSchema,
          description: 'AMD SEV-SNP reference values; a report is accepted when it meets any entry.',
        },
        tdx: {
          type: 'array',
          maxItems: 32,
          items: tdxReferenceValuesSchema,
          description: 'Intel TDX reference values; a quote is accepted when it meets any entry.',
        },
        gpu: gpuReferenceValuesSchema,
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
        'Workload policies (Kata agent policy / initdata) that may run. A pod CVM carries the SHA-256 of its policy in SNP HOST_DATA or TDX MRCONFIGID; the pod carries the policy itself, base64, in the annotation io.katacontainers.config.agent.policy (the admission webhook hashes the decoded bytes), and its SHA-256 in attestor.dev/policy-hash, which must match when present.',
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
          role: workloadRoleSchema,
          sans: sansSchema,
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
    owners: ownersSchema,
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
    {
      name: 'Reason',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Active")].reason',
      description:
        'Why it is or is not active: Newest, SignedByOwner, AwaitingSignedSuccessor, Superseded, NotSignedByOwner, Invalid, InvalidCurrent.',
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
          observedGeneration: {
            type: 'integer',
            format: 'int64',
            description:
              'The metadata.generation this status was written for; older than metadata.generation while the operator has not judged the latest spec.',
          },
          activeSince: {
            type: 'string',
            format: 'date-time',
            description: 'When this Manifest became the active one.',
          },
          conditions: {
            ...conditionsSchema,
            description:
              'Valid (the spec passed every check), Active (whether this is the Manifest the Coordinator appraises against, and why), Relaxed (whether it turns off fail-closed checks), and the kstatus summary: Ready (valid and judged: active, or superseded and kept for roll-back), Stalled (present while it cannot take effect until someone changes it: an invalid spec, a successor the owners did not sign).',
          },
          history: {
            type: 'array',
            maxItems: MANIFEST_HISTORY_LIMIT,
            description: 'Earlier hashes of this Manifest, newest first.',
            items: {
              type: 'object',
              required: ['hash', 'generation', 'replacedAt'],
              properties: {
                hash: hexSchema(32, 'Earlier canonical hash'),
                generation: {
                  type: 'integer',
                  format: 'int64',
                  description: 'The metadata.generation that had this hash.',
                },
                replacedAt: { type: 'string', format: 'date-time', description: 'When a new spec replaced it.' },
              },
            },
          },
        },
      },
    },
  },
});
