#!/usr/bin/env node
/** The attestor command. */
import 'reflect-metadata';
import { Command } from 'commander';
import { agentCommand } from './agent.ts';
import { aiWorkerCommand } from './aiworker.ts';
import { devCommand } from './dev.ts';
import { initCommand } from './init.ts';
import { manifestCommand } from './manifest.ts';
import { modelServerCommand } from './model-server.ts';
import { operatorCommand } from './operator.ts';
import { proxyCommand } from './proxy.ts';
import { secretServiceCommand } from './secret-service.ts';
import { verifyCommand } from './verify/command.ts';
import { workerProxyCommand } from './worker-proxy.ts';

const program = new Command('attestor')
  .description('attestor: attestation-gated confidential AI inference on Kubernetes')
  .version('0.1.0')
  .showHelpAfterError()
  .addCommand(operatorCommand())
  .addCommand(agentCommand())
  .addCommand(initCommand())
  .addCommand(devCommand())
  .addCommand(verifyCommand())
  .addCommand(manifestCommand())
  .addCommand(aiWorkerCommand())
  .addCommand(workerProxyCommand())
  .addCommand(proxyCommand())
  .addCommand(secretServiceCommand())
  .addCommand(modelServerCommand());

await program.parseAsync(process.argv);
