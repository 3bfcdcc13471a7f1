/**
 * `attestor secret-service`: HTTPS with the pod's workload certificate.
 *
 * - `POST /v1/secrets/exchange` (public): the HPKE X-Wing key exchange (answerKeyExchange),
 *   limited per client address (rate-limiter.ts), by a cap on live secrets, a body limit and an
 *   optional API key (api-keys.ts). The secret goes to etcd sealed under the storage key
 *   (sealed-record.ts) with a lease of the secret's lifetime, together with the mesh CA under which
 *   it was exchanged.
 * - `GET /v1/secrets/{id}` and `GET /v1/secrets?watch=1` (mutual TLS): release to workers whose
 *   certificate passes release-decision.ts against the secret's own mesh CA.
 *
 * The storage key is shared by the replicas of one mesh CA (key-share.ts): the first makes it, the
 * others receive it wrapped for their certified key from one that holds it. A replica that does
 * not hold the key of its current mesh CA answers every request with `storage_key_unavailable`,
 * and `GET /readyz` says so: fail closed.
 *
 * The workload files are re-read when they change: the serving certificate, the etcd client's
 * certificate and the mesh CA it trusts follow. When `attestor init --renew` removes cert.pem (the
 * pod no longer complies), every endpoint answers `service_uncertified` until a certificate
 * returns: fail closed. No secret, key or client public key is ever
 * logged; log lines name secret IDs (hashes of public keys) and mesh CA hashes.
 */
import type { webcrypto } from 'node:crypto';
import { access } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { CERTIFICATE_FILE } from '../agent/certificate-files.ts';
import type { Logger } from '../observability/log.ts';
import { type InferenceRefusal, inferenceErrorResponse } from '../protocol/inference/errors.ts';
import {
  answerKeyExchange,
  KEY_EXCHANGE_PATH,
  KEY_EXCHANGE_REQUEST_LIMIT_BYTES,
  parseKeyExchangeRequest,
} from '../protocol/inference/key-exchange.ts';
import {
  SECRET_RELEASE_PATH_PREFIX,
  SECRET_WATCH_EVENT,
  SECRET_WATCH_READY_EVENT,
  type SecretRelease,
  secretIdOfPathSegment,
  urlSafeSecretId,
} from '../protocol/inference/secret-release.ts';
import { sseEvent } from '../protocol/inference/sse.ts';
import type { ApiKeys } from './api-keys.ts';
import { EtcdStore, type StoreTls } from './etcd-store.ts';
import { DEFAULT_KEY_LEASE_SECONDS, StorageKeys } from './key-share.ts';
import { type RateLimit, RateLimiter } from './rate-limiter.ts';
import { releaseDecision, workerCertificateProblems } from './release-decision.ts';
import { meshCaSha256, openRecord, type SecretRecord, sealRecord } from './sealed-record.ts';
import { readWorkloadFiles, type WorkloadFiles, workloadFilesChanged } from './workload-files.ts';

/** Where secrets live in etcd: this prefix and the secret ID in URL-safe base64. */
export const SECRET_KEY_PREFIX = '/attestor/secrets/';
export const DEFAULT_SECRET_TTL_SECONDS = 3600;
export const DEFAULT_MAX_SECRETS = 100_000;
export const DEFAULT_RATE_LIMIT: RateLimit = { perMinute: 60, burst: 20 };
export const DEFAULT_KEY_SHARE_INTERVAL_MS = 2000;
/** The readiness probe: 200 while the service is certified and holds the storage key. */
export const READY_PATH = '/readyz';
export { DEFAULT_KEY_LEASE_SECONDS };

export interface SecretServiceOptions {
  host: string;
  port: number;
  /** The `attestor init` volume: cert.pem, key.pem, mesh-ca.pem. */
  certDir: string;
  /** https:// URLs of the secret store's etcd members. */
  etcdEndpoints: readonly string[];
  maxSecrets?: number;
  rateLimit?: RateLimit;
  /** Absent: the exchange is open. */
  apiKeys?: ApiKeys;
  secretTtlSeconds?: number;
  /** How often the workload files are checked for a change. */
  reloadIntervalMs?: number;
  /** How often the storage key is asked for, or requests for it answered and its record kept alive. */
  keyShareIntervalMs?: number;
  /** How long the storage key's record outlives its last holder (then the next replica makes a new key). */
  keyLeaseSeconds?: number;
  log: Logger;
  now?: () => Date;
}

export interface SecretService {
  /** https://host:port */
  url: string;
  port: number;
  /** Whether it serves: certified, and holding the storage key of its current mesh CA. */
  ready(): boolean;
  /** Tests only: the storage key of the current mesh CA, to search etcd and logs for its bytes. */
  storageKeyForTests(): CryptoKey | undefined;
  close(): Promise<void>;
}

type CryptoKey = webcrypto.CryptoKey;

export const secretKey = (secretId: string) => `${SECRET_KEY_PREFIX}${urlSafeSecretId(secretId)}`;

