/**
 * `attestor secret-service`: the inference key exchange and the release of secrets to certified
 * workers (src/secrets/), in a confidential pod certified by `attestor init` (role
 * secret-service), with its secrets in a secret-store etcd dialled over mutual TLS.
 */
import { Command, Option } from 'commander';
import { createLogger } from '../observability/log.ts';
import { ApiKeys } from '../secrets/api-keys.ts';
import {
  DEFAULT_KEY_LEASE_SECONDS,
  DEFAULT_KEY_SHARE_INTERVAL_MS,
  DEFAULT_MAX_SECRETS,
  DEFAULT_RATE_LIMIT,
  DEFAULT_SECRET_TTL_SECONDS,
  startSecretService,
} from '../secrets/secret-service.ts';
import { addressOption, durationOption, positiveIntOption, urlListOption } from './options.ts';

interface SecretServiceCliOptions {
  listen: { host: string; port: number };
  certDir: string;
  etcd: string[];
  maxSecrets: number;
  ratePerMinute: number;
  rateBurst: number;
  apiKeysFile?: string;
  secretTtl: number;
  reloadInterval: number;
  keyShareInterval: number;
  storageKeyLease: number;
  logLevel: string;
}

export function secretServiceCommand(): Command {
  return new Command('secret-service')
    .description(
      "the secret service: the inference key exchange (POST /v1/secrets/exchange, HPKE X-Wing, public) and release of secrets to workers over mutual TLS (GET /v1/secrets/{id}, GET /v1/secrets?watch=1), serving HTTPS with this pod's workload certificate and keeping secrets encrypted in a secret-store etcd under a storage key its replicas share",
    )
    .option('--listen <host:port>', 'HTTPS address', addressOption, { host: '0.0.0.0', port: 8443 })
    .option(
      '--cert-dir <dir>',
      "the volume `attestor init` writes this pod's certificate to (cert.pem, key.pem, mesh-ca.pem), re-read when it changes",
      '/run/attestor',
    )
    .requiredOption(
      '--etcd <urls>',
      "the secret store's etcd members, https URLs separated by commas; each must present a secret-store workload certificate from the current mesh CA",
      urlListOption,
    )
    .option(
      '--max-secrets <n>',
      'live secrets at most; a key exchange beyond is refused',
      positiveIntOption,
      DEFAULT_MAX_SECRETS,
    )
    .option(
      '--rate-per-minute <n>',
      'key exchanges per minute per client address',
      positiveIntOption,
      DEFAULT_RATE_LIMIT.perMinute,
    )
    .option('--rate-burst <n>', 'key exchanges at once per client address', positiveIntOption, DEFAULT_RATE_LIMIT.burst)
    .option(
      '--api-keys-file <path>',
      'accept a key exchange only with `Authorization: Bearer <key>` for a key whose SHA-256 (hex, one a line) the file lists; without it the exchange is open',
    )
    .option(
      '--secret-ttl <duration>',
      'how long a secret lives (its etcd lease)',
      durationOption,
      DEFAULT_SECRET_TTL_SECONDS * 1000,
    )
    .option(
      '--reload-interval <duration>',
      'how often to check the certificate volume for a change',
      durationOption,
      10_000,
    )
    .option(
      '--key-share-interval <duration>',
      'how often a replica without the storage key asks for it, and a replica holding it answers the requests of other certified secret-service replicas and renews the key record',
      durationOption,
      DEFAULT_KEY_SHARE_INTERVAL_MS,
    )
    .option(
      '--storage-key-lease <duration>',
      "how long the storage key's record in etcd outlives its last holder: once it ends, the next replica makes a new storage key (secrets sealed under the old one no longer open)",
      durationOption,
      DEFAULT_KEY_LEASE_SECONDS * 1000,
    )
    .addHelpText(
      'after',
      `
Replicas: every replica of one mesh CA seals and opens secrets under one storage key, held in
memory only. The first replica makes it; another one asks through etcd with its secret-service
certificate and receives it from a replica that holds it, wrapped for a one-time key its
certificate's key signed. Until then it answers every request, GET /readyz included, with 503
storage_key_unavailable; GET /readyz answers 200 once it holds the key.`,
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .env('ATTESTOR_LOG_LEVEL')
        .default('info'),
    )
    .action(async (opts: SecretServiceCliOptions) => {
      const log = createLogger({ level: opts.logLevel });
      const service = await startSecretService({
        host: opts.listen.host,
        port: opts.listen.port,
        certDir: opts.certDir,
        etcdEndpoints: opts.etcd,
        maxSecrets: opts.maxSecrets,
        rateLimit: { perMinute: opts.ratePerMinute, burst: Math.max(1, opts.rateBurst) },
        ...(opts.apiKeysFile ? { apiKeys: ApiKeys.fromFile(opts.apiKeysFile) } : {}),
        secretTtlSeconds: Math.max(1, Math.round(opts.secretTtl / 1000)),
        reloadIntervalMs: opts.reloadInterval,
        keyShareIntervalMs: opts.keyShareInterval,
        keyLeaseSeconds: Math.max(5, Math.round(opts.storageKeyLease / 1000)),
        log,
      });
      process.stdout.write(
        `secret service: ${service.url}${service.ready() ? '' : ' (waiting for the storage key)'}\n`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      await service.close();
    });
}
