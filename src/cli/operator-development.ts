/**
 * `attestor operator --development-roots`: the development mode of a real cluster (the chart's
 * `development.enabled`, hack/kind-e2e.sh). The operator generates simulated AMD, Intel and NVIDIA
 * roots in memory, as `attestor dev` does, trusts evidence they sign only while the active Manifest
 * accepts simulated evidence (coordinator/trust.ts), and serves the simulated hardware that the
 * simulated agents and pod inits get their evidence from (dev/simulated-hardware-server.ts).
 */
import { createSimulatedPlatform, type SimulatedPlatform } from '../agent/evidence/simulated.ts';
import type { CoordinatorTrust } from '../coordinator/trust.ts';
import { simulatedCollateral, simulatedCoordinatorEvidence } from '../dev/local-coordinator.ts';
import { type RunningSimulatedHardwareServer, startSimulatedHardwareServer } from '../dev/simulated-hardware-server.ts';
import type { Logger } from '../observability/log.ts';
import type { OperatorCliOptions } from './operator-flags.ts';

/** Logged (warn) at start, as `attestor dev` says it: this operator trusts roots anyone can sign with. */
export const DEVELOPMENT_ROOTS_WARNING =
  'DEVELOPMENT MODE (--development-roots): generated simulated AMD, Intel and NVIDIA roots (development only); evidence they sign is accepted while the active Manifest accepts simulated evidence (spec.development.acceptSimulatedEvidence), and the simulated hardware signs any evidence for whoever reaches it. Simulated evidence proves nothing: never run this in production';

/** The flags that need --development-roots, named when it is missing (every one). */
export function developmentFlagProblems(
  opts: Pick<OperatorCliOptions, 'developmentRoots' | 'coordinatorEvidence' | 'developmentHardwareUrl'>,
): string[] {
  const problems: string[] = [];
  if (opts.developmentRoots) {
    if (opts.developmentHardwareUrl && URL.parse(opts.developmentHardwareUrl)?.protocol !== 'http:')
      problems.push(`--development-hardware-url must be an http URL, not ${opts.developmentHardwareUrl}`);
    return problems;
  }
  if (opts.coordinatorEvidence === 'simulated')
    problems.push('--coordinator-evidence simulated needs --development-roots (development only)');
  if (opts.developmentHardwareUrl)
    problems.push('--development-hardware-url needs --development-roots (development only)');
  return problems;
}

export interface OperatorDevelopment {
  platform: SimulatedPlatform;
  /** What the Coordinator adds to its trust: the simulated roots and collateral (used only under a Manifest that accepts them). */
  trust: Pick<CoordinatorTrust, 'simulated' | 'simulatedCollateral'>;
  hardware: RunningSimulatedHardwareServer;
}

/** Generates the simulated roots, warns, and serves the simulated hardware. */
export async function startOperatorDevelopment(
  opts: Pick<OperatorCliOptions, 'developmentHardwareAddress'>,
  log: Logger,
): Promise<OperatorDevelopment> {
  log.warn(DEVELOPMENT_ROOTS_WARNING);
  const platform = await createSimulatedPlatform();
  const hardware = await startSimulatedHardwareServer({ ...opts.developmentHardwareAddress, platform, log });
  log.warn(
    { address: `${opts.developmentHardwareAddress.host}:${hardware.port}` },
    'DEVELOPMENT MODE: serving simulated hardware (plain HTTP) for simulated agents and pod inits',
  );
  return {
    platform,
    trust: { simulated: platform.trust, simulatedCollateral: simulatedCollateral(platform) },
    hardware,
  };
}

/** The Coordinator's own evidence in development mode: the simulated SEV-SNP pod VM of `attestor dev`. */
export function developmentCoordinatorEvidence(development: OperatorDevelopment) {
  return simulatedCoordinatorEvidence(development.platform);
}
