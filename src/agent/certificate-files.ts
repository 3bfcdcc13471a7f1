/**
 * The workload certificate as `attestor init` leaves it for the pod's other containers, in a
 * memory-backed volume: `mesh-ca.pem` and `cert.pem` (0444) and `key.pem` (0400). Each file is
 * written to a temporary name and renamed, so a reader sees the old file or the new one, never
 * half of one. The key is written once; renewal keeps it (REPORT_DATA binds it again).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as jose from 'jose';
import { type AgentKey, agentKeyFrom } from './agent-key.ts';

export const MESH_CA_FILE = 'mesh-ca.pem';
export const CERTIFICATE_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';

async function writeAtomically(dir: string, name: string, content: string, mode: number): Promise<void> {
  const temporary = join(dir, `.${name}.${process.pid}.tmp`);
  await rm(temporary, { force: true });
  await writeFile(temporary, content, { mode, flag: 'wx' });
  await rename(temporary, join(dir, name));
}

/** Writes the key (PKCS #8 PEM, 0400); only `attestor init` calls it, with its own key. */
export async function writeKey(dir: string, key: AgentKey): Promise<void> {
  await writeAtomically(dir, KEY_FILE, await jose.exportPKCS8(key.privateKey), 0o400);
}

/** Writes the mesh CA first, then the certificate it issued. */
export async function writeCertificate(dir: string, meshCaPem: string, certificatePem: string): Promise<void> {
  await writeAtomically(dir, MESH_CA_FILE, meshCaPem, 0o444);
  await writeAtomically(dir, CERTIFICATE_FILE, certificatePem, 0o444);
}

/** Removes the certificate (the pod no longer complies): the key and the mesh CA stay. */
export async function removeCertificate(dir: string): Promise<void> {
  await rm(join(dir, CERTIFICATE_FILE), { force: true });
}

/** The key a previous `attestor init` wrote, or undefined when there is none. */
export async function readKey(dir: string): Promise<AgentKey | undefined> {
  let pem: string;
  try {
    pem = await readFile(join(dir, KEY_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const publicJwk = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' });
  const privateKey = await jose.importPKCS8(pem, 'ES256', { extractable: true });
  const publicKey = (await jose.importJWK(publicJwk as jose.JWK, 'ES256')) as jose.CryptoKey;
  return agentKeyFrom(privateKey, publicKey);
}

/** The file's text, or undefined when it does not exist. */
export async function readText(dir: string, name: string): Promise<string | undefined> {
  try {
    return await readFile(join(dir, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