export async function startSecretService(options: SecretServiceOptions): Promise<SecretService> {
  const now = options.now ?? (() => new Date());
  const log = options.log;
  const ttlSeconds = options.secretTtlSeconds ?? DEFAULT_SECRET_TTL_SECONDS;
  const maxSecrets = options.maxSecrets ?? DEFAULT_MAX_SECRETS;
  const limiter = new RateLimiter(options.rateLimit ?? DEFAULT_RATE_LIMIT);
  let files = await readWorkloadFiles(options.certDir);
  const store = new EtcdStore(options.etcdEndpoints, storeTls(files));
  /** Whether cert.pem was removed: the pod no longer complies with the Manifest. */
  let withdrawn = false;
  const keys = new StorageKeys({
    store,
    identity: () => files,
    withdrawn: () => withdrawn,
    log,
    now,
    keyLeaseSeconds: options.keyLeaseSeconds ?? DEFAULT_KEY_LEASE_SECONDS,
  });
  /** The record under whichever storage key held opens it. */
  async function open(etcdKey: string, value: Uint8Array): Promise<SecretRecord | undefined> {
    for (const key of keys.all()) {
      const record = await openRecord(key, etcdKey, value);
      if (record) return record;
    }
    return undefined;
  }
  const watches = new Set<AbortController>();

  const server: Server = createServer(
    { ...servingTls(files), requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        log.error({ err: (err as Error).message, path: pathOf(req) }, 'secret service request failed');
        if (!res.headersSent) refuse(res, { code: 'store_unavailable' });
        else res.destroy();
      });
    },
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://secret-service');
    if (withdrawn) return refuse(res, { code: 'service_uncertified' });
    const storageKey = keys.current();
    if (!storageKey) return refuse(res, { code: 'storage_key_unavailable' });
    if (req.method === 'GET' && url.pathname === READY_PATH) return json200(res, { ready: true });
    if (url.pathname === KEY_EXCHANGE_PATH) {
      if (req.method !== 'POST') return refuse(res, { code: 'malformed_exchange', detail: 'Use POST.' });
      return exchange(req, res, storageKey);
    }
    if (req.method === 'GET' && url.pathname === '/v1/secrets' && url.searchParams.get('watch') === '1')
      return watch(req, res);
    if (req.method === 'GET' && url.pathname.startsWith(SECRET_RELEASE_PATH_PREFIX))
      return release(req, res, url.pathname.slice(SECRET_RELEASE_PATH_PREFIX.length));
    refuse(res, { code: 'secret_not_found', detail: 'No such endpoint.' });
  }

  async function exchange(req: IncomingMessage, res: ServerResponse, storageKey: CryptoKey): Promise<void> {
    const address = req.socket.remoteAddress ?? 'unknown';
    if (!limiter.take(address, now().getTime())) return refuse(res, { code: 'rate_limited' });
    if (options.apiKeys && !options.apiKeys.accepts(req.headers.authorization))
      return refuse(res, { code: 'unauthenticated' });
    const body = await readBody(req, KEY_EXCHANGE_REQUEST_LIMIT_BYTES);
    if (body === undefined) return refuse(res, { code: 'request_too_large' }, true);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return refuse(res, { code: 'malformed_exchange', detail: 'The body is not JSON.' });
    }
    const parsed = parseKeyExchangeRequest(json);
    if ('error' in parsed) return refuse(res, { code: 'malformed_exchange', detail: `${parsed.error}.` });
    if ((await store.count(SECRET_KEY_PREFIX)) >= maxSecrets) return refuse(res, { code: 'secret_capacity' });
    const identity = files;
    const expiresAt = new Date(now().getTime() + ttlSeconds * 1000);
    const answer = await answerKeyExchange({
      clientPublicKey: parsed.publicKey,
      signingKey: identity.signingKey,
      certificateChain: identity.certificateChain,
      expiresAt,
    });
    if ('error' in answer) return refuse(res, { code: 'malformed_exchange', detail: `${answer.error}.` });
    const key = secretKey(answer.secretId);
    const record: SecretRecord = { secret: answer.secret, meshCa: identity.meshCa, expiresAt };
    const created = await store.create(key, await sealRecord(storageKey, key, record), ttlSeconds);
    answer.secret.fill(0);
    // A public key already used: the first secret stays (nobody may replace a client's secret).
    if (!created)
      return refuse(res, {
        code: 'malformed_exchange',
        detail: 'This public key was used before: make a new key pair.',
      });
    log.info({ secretId: answer.secretId, meshCa: meshCaSha256(identity.meshCa) }, 'secret exchanged');
    json200(res, answer.response);
  }

  async function release(req: IncomingMessage, res: ServerResponse, segment: string): Promise<void> {
    const secretId = secretIdOfPathSegment(segment);
    if (secretId === undefined)
      return refuse(res, { code: 'secret_not_found', detail: 'The ID is not 32 bytes in URL-safe base64.' });
    const certificate = peerCertificate(req);
    const key = secretKey(secretId);
    const value = await store.get(key);
    const record = value && (await open(key, value));
    if (!record) return refuse(res, { code: 'secret_not_found' });
    const at = now();
    const decision = releaseDecision({
      clientCertificate: certificate,
      meshCa: record.meshCa,
      expiresAt: record.expiresAt,
      at,
    });
    if (!decision.released) {
      log.warn({ secretId, reasons: decision.reasons }, 'secret release refused');
      return refuse(res, { code: 'release_refused', detail: decision.reasons.map((r) => r.message).join('; ') });
    }
    log.info({ secretId, meshCa: meshCaSha256(record.meshCa) }, 'secret released to a worker');
    json200(res, releaseBody(secretId, record));
  }

  async function watch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const certificate = peerCertificate(req);
    // New secrets are exchanged under the current mesh CA: a worker of another one would get none.
    const problems = workerCertificateProblems(certificate, files.meshCa, now());
    if (problems.length > 0)
      return refuse(res, { code: 'release_refused', detail: problems.map((r) => r.message).join('; ') });
    const controller = new AbortController();
    watches.add(controller);
    res.on('close', () => controller.abort());
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    // One event after the other, in etcd's order.
    let tail = Promise.resolve();
    try {
      await store.watch(
        SECRET_KEY_PREFIX,
        (kv) => {
          tail = tail.then(
            async () => {
              const record = await open(kv.key, kv.value);
              const secretId = secretIdOfPathSegment(kv.key.slice(SECRET_KEY_PREFIX.length));
              if (!record || secretId === undefined) return;
              const decision = releaseDecision({
                clientCertificate: certificate,
                meshCa: record.meshCa,
                expiresAt: record.expiresAt,
                at: now(),
              });
              if (!decision.released || controller.signal.aborted || withdrawn) return;
              log.info({ secretId, meshCa: meshCaSha256(record.meshCa) }, 'secret released to a watching worker');
              res.write(`event: ${SECRET_WATCH_EVENT}\n${sseEvent(JSON.stringify(releaseBody(secretId, record)))}`);
            },
            () => {},
          );
        },
        {
          signal: controller.signal,
          onReady: () => res.write(`event: ${SECRET_WATCH_READY_EVENT}\n${sseEvent('{}')}`),
        },
      );
    } finally {
      await tail;
      watches.delete(controller);
      res.end();
    }
  }

  const reload = setInterval(() => {
    void (async () => {
      try {
        if (!(await certificatePresent(options.certDir))) {
          if (!withdrawn) log.warn('cert.pem was removed (the pod no longer complies): refusing every request');
          withdrawn = true;
          for (const w of watches) w.abort();
          return;
        }
        if (!withdrawn && !(await workloadFilesChanged(options.certDir, files))) return;
        const next = await readWorkloadFiles(options.certDir);
        withdrawn = false;
        server.setSecureContext(servingTls(next));
        store.setTls(storeTls(next));
        const meshChanged = next.meshCa !== files.meshCa;
        files = next;
        log.info({ meshCa: meshCaSha256(next.meshCa), meshChanged }, 'workload certificate reloaded');
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'the workload files did not reload: keeping the current ones');
      }
    })();
  }, options.reloadIntervalMs ?? 10_000);
  reload.unref();
  await keys.tick();
  const share = setInterval(() => void keys.tick(), options.keyShareIntervalMs ?? DEFAULT_KEY_SHARE_INTERVAL_MS);
  share.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  log.info(
    { port, meshCa: meshCaSha256(files.meshCa), ready: keys.current() !== undefined },
    'secret service listening',
  );
  return {
    url: `https://${host}:${port}`,
    port,
    ready: () => !withdrawn && keys.current() !== undefined,
    storageKeyForTests: () => keys.currentKeyForTests(),
    async close() {
      clearInterval(reload);
      clearInterval(share);
      await keys.settled();
      for (const w of watches) w.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      store.close();
    },
  };
}

