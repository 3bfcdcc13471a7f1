/**
 * Roles in the Manifest. A policy entry names the workload role its CVMs play (coordinator,
 * secret-service, secret-store, worker) and the SANs its certificates may carry; a CVM
 * reference-value entry names whose CVM it describes (node, pod, coordinator). Evidence is
 * appraised only against the entries of its own role, so that a report made for one role never
 * passes as another's. Pure; the Coordinator, the node appraisal, validation and
 * `attestor verify coordinator` read roles only through these functions.
 */
import { CVM_ROLES, type CvmRole, type ReferenceValues } from '../attestation/reference-values.ts';
import type { JSONSchemaProps } from './schema.ts';

export type WorkloadRole = 'coordinator' | 'secret-service' | 'secret-store' | 'worker';
export const WORKLOAD_ROLES: readonly WorkloadRole[] = ['coordinator', 'secret-service', 'secret-store', 'worker'];
export const DEFAULT_WORKLOAD_ROLE: WorkloadRole = 'worker';
export const DEFAULT_CVM_ROLE: CvmRole = 'node';

export const cvmRoleSchema: JSONSchemaProps = {
  type: 'string',
  enum: [...CVM_ROLES],
  description:
    "Whose CVM this entry describes: node (a confidential node's CVM, attested by the node agent: the confidential-node model, which trusts the cluster admin and is reported in the Relaxed condition), pod (a workload's pod VM), coordinator (the Coordinator's own pod VM). Evidence is appraised only against the entries of its role. A measurement may not be allowed both as node and as another role. Default node.",
};

export const workloadRoleSchema: JSONSchemaProps = {
  type: 'string',
  enum: [...WORKLOAD_ROLES],
  description:
    "The role of the CVMs that carry this policy's hash: coordinator (the Coordinator's own evidence must carry a coordinator policy), secret-service, secret-store, worker. Default worker.",
};

export const sansSchema: JSONSchemaProps = {
  type: 'array',
  maxItems: 64,
  'x-kubernetes-list-type': 'set',
  description:
    "DNS names and IP addresses the workload certificates of this policy's CVMs may carry. Default none beyond what the Coordinator derives (an AI worker's Service names and pod IP).",
  items: { type: 'string', minLength: 1, maxLength: 253 },
};

/** Any object with an optional CVM role (an snp[] or tdx[] entry). */
interface HasCvmRole {
  role?: CvmRole;
}

/**
 * The entry's role, its absence read as the default. The default lives here, not in the schema: a
 * schema default would change the stored spec, and so the hash, of every existing Manifest.
 */
export function cvmRole(entry: HasCvmRole): CvmRole {
  return entry.role ?? DEFAULT_CVM_ROLE;
}

export function workloadRole(policy: { role?: WorkloadRole }): WorkloadRole {
  return policy.role ?? DEFAULT_WORKLOAD_ROLE;
}

/**
 * The reference values evidence of `role` is appraised against: the CVM entries of that role,
 * and the GPU reference values. An unnamed entry is named after its place in the Manifest
 * (`snp[2]`), so that a verdict points at the entry it matched, not at its place in this subset.
 */
export function referenceValuesForRole(rv: ReferenceValues, role: CvmRole): ReferenceValues {
  const pick = <T extends HasCvmRole & { name?: string }>(entries: readonly T[] | undefined, platform: string) =>
    (entries ?? []).flatMap((e, i) => (cvmRole(e) === role ? [{ ...e, name: e.name ?? `${platform}[${i}]` }] : []));
  return {
    ...(rv.snp ? { snp: pick(rv.snp, 'snp') } : {}),
    ...(rv.tdx ? { tdx: pick(rv.tdx, 'tdx') } : {}),
    ...(rv.gpu ? { gpu: rv.gpu } : {}),
  };
}

/**
 * The policy hashes a CVM of `role` may carry in HOST_DATA / MRCONFIGID: the Coordinator only
 * coordinator policies; nodes and pods every other policy (a CVM that carries the Coordinator's
 * policy is the Coordinator, not a workload).
 */
export function policyHashesForRole(
  policies: ReadonlyArray<{ hash: string; role?: WorkloadRole }>,
  role: CvmRole,
): string[] {
  return policies.filter((p) => (workloadRole(p) === 'coordinator') === (role === 'coordinator')).map((p) => p.hash);
}

/**
 * The CVM entries that enable the confidential-node model, by path: the node agent attests these
 * CVMs, which trusts the cluster admin (who mints service account tokens and decides what runs on
 * a node). A client that must not trust the admin refuses such a Manifest.
 */
export function adminTrustedEntries(rv: ReferenceValues): string[] {
  const paths: string[] = [];
  for (const platform of ['snp', 'tdx'] as const)
    (rv[platform] ?? []).forEach((e, i) => {
      if (cvmRole(e) === 'node') paths.push(`spec.referenceValues.${platform}[${i}]`);
    });
  return paths;
}
