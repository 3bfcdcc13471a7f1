/**
 * Where the cluster admin can look, searched for a string that must not be there (a key, a prompt),
 * and every encoding of a key such a search looks for:
 * every object of every listable resource of the API server (Events included), and every file
 * under a directory (logs, etcd's data and WAL files, the dev state directory), byte for byte.
 */
import { execFile } from 'node:child_process';
import { KeyObject, type webcrypto } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultBinDir } from '../../src/dev/control-plane.ts';

const run = promisify(execFile);

/** Every object the API server lists, of every resource that can be listed, as kubectl prints them in JSON. */
export async function everyListableObject(kubeconfig: string): Promise<string> {
  const kubectl = (...args: string[]) =>
    run(join(defaultBinDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 512 * 1024 * 1024 });
  const resources = (await kubectl('api-resources', '--verbs=list', '-o', 'name')).stdout
    .split('\n')
    .filter((r) => r.length > 0);
  return (await kubectl('get', resources.join(','), '-A', '-o', 'json')).stdout;
}

/** Every regular file under `dir`, recursively (links and sockets are not followed). */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const stat = lstatSync(path);
    if (stat.isDirectory()) return filesUnder(path);
    return stat.isFile() ? [path] : [];
  });
}

/** The files under `dir` whose bytes contain `needle`. */
export function filesContaining(dir: string, needle: string | Buffer): string[] {
  const bytes = typeof needle === 'string' ? Buffer.from(needle, 'utf8') : needle;
  return filesUnder(dir).filter((file) => {
    try {
      return readFileSync(file).includes(bytes);
    } catch {
      return false; // gone, or not readable (a key file 0400 is still ours)
    }
  });
}

/**
 * Every encoding of a private key's secret a leak could take: the JWK `d`, the raw scalar in hex
 * and base64, PKCS#8 DER in base64 and hex. A CryptoKey is read through KeyObject.from, which
 * still reads a non-extractable key (deprecated, DEP0204): tests only.
 */
export function secretEncodings(key: KeyObject | webcrypto.CryptoKey): string[] {
  const object = key instanceof KeyObject ? key : KeyObject.from(key);
  const d = object.export({ format: 'jwk' }).d!;
  const der = object.export({ format: 'der', type: 'pkcs8' });
  const raw = Buffer.from(d, 'base64url');
  return [d, raw.toString('hex'), raw.toString('base64'), der.toString('base64'), der.toString('hex')];
}