async function certificatePresent(dir: string): Promise<boolean> {
  try {
    await access(join(dir, CERTIFICATE_FILE));
    return true;
  } catch {
    return false;
  }
}

function servingTls(files: WorkloadFiles) {
  return { cert: files.certificatePem, key: files.keyPem, ca: files.meshCa };
}

function storeTls(files: WorkloadFiles): StoreTls {
  return { cert: files.certificatePem, key: files.keyPem, meshCa: files.meshCa };
}

function releaseBody(secretId: string, record: SecretRecord): SecretRelease {
  return {
    id: secretId,
    secret: Buffer.from(record.secret).toString('base64'),
    expiresAt: record.expiresAt.toISOString(),
  };
}

/** The client certificate's DER; undefined when the client sent none. */
function peerCertificate(req: IncomingMessage): Uint8Array | undefined {
  const certificate = (req.socket as TLSSocket).getPeerCertificate?.();
  return certificate?.raw ? new Uint8Array(certificate.raw) : undefined;
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0] ?? '/';
}

/** The body as text, or undefined when it is longer than `limit` bytes. */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function refuse(res: ServerResponse, refusal: InferenceRefusal, close = false): void {
  const { status, body } = inferenceErrorResponse(refusal);
  res.writeHead(status, { 'content-type': 'application/json', ...(close ? { connection: 'close' } : {}) });
  res.end(JSON.stringify(body));
}

function json200(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
