// The parts of the encrypted inference chain that the proxies' tests run for real on loopback: a
// mesh CA made through src/pki/ (valid now), a worker's workload certificate written as
// `attestor init` leaves it (cert.pem, key.pem), a secret service's identity, and a key exchange
// answered with it (answerKeyExchange) whose secret the worker proxy's lookup is given: the
// session's and worker proxy's unit tests use it to choose lifetimes and foreign mesh CAs (a
// parameter, not a mock); the client proxy's and `attestor proxy`'s tests use the real secret
// service (real-secret-service.ts).
import { webcrypto } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { CoordinatorPki } from '../../../src/pki/coordinator-pki.ts';
import { workloadLeafRequest } from '../../../src/pki/workload-certificate.ts';
import { answerKeyExchange, parseKeyExchangeRequest } from '../../../src/protocol/inference/key-exchange.ts';
import type { WorkloadIdentity } from '../../../src/protocol/workload-certificate.ts';
import type { SecretLookup } from '../../../src/worker/worker-proxy.ts';

export const SERVICE_POLICY = 'a1'.repeat(32);
export const WORKER_POLICY = 'b2'.repeat(32);
/** The pinned Manifest's policies: a secret-service policy and a worker policy. */
export const POLICIES = [
  { name: 'secret-service', hash: SERVICE_POLICY, role: 'secret-service' as const },
  { name: 'llama', hash: WORKER_POLICY },
];
const HOUR = 3_600_000;

export async function meshCa(now = new Date()): Promise<CertificateAuthority> {
  const pki = await CoordinatorPki.create(now);
  return pki.newMeshCa(now);
}

async function leaf(
  mesh: CertificateAuthority,
  identity: WorkloadIdentity,
  commonName: string,
  withoutIdentity = false,
): Promise<{ cert: string; keyPem: string; signingKey: webcrypto.CryptoKey }> {
  const now = new Date();
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const request = workloadLeafRequest({
    publicKey: keys.publicKey,
    commonName,
    namespace: 'default',
    sans: ['127.0.0.1'],
    identity,
    lifetimeMs: HOUR,
    now,
  });
  if (withoutIdentity) request.extensions = [];
  const certificate = await mesh.issue(request);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { cert: `${certificate.toString('pem')}\n`, keyPem, signingKey: keys.privateKey };
}

function identity(role: string, policyHash: string): WorkloadIdentity {
  return {
    role,
    deploymentModel: 'pod-cvm',
    policyHash,
    evidenceDigest: 'c3'.repeat(32),
    manifestHash: 'd4'.repeat(32),
    podUid: '6f1c2d0e-0000-4000-8000-000000000001',
  };
}

/** A worker's `attestor init` volume: cert.pem and key.pem. */
export async function workerVolume(
  mesh: CertificateAuthority,
  options: { role?: string; withoutIdentity?: boolean } = {},
): Promise<{ dir: string; cert: string; key: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'attestor-worker-'));
  const pair = await leaf(mesh, identity(options.role ?? 'worker', WORKER_POLICY), 'llama', options.withoutIdentity);
  await writeFile(join(dir, 'key.pem'), pair.keyPem, { mode: 0o400 });
  await writeFile(join(dir, 'cert.pem'), pair.cert);
  return { dir, cert: pair.cert, key: pair.keyPem, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A renewal of the volume: a new certificate (here with a new key), written by rename. */
export async function renewVolume(mesh: CertificateAuthority, dir: string): Promise<string> {
  const pair = await leaf(mesh, identity('worker', WORKER_POLICY), 'llama');
  // Written by rename, as attestor init does: key first, then the certificate.
  await writeFile(join(dir, '.key.tmp'), pair.keyPem);
  await writeFile(join(dir, '.cert.tmp'), pair.cert);
  await rename(join(dir, '.key.tmp'), join(dir, 'key.pem'));
  await rename(join(dir, '.cert.tmp'), join(dir, 'cert.pem'));
  return pair.cert;
}

/**
 * A secret service that answers exchanges with a certificate from `mesh`, and the worker-side
 * lookup of the secrets it made (what the secret store will release).
 */
export async function testSecretService(mesh: CertificateAuthority, lifetimeMs = HOUR) {
  const service = await leaf(mesh, identity('secret-service', SERVICE_POLICY), 'secret-service');
  const secrets = new Map<string, { secret: Uint8Array; expiresAt: Date }>();
  let exchanges = 0;
  const exchange = async (request: unknown): Promise<unknown> => {
    const parsed = parseKeyExchangeRequest(request);
    if ('error' in parsed) throw new Error(parsed.error);
    const expiresAt = new Date(Date.now() + lifetimeMs);
    const answer = await answerKeyExchange({
      clientPublicKey: parsed.publicKey,
      signingKey: service.signingKey,
      certificateChain: [service.cert],
      expiresAt,
    });
    if ('error' in answer) throw new Error(answer.error);
    exchanges++;
    secrets.set(answer.secretId, { secret: answer.secret, expiresAt });
    return answer.response;
  };
  const lookup: SecretLookup = { get: async (id) => secrets.get(id) };
  return {
    /** The service's TLS identity: its workload certificate and key. */
    tls: { cert: service.cert, key: service.keyPem },
    exchange,
    lookup,
    secrets,
    get exchanges() {
      return exchanges;
    },
  };
}
