/**
 * The worker proxy's TLS identity: the pod's workload certificate and key, as `attestor init`
 * leaves them in its volume (`cert.pem`, `key.pem`, written by rename). `attestor init --renew`
 * replaces cert.pem before it expires, so the files are watched and the server's secure context is
 * swapped when a new, matching pair can be read; until then the old one serves. A missing or
 * unreadable pair at start is an error: the proxy does not serve without its certificate.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CERTIFICATE_FILE, KEY_FILE } from '../agent/certificate-files.ts';

export interface ServingCertificate {
  /** PEM: the workload certificate (and any issuers the file holds). */
  cert: string;
  /** PEM: its private key. */
  key: string;
  /** When the leaf expires. */
  notAfter: Date;
}

/** Reads the pair and checks that the key is the certificate's; an error names what is wrong. */
export async function readServingCertificate(dir: string): Promise<ServingCertificate | { error: string }> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([
      readFile(join(dir, CERTIFICATE_FILE), 'utf8'),
      readFile(join(dir, KEY_FILE), 'utf8'),
    ]);
  } catch (err) {
    return {
      error: `cannot read ${CERTIFICATE_FILE} and ${KEY_FILE} in ${dir}: ${(err as NodeJS.ErrnoException).code}`,
    };
  }
  try {
    const leaf = new X509Certificate(cert);
    if (!leaf.checkPrivateKey(createPrivateKey(key)))
      return { error: `${KEY_FILE} is not the key of ${CERTIFICATE_FILE} in ${dir}` };
    return { cert, key, notAfter: new Date(leaf.validTo) };
  } catch {
    return { error: `${CERTIFICATE_FILE} or ${KEY_FILE} in ${dir} does not parse` };
  }
}

/**
 * Calls `onChange` with each new pair read after a file of `dir` changes. Events come in bursts
 * (a rename per file), so reads are serialised and a pair equal to the last one is not reported.
 */
export function watchServingCertificate(
  dir: string,
  current: ServingCertificate,
  onChange: (pair: ServingCertificate) => void,
  onError: (error: string) => void,
): { close(): void } {
  let last = current;
  let reading: Promise<void> = Promise.resolve();
  let closed = false;
  const reread = () => {
    reading = reading.then(async () => {
      if (closed) return;
      const pair = await readServingCertificate(dir);
      if (closed) return;
      if ('error' in pair) {
        // cert.pem is briefly absent between renewals that fail: keep serving the old pair.
        onError(pair.error);
        return;
      }
      if (pair.cert === last.cert && pair.key === last.key) return;
      last = pair;
      onChange(pair);
    });
  };
  const watcher: FSWatcher = watch(dir, { persistent: false }, (_event, name) => {
    if (name === null || name === CERTIFICATE_FILE || name === KEY_FILE) reread();
  });
  watcher.on('error', (err) => onError(`watching ${dir} failed: ${err.message}`));
  return {
    close() {
      closed = true;
      watcher.close();
    },
  };
}
