/** `attestor verify snp|tdx|gpu`: offline evidence verification; `attestor verify coordinator`: a Coordinator's identity. */
import { Command } from 'commander';
import { coordinatorCommand } from './coordinator.ts';
import { gpuCommand } from './gpu.ts';
import { snpCommand } from './snp.ts';
import { tdxCommand } from './tdx.ts';

export function verifyCommand(): Command {
  return new Command('verify')
    .description(
      'verify attestation evidence offline, or a Coordinator (exit 0 authentic, 1 refused, 2 unusable input)',
    )
    .addCommand(snpCommand())
    .addCommand(tdxCommand())
    .addCommand(gpuCommand())
    .addCommand(coordinatorCommand());
}
