/**
 * `attestor model-server`: the embedded deterministic model server (model-server/) as a process,
 * with vLLM's command-line shape (`--model`, `--port`), so that an AIWorker can run it from the
 * attestor image where no model weights can be had: the chart's development mode and
 * hack/kind-e2e.sh. It answers from the input; it is no model.
 */
import { Command } from 'commander';
import { startModelServer } from '../model-server/server.ts';
import { positiveIntOption } from './options.ts';

interface ModelServerCliOptions {
  model: string;
  host: string;
  port: number;
}

export function modelServerCommand(): Command {
  return new Command('model-server')
    .description(
      'serve the embedded deterministic OpenAI-compatible model server (development and tests: it echoes, it is no model)',
    )
    .option('--model <name>', 'the one model it serves', 'attestor-echo')
    .option('--host <host>', 'listen on this address', '0.0.0.0')
    .option('--port <port>', 'listen on this port', positiveIntOption, 8000)
    .action(async (opts: ModelServerCliOptions) => {
      const server = await startModelServer({ host: opts.host, port: opts.port, model: opts.model });
      process.stdout.write(`model server for ${server.model} on ${opts.host}:${server.port}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', () => resolve());
        process.once('SIGINT', () => resolve());
      });
      await server.close();
    });
}
