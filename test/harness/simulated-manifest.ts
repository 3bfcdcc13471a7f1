/** The Manifest spec the simulated platform meets (src/agent/evidence/simulated.ts), for cluster tests. */
import { SIMULATED_SNP_MEASUREMENT, SIMULATED_TDX_MRTD } from '../../src/agent/evidence/simulated.ts';
import type { ManifestSpec } from '../../src/api/manifest.ts';

export interface SimulatedManifestOptions {
  policyHash: string;
  runtimeClasses: string[];
  /** Allowed SNP launch measurement; another one makes a Manifest the simulated SNP CVM does not meet. */
  snpMeasurement?: string;
  /** Allowed MRTD; likewise for the simulated TDX trust domain. */
  tdxMrTd?: string;
}

export function simulatedManifestSpec(o: SimulatedManifestOptions): ManifestSpec {
  return {
    referenceValues: {
      snp: [
        {
          name: 'simulated-genoa',
          measurements: [o.snpMeasurement ?? SIMULATED_SNP_MEASUREMENT],
          minimumTCB: { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
          products: ['Genoa'],
        },
      ],
      tdx: [{ name: 'simulated-tdx', mrTd: [o.tdxMrTd ?? SIMULATED_TDX_MRTD] }],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [{ name: 'llama', hash: o.policyHash }],
    runtimeClasses: o.runtimeClasses,
    attestation: { evidenceMaxAge: '5m', reattestationInterval: '1h' },
    development: { acceptSimulatedEvidence: true },
  };
}
