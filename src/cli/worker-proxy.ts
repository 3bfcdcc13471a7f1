/**
 * `attestor worker-proxy`: the sidecar next to an AI worker's model server (src/worker/). It serves
 * TLS with the workload certificate that `attestor init` keeps in its volume, decrypts requests
 * under the secrets the secret store releases to it, and encrypts the answers.
 */

import { Command, Option } from 'commander';
import { createLogger } from '../observability/log.ts';
import { type ReleasedSecrets, startReleasedSecrets } from '../worker/released-secrets.ts';
import {
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_UPSTREAM,
  type SecretLookup,
  startWorkerProxy,
} from '../worker/worker-proxy.ts';
import { UnusableInput } from './errors.ts';
import { addressOption, positiveIntOption } from './options.ts';

interface WorkerProxyCliOptions {
  listen: { host: string; port: number };
  certificateDir: string;
  secretService?: string;
  upstream: string;
  bodyLimit: number;
  logLevel: string;
}

/** Knows no secret: every request is refused as unknown_secret when no secret service is named. */
export const noSecrets: SecretLookup = { get: async () => undefined };

export function workerProxyCommand(): Command {
  return new Command('worker-proxy')
    .description(
      "the AI worker pod's sidecar: serve TLS with the pod's workload certificate, decrypt each request with the secret its ID names, forward it to the model server on localhost, and encrypt the answer (streamed answers event by event)",
    )
    .option('--listen <host:port>', 'where to serve TLS', addressOption, { host: '0.0.0.0', port: 8443 })
    .option(
      '--certificate-dir <dir>',
      'the attestor init volume: cert.pem and key.pem, re-read when attestor init --renew replaces them',
      '/run/attestor',
    )
    .option(
      '--secret-service <url>',
      'the secret service (https): secrets are released to this pod over mutual TLS with its workload certificate from --certificate-dir, trusting only the mesh CA in its mesh-ca.pem; a watch prefetches them and a miss asks by ID. Without it every request is refused as unknown_secret',
    )
    .option(
      '--upstream <url>',
      'the model server (any OpenAI-compatible server), plain HTTP on localhost',
      DEFAULT_UPSTREAM,
    )
    .option('--body-limit <bytes>', 'the largest request body accepted', positiveIntOption, DEFAULT_BODY_LIMIT_BYTES)
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .env('ATTESTOR_LOG_LEVEL')
        .default('info'),
    )
    .action(async (opts: WorkerProxyCliOptions) => {
      const log = createLogger({ level: opts.logLevel }).child({ component: 'worker-proxy' });
      let released: ReleasedSecrets | undefined;
      if (opts.secretService) {
        const url = new URL(opts.secretService);
        if (url.protocol !== 'https:')
          throw new UnusableInput(`--secret-service must be an https URL, not ${url.protocol}`);
        released = await startReleasedSecrets({
          url: url.toString(),
          certificateDir: opts.certificateDir,
          log: (level, message) => log[level](message),
        });
        void released.watching.then(() => log.info({ secretService: url.origin }, 'watching the secret service'));
      } else log.warn('no secret service is configured: every request is refused as unknown_secret');
      const proxy = await startWorkerProxy({
        host: opts.listen.host,
        port: opts.listen.port,
        certificateDir: opts.certificateDir,
        upstream: opts.upstream,
        bodyLimitBytes: opts.bodyLimit,
        secrets: released ?? noSecrets,
        log: (level, message) => log[level](message),
      });
      log.info({ url: proxy.url, upstream: opts.upstream }, 'worker proxy listening');
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await proxy.close();
      released?.close();
    });
}
