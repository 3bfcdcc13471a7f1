/**
 * What the "no key in any object or log" tests search for and where: every encoding of a private
 * key a leak could take, and every object of every listable resource of the API server.
 */
import { execFile } from 'node:child_process';
import { KeyObject, type webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

/** Every object of every resource the API server lists, all namespaces, as kubectl's JSON. */
export async function everyObject(cp: { binDir: string; kubeconfigPath: string }): Promise<string> {
  const kubectl = (...args: string[]) =>
    run(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, ...args], { maxBuffer: 256 << 20 });
  const resources = (await kubectl('api-resources', '--verbs=list', '-o', 'name')).stdout
    .split('\n')
    .filter((r) => r.length > 0);
  return (await kubectl('get', resources.join(','), '-A', '-o', 'json')).stdout;
}
