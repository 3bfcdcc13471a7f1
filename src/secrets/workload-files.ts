/**
 * The secret service's own workload identity, as `attestor init` leaves it in the memory-backed
 * volume (src/agent/certificate-files.ts): `cert.pem`, `key.pem` and `mesh-ca.pem`, re-read when
 * they change (`attestor init --renew` renews the certificate, and a Manifest change brings a new
 * mesh CA). The key is imported into WebCrypto as a non-extractable signing key; its PEM stays in
 * memory for TLS only.
 */
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CERTIFICATE_FILE, KEY_FILE, MESH_CA_FILE } from '../agent/certificate-files.ts';

type CryptoKey = webcrypto.CryptoKey;

export interface WorkloadFiles {
  /** cert.pem as written: the leaf first, then any issuers. */
  certificatePem: string;
  /** The PEM blocks of cert.pem, leaf first: the chain the key exchange answers with. */
  certificateChain: string[];
  /** key.pem (PKCS #8): for TLS, never logged. */
  keyPem: string;
  /** The current mesh CA: the only CA the service trusts for etcd. */
  meshCa: string;
  /** The workload key, for signing the key exchange (ECDSA P-256). */
  signingKey: CryptoKey;
  /** SHA-256 of the three files' contents: changes when any of them does. */
  version: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

export async function readWorkloadFiles(dir: string): Promise<WorkloadFiles> {
  const [certificatePem, keyPem, meshCa] = await Promise.all(
    [CERTIFICATE_FILE, KEY_FILE, MESH_CA_FILE].map((name) => readFile(join(dir, name), 'utf8')),
  );
  const certificateChain = (certificatePem!.match(PEM_BLOCK) ?? []).map((b) => (b.endsWith('\n') ? b : `${b}\n`));
  if (certificateChain.length === 0) throw new Error(`${join(dir, CERTIFICATE_FILE)} holds no PEM certificate`);
  const der = createPrivateKey(keyPem!).export({ type: 'pkcs8', format: 'der' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
  ]);
  der.fill(0);
  return {
    certificatePem: certificatePem!,
    certificateChain,
    keyPem: keyPem!,
    meshCa: meshCa!,
    signingKey,
    version: filesVersion(certificatePem!, keyPem!, meshCa!),
  };
}

/** Whether the files on disk differ from `current`, without importing the key. */
export async function workloadFilesChanged(dir: string, current: WorkloadFiles): Promise<boolean> {
  const texts = await Promise.all(
    [CERTIFICATE_FILE, KEY_FILE, MESH_CA_FILE].map((name) => readFile(join(dir, name), 'utf8')),
  );
  return filesVersion(texts[0]!, texts[1]!, texts[2]!) !== current.version;
}

function filesVersion(...texts: string[]): string {
  const hash = createHash('sha256');
  for (const t of texts) hash.update(createHash('sha256').update(t).digest());
  return hash.digest('hex');
}
