// The secret service's test harness: a real etcd (bin/etcd) serving TLS with a secret-store
// certificate and requiring mesh client certificates, curl and acceptKeyExchange as the client,
// SecretReleaseClient with worker certificates, and the encodings a leaked secret would take.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { freePorts } from '../../../src/dev/ports.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { createLogger, type Logger } from '../../../src/observability/log.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import {
  acceptKeyExchange,
  KEY_EXCHANGE_PATH,
  keyExchangeRequest,
  newClientKeyPair,
} from '../../../src/protocol/inference/key-exchange.ts';
import { type LocalEtcd, startLocalEtcd } from '../../../src/secrets/local-etcd.ts';
import { SecretReleaseClient, SecretReleaseError } from '../../../src/secrets/release-client.ts';
import type { SecretService } from '../../../src/secrets/secret-service.ts';
import { type Workload, workload } from './identities.ts';

export const run = promisify(execFile);
export const SERVICE_POLICIES = [
  { name: 'secret-service', hash: 'a1'.repeat(32), role: 'secret-service' as const },
  { name: 'llama', hash: 'b2'.repeat(32) },
];

export class CapturedLog {
  text = '';
  readonly logger: Logger;
  constructor() {
    const stream = new PassThrough();
    stream.on('data', (c: Buffer) => {
      this.text += c.toString('utf8');
    });
    this.logger = createLogger({ level: 'debug', destination: stream });
  }
}

export interface Store {
  etcd: LocalEtcd;
  dir: string;
}

export async function startStore(
  dir: string,
  mesh: CertificateAuthority,
  identity: Workload,
  trusted: string,
): Promise<Store> {
  const [clientPort, peerPort] = await freePorts(2);
  writeFileSync(join(dir, 'etcd-cert.pem'), identity.cert);
  writeFileSync(join(dir, 'etcd-key.pem'), identity.key, { mode: 0o600 });
  writeFileSync(join(dir, 'etcd-trusted.pem'), trusted);
  const etcd = startLocalEtcd({
    dir: join(dir, 'etcd'),
    clientPort: clientPort!,
    peerPort: peerPort!,
    certFile: join(dir, 'etcd-cert.pem'),
    keyFile: join(dir, 'etcd-key.pem'),
    trustedCaFile: join(dir, 'etcd-trusted.pem'),
  });
  // Readiness only (curl -k: the member's own certificate is what some tests make wrong).
  const client = await workload(mesh, 'secret-service');
  writeFileSync(join(dir, 'probe.pem'), client.cert);
  writeFileSync(join(dir, 'probe-key.pem'), client.key);
  await waitFor(
    async () => {
      if (etcd.process.exitCode !== undefined) throw new Error(`etcd exited: ${readFileSync(etcd.logFile, 'utf8')}`);
      const args = ['-sk', '--cert', join(dir, 'probe.pem'), '--key', join(dir, 'probe-key.pem')];
      const { stdout } = await run('curl', [...args, `${etcd.endpoint}/health`]);
      return stdout.includes('"health":"true"');
    },
    { timeoutMs: 60_000, description: 'the secret-store etcd to answer' },
  );
  return { etcd, dir };
}

export async function curlExchange(
  service: SecretService,
  caFile: string,
  bodyFile: string,
  headers: string[] = [],
): Promise<{ status: number; body: unknown }> {
  const { stdout } = await run('curl', [
    '-sS',
    '--cacert',
    caFile,
    '-H',
    'content-type: application/json',
    ...headers.flatMap((h) => ['-H', h]),
    '--data-binary',
    `@${bodyFile}`,
    '-w',
    '\n%{http_code}',
    `${service.url}${KEY_EXCHANGE_PATH}`,
  ]);
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: JSON.parse(stdout.slice(0, i)) };
}

/** A client's whole exchange: its key pair, curl to the service, acceptKeyExchange against the mesh CA. */
export async function exchange(service: SecretService, mesh: CertificateAuthority, dir: string) {
  const pair = await newClientKeyPair();
  const bodyFile = join(dir, `exchange-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(bodyFile, JSON.stringify(keyExchangeRequest(pair)));
  writeFileSync(join(dir, 'client-mesh.pem'), mesh.pem);
  const answer = await curlExchange(service, join(dir, 'client-mesh.pem'), bodyFile);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const accepted = await acceptKeyExchange({
    pair,
    response: answer.body,
    meshCA: mesh.pem,
    policies: SERVICE_POLICIES,
    at: new Date(),
  });
  assert.ok(accepted.accepted, JSON.stringify(!accepted.accepted && accepted.reasons));
  return accepted;
}

export function releaseClient(service: SecretService, mesh: CertificateAuthority, identity: Workload) {
  return new SecretReleaseClient({ url: service.url, cert: identity.cert, key: identity.key, meshCa: mesh.pem });
}

export async function refusedWith(client: SecretReleaseClient, id: string): Promise<SecretReleaseError> {
  try {
    await client.get(id);
  } catch (err) {
    assert.ok(err instanceof SecretReleaseError, String(err));
    return err;
  } finally {
    client.close();
  }
  assert.fail('the release must be refused');
}

/** Another replica on the same etcd serves once it received the storage key from the first. */
export async function receivedKey(service: SecretService): Promise<SecretService> {
  await waitFor(() => service.ready(), { timeoutMs: 30_000, description: 'the replica to receive the storage key' });
  return service;
}

export function forms(secret: Uint8Array): Buffer[] {
  const b = Buffer.from(secret);
  return [b, Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url')), Buffer.from(b.toString('hex'))];
}

export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}
