/**
 * The Coordinator as `attestor dev`, the tests and the benchmarks run it: on loopback, serving a
 * certificate from the local CA, trusting the pinned vendor roots and (while the Manifest opts
 * in) the simulated platform's roots, for the agents of one namespace; its own CVM evidence is a
 * simulated SEV-SNP pod VM with the Coordinator's measurement and policy hash (samples/manifest.yaml).
 */
import {
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SimulatedCvmSource,
  type SimulatedPlatform,
} from '../agent/evidence/simulated.ts';
import { type CollateralSource, collateralSource } from '../collateral/source.ts';
import type { CoordinatorOptions } from '../operator/operator.ts';
import type { KeyAndCertificate } from '../tls/certificates.ts';
import { agentUsername } from './agent-identity.ts';

export function localCoordinatorOptions(
  serving: KeyAndCertificate,
  platform: SimulatedPlatform,
  agentNamespace: string,
): CoordinatorOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    tls: { cert: serving.certificatePem, key: serving.privateKeyPem },
    agentUsernames: [agentUsername(agentNamespace)],
    trust: { production: {}, simulated: platform.trust, simulatedCollateral: simulatedCollateral(platform) },
    ownEvidence: simulatedCoordinatorEvidence(platform),
  };
}

/** The simulated Coordinator's pod VM: SEV-SNP, the Coordinator's measurement, HOST_DATA its policy hash. */
export function simulatedCoordinatorEvidence(platform: SimulatedPlatform): SimulatedCvmSource {
  return new SimulatedCvmSource(platform, {
    platform: 'snp',
    measurement: SIMULATED_COORDINATOR_MEASUREMENT,
    policyHash: SIMULATED_COORDINATOR_POLICY_HASH,
  });
}

/**
 * The simulated platform's collateral: fixed TDX collateral and RIMs, and OCSP answers its
 * responder signs at each appraisal's time, so a long `attestor dev` session never meets stale ones.
 */
export function simulatedCollateral(platform: SimulatedPlatform): CollateralSource {
  return collateralSource({
    base: platform.collateral,
    ocspResponder: platform.gpu.ocspResponder,
    ...(platform.trust.gpu ? { gpuAnchors: platform.trust.gpu } : {}),
  });
}
