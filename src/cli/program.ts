/** The attestor command tree: every subcommand, with the conventions of conventions.ts applied. */
import { Command } from 'commander';
import { agentCommand } from './agent.ts';
import { aiWorkerCommand } from './aiworker.ts';
import { collateralCommand } from './collateral.ts';
import { applyConventions } from './conventions.ts';
import { devCommand } from './dev.ts';
import { initCommand } from './init.ts';
import { manifestCommand } from './manifest.ts';
import { modelServerCommand } from './model-server.ts';
import { operatorCommand } from './operator.ts';
import { proxyCommand } from './proxy.ts';
import { secretServiceCommand } from './secret-service.ts';
import { verifyCommand } from './verify/command.ts';
import { workerProxyCommand } from './worker-proxy.ts';

export function attestorProgram(): Command {
  return applyConventions(
    new Command('attestor')
      .description('attestor: attestation-gated confidential AI inference on Kubernetes')
      .version('0.1.0')
      .addCommand(operatorCommand())
      .addCommand(agentCommand())
      .addCommand(initCommand())
      .addCommand(devCommand())
      .addCommand(verifyCommand())
      .addCommand(collateralCommand())
      .addCommand(manifestCommand())
      .addCommand(aiWorkerCommand())
      .addCommand(workerProxyCommand())
      .addCommand(proxyCommand())
      .addCommand(secretServiceCommand())
      .addCommand(modelServerCommand()),
  );
}
