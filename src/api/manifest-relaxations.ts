/**
 * Manifest fields that weaken the appraisal below its fail-closed defaults (simulated evidence,
 * missing collateral, skipped revocation, ...). They are allowed, because real fleets sometimes
 * need them, but never silently: the Manifest controller reports each one in the `Relaxed`
 * condition and as a Warning event when the Manifest becomes active. Every opt-out field added to
 * the Manifest belongs in this list.
 */
import type { ManifestSpec } from './manifest.ts';
import { adminTrustedEntries } from './manifest-roles.ts';

/** The message of a CVM entry that enables the confidential-node model (manifest-roles.ts). */
export const CONFIDENTIAL_NODE_MODEL =
  'the confidential-node model: node CVMs attested by the node agent, which trusts the cluster admin (clients refuse it unless told to trust the admin)';

export interface Relaxation {
  /** The field that relaxes a check, e.g. `spec.development.acceptSimulatedEvidence`. */
  path: string;
  /** What is no longer checked because of it. */
  message: string;
}

export function manifestRelaxations(spec: ManifestSpec): Relaxation[] {
  const out: Relaxation[] = [];
  if (spec.development?.acceptSimulatedEvidence) {
    out.push({
      path: 'spec.development.acceptSimulatedEvidence',
      message: 'evidence signed by simulated (development) roots is accepted',
    });
  }
  for (const path of adminTrustedEntries(spec.referenceValues ?? {}))
    out.push({ path: `${path}.role`, message: CONFIDENTIAL_NODE_MODEL });
  (spec.referenceValues?.snp ?? []).forEach((entry, i) => {
    const path = `spec.referenceValues.snp[${i}]`;
    if (entry.allowProvisionalFirmware)
      out.push({
        path: `${path}.allowProvisionalFirmware`,
        message: 'reports from provisional (uncommitted) SEV-SNP firmware are accepted',
      });
    if (entry.allowMigrationAgent)
      out.push({
        path: `${path}.allowMigrationAgent`,
        message: 'SEV-SNP guests whose policy allows a migration agent (MIGRATE_MA) are accepted',
      });
    if (entry.allowCXL)
      out.push({
        path: `${path}.allowCXL`,
        message: 'SEV-SNP guests whose policy allows CXL devices and memory (CXL_ALLOW) are accepted',
      });
    if ((entry.maximumVMPL ?? 0) > 0)
      out.push({
        path: `${path}.maximumVMPL`,
        message: `SEV-SNP reports from VMPL up to ${entry.maximumVMPL} (not only VMPL 0) are accepted`,
      });
  });
  (spec.referenceValues?.tdx ?? []).forEach((entry, i) => {
    const path = `spec.referenceValues.tdx[${i}]`;
    if (entry.allowMissingCollateral)
      out.push({
        path: `${path}.allowMissingCollateral`,
        message:
          'TDX quotes without Intel collateral are accepted: QE identity, TCB status and revocation not evaluated',
      });
  });
  const gpu = spec.referenceValues?.gpu;
  if (gpu) {
    const path = 'spec.referenceValues.gpu';
    if (gpu.requireRIMs === false)
      out.push({
        path: `${path}.requireRIMs`,
        message: 'GPUs without trusted driver and VBIOS RIMs are accepted; their measurements are not evaluated',
      });
    if (gpu.requireFWID === false)
      out.push({ path: `${path}.requireFWID`, message: 'GPU reports without FWID (older firmware) are accepted' });
    if (gpu.ocsp?.required === false)
      out.push({
        path: `${path}.ocsp.required`,
        message: 'GPU and RIM certificates without a current OCSP answer are accepted: their revocation is not checked',
      });
    if (gpu.ocsp?.allowUnknown === true)
      out.push({
        path: `${path}.ocsp.allowUnknown`,
        message: 'GPU and RIM certificates whose OCSP status is "unknown" are accepted',
      });
    if ((gpu.ocsp?.revokedGracePeriodHours ?? 0) > 0)
      out.push({
        path: `${path}.ocsp.revokedGracePeriodHours`,
        message: `revoked GPU and RIM certificates are accepted for ${gpu.ocsp!.revokedGracePeriodHours} hours after their revocation`,
      });
  }
  return out;
}

/** One line for a condition message or an event. */
export function relaxationSummary(relaxations: readonly Relaxation[]): string {
  return relaxations.map((r) => `${r.path}: ${r.message}`).join('; ');
}
