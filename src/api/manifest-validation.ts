/**
 * Checks of a Manifest spec that the CRD schema cannot express. Every problem names the field
 * and says what was expected; all problems are reported, not only the first.
 */
import { parseDuration } from './duration.ts';
import type { ManifestSpec } from './manifest.ts';

export interface FieldProblem {
  path: string;
  message: string;
}

export function validateManifestSpec(spec: ManifestSpec): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const rv = spec.referenceValues ?? {};
  if (!rv.gpu) problems.push({ path: 'spec.referenceValues.gpu', message: 'required: without GPU reference values no GPU node can be attested' });
  duplicates((rv.snp ?? []).map((e) => e.name), 'spec.referenceValues.snp', problems);
  duplicates((rv.tdx ?? []).map((e) => e.name), 'spec.referenceValues.tdx', problems);
  (rv.snp ?? []).forEach((entry, i) => {
    const path = `spec.referenceValues.snp[${i}]`;
    const products = entry.products ?? [];
    if (entry.minimumTCB?.fmc !== undefined && products.length > 0 && !products.includes('Turin')) {
      problems.push({ path: `${path}.minimumTCB.fmc`, message: 'FMC SPL exists only on Turin, but products does not include Turin' });
    }
    if (entry.allowProvisionalFirmware) {
      // Allowed, but it weakens the TCB guarantee; the reconciler reports it as a warning event.
    }
    const seen = new Set<string>();
    entry.measurements?.forEach((m, j) => {
      if (seen.has(m)) problems.push({ path: `${path}.measurements[${j}]`, message: 'listed twice' });
      seen.add(m);
    });
  });
  (rv.tdx ?? []).forEach((entry, i) => {
    if ((entry.rtmrs?.length ?? 0) > 4) problems.push({ path: `spec.referenceValues.tdx[${i}].rtmrs`, message: 'at most 4 RTMRs (RTMR0..RTMR3)' });
  });
  const timing = spec.attestation ?? {};
  for (const field of ['evidenceMaxAge', 'reattestationInterval'] as const) {
    const value = timing[field];
    if (value !== undefined && parseDuration(value) === undefined) problems.push({ path: `spec.attestation.${field}`, message: `"${value}" is not a duration such as 5m or 1h` });
  }
  return problems;
}

function duplicates(names: Array<string | undefined>, path: string, problems: FieldProblem[]): void {
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    if (name === undefined) return;
    if (seen.has(name)) problems.push({ path: `${path}[${i}].name`, message: `"${name}" is already used by ${path}[${seen.get(name)}]` });
    else seen.set(name, i);
  });
}
