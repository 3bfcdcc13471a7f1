/**
 * Checks of a Manifest spec that the CRD schema cannot express. Every problem names the field
 * and says what was expected; all problems are reported, not only the first.
 */

import { isIP } from 'node:net';
import type { ReferenceValues, SnpIdBlockRules } from '../attestation/reference-values.ts';
import { dnsSubdomainPattern } from './common.ts';
import { parseDuration } from './duration.ts';
import type { ManifestSpec } from './manifest.ts';
import { ownersProblems } from './manifest-owners.ts';
import { cvmRole } from './manifest-roles.ts';

export interface FieldProblem {
  path: string;
  message: string;
}

export function validateManifestSpec(spec: ManifestSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const rv = spec.referenceValues ?? {};
  if (!rv.gpu)
    problems.push({
      path: 'spec.referenceValues.gpu',
      message: 'required: without GPU reference values no GPU node can be attested',
    });
  duplicates(
    (rv.snp ?? []).map((e) => e.name),
    'spec.referenceValues.snp',
    problems,
  );
  duplicates(
    (rv.tdx ?? []).map((e) => e.name),
    'spec.referenceValues.tdx',
    problems,
  );
  (rv.snp ?? []).forEach((entry, i) => {
    const path = `spec.referenceValues.snp[${i}]`;
    const products = entry.products ?? [];
    if (entry.minimumTCB?.fmc !== undefined && products.length > 0 && !products.includes('Turin')) {
      problems.push({
        path: `${path}.minimumTCB.fmc`,
        message: 'FMC SPL exists only on Turin, but products does not include Turin',
      });
    }
    problems.push(...snpIdBlockProblems(entry.idBlock, `${path}.idBlock`));
    const seen = new Set<string>();
    entry.measurements?.forEach((m, j) => {
      if (seen.has(m)) problems.push({ path: `${path}.measurements[${j}]`, message: 'listed twice' });
      seen.add(m);
    });
  });
  (rv.tdx ?? []).forEach((entry, i) => {
    if ((entry.rtmrs?.length ?? 0) > 4)
      problems.push({ path: `spec.referenceValues.tdx[${i}].rtmrs`, message: 'at most 4 RTMRs (RTMR0..RTMR3)' });
  });
  problems.push(...sharedNodeMeasurements(rv));
  (spec.policies ?? []).forEach((policy, i) => {
    policy.sans?.forEach((san, j) => {
      if (!isSan(san))
        problems.push({
          path: `spec.policies[${i}].sans[${j}]`,
          message: `"${san}" is neither a DNS name (lower case, optionally *. first) nor an IP address`,
        });
    });
  });
  problems.push(...ownersProblems(spec.owners));
  const timing = spec.attestation ?? {};
  for (const field of ['evidenceMaxAge', 'reattestationInterval'] as const) {
    const value = timing[field];
    if (value !== undefined && parseDuration(value) === undefined)
      problems.push({ path: `spec.attestation.${field}`, message: `"${value}" is not a duration such as 5m or 1h` });
  }
  return problems;
}

/**
 * A launch measurement (SNP) or MRTD (TDX) allowed for node CVMs and for another role. A node's
 * agent and the privileged pods on an attested node can ask the node's CVM for a report with any
 * REPORT_DATA, so a pod could present the node's own report, with its own key bound, as evidence
 * of a pod VM or of the Coordinator. Pod and Coordinator may share a measurement: both are pod
 * VMs of the same runtime, told apart by the policy hash in HOST_DATA / MRCONFIGID.
 */
function sharedNodeMeasurements(rv: ReferenceValues): FieldProblem[] {
  const out: FieldProblem[] = [];
  const platforms = [
    ['snp', 'measurements', (rv.snp ?? []).map((e) => ({ role: cvmRole(e), values: e.measurements ?? [] }))],
    ['tdx', 'mrTd', (rv.tdx ?? []).map((e) => ({ role: cvmRole(e), values: e.mrTd ?? [] }))],
  ] as const;
  for (const [platform, field, entries] of platforms) {
    const node = new Map<string, number>();
    entries.forEach((e, i) => {
      if (e.role === 'node') for (const v of e.values) if (!node.has(v)) node.set(v, i);
    });
    entries.forEach((e, i) => {
      if (e.role === 'node') return;
      e.values.forEach((v, j) => {
        const at = node.get(v);
        if (at !== undefined)
          out.push({
            path: `spec.referenceValues.${platform}[${i}].${field}[${j}]`,
            message: `also allowed for node CVMs by spec.referenceValues.${platform}[${at}]: a pod on an attested node could present the node's own report as ${e.role} evidence; a measurement may not be allowed both as node and as another role`,
          });
      });
    });
  }
  return out;
}

const dnsName = new RegExp(dnsSubdomainPattern);

function isSan(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const name = value.startsWith('*.') ? value.slice(2) : value;
  return name.length <= 253 && dnsName.test(name);
}

/** ID-block fields that would not mean what they seem to. */
function snpIdBlockProblems(idBlock: SnpIdBlockRules | undefined, path: string): FieldProblem[] {
  if (idBlock === undefined) return [];
  const out: FieldProblem[] = [];
  const keyed = idBlock.idKeyDigests !== undefined || idBlock.authorKeyDigests !== undefined;
  for (const field of ['familyIds', 'imageIds', 'minimumGuestSVN'] as const) {
    if (idBlock[field] !== undefined && !keyed) {
      out.push({
        path: `${path}.${field}`,
        message: 'whoever signs an ID block chooses this value: also set idKeyDigests or authorKeyDigests',
      });
    }
  }
  for (const field of ['idKeyDigests', 'authorKeyDigests'] as const) {
    idBlock[field]?.forEach((digest, i) => {
      if (/^0+$/.test(digest))
        out.push({
          path: `${path}.${field}[${i}]`,
          message: 'all zeros is what a VM launched without an ID block reports, not a key',
        });
    });
  }
  return out;
}

function duplicates(names: Array<string | undefined>, path: string, problems: FieldProblem[]): void {
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    if (name === undefined) return;
    if (seen.has(name))
      problems.push({ path: `${path}[${i}].name`, message: `"${name}" is already used by ${path}[${seen.get(name)}]` });
    else seen.set(name, i);
  });
}
