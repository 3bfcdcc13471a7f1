// Workload identities for the secret service's tests: mesh CAs made through src/pki/
// (CoordinatorPki), and workload certificates with the identity extension for a fresh ECDSA P-256
// key, as the Coordinator issues them to certified pods, with the key in PEM as `attestor init`
// writes key.pem.
import { KeyObject, webcrypto } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { CoordinatorPki } from '../../../src/pki/coordinator-pki.ts';
import { workloadLeafRequest } from '../../../src/pki/workload-certificate.ts';

export interface Workload {
  cert: string;
  key: string;
  der: Uint8Array;
}

export async function meshCa(now = new Date()): Promise<CertificateAuthority> {
  const pki = await CoordinatorPki.create(now);
  return pki.newMeshCa(now);
}

export async function workload(
  mesh: CertificateAuthority,
  role: string | undefined,
  options: { now?: Date; lifetimeMs?: number; sans?: string[] } = {},
): Promise<Workload> {
  const now = options.now ?? new Date();
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const request = workloadLeafRequest({
    publicKey: keys.publicKey,
    commonName: role ?? 'no-identity',
    namespace: 'attestor-system',
    sans: options.sans ?? ['127.0.0.1', 'localhost'],
    identity: {
      role: role ?? 'worker',
      deploymentModel: 'pod-cvm',
      policyHash: 'a1'.repeat(32),
      evidenceDigest: 'b2'.repeat(32),
      manifestHash: 'c3'.repeat(32),
      podUid: '6f1c2d0e-0000-4000-8000-000000000010',
    },
    lifetimeMs: options.lifetimeMs ?? 3_600_000,
    now,
  });
  if (role === undefined) request.extensions = [];
  const certificate = await mesh.issue(request);
  return {
    cert: certificate.toString('pem'),
    key: KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string,
    der: new Uint8Array(certificate.rawData),
  };
}

/** The files `attestor init` leaves: cert.pem, key.pem, mesh-ca.pem. */
export function writeWorkloadFiles(dir: string, mesh: CertificateAuthority, identity: Workload): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'mesh-ca.pem'), mesh.pem);
  writeFileSync(join(dir, 'cert.pem'), identity.cert);
  writeFileSync(join(dir, 'key.pem'), identity.key, { mode: 0o600 });
}
