/** `attestor verify snp|tdx|gpu`: offline evidence verification. */
import { Command } from 'commander';
import { gpuCommand } from './gpu.ts';
import { snpCommand } from './snp.ts';
import { tdxCommand } from './tdx.ts';

export function verifyCommand(): Command {
  return new Command('verify')
    .description('verify attestation evidence offline (exit 0 authentic, 1 refused, 2 unusable input)')
    .addCommand(snpCommand())
    .addCommand(tdxCommand())
    .addCommand(gpuCommand());
}
