/**
 * Keeps a TLS server (the webhook, the Coordinator API) on the current serving certificate and, where clients must authenticate,
 * the current client CA bundle: the files are re-read when their directory changes (fs.watch)
 * and on a timer (the backstop: Kubernetes Secret and ConfigMap volumes swap a symlink, which
 * some file systems do not report), and new material is installed only when it loads: a
 * matching certificate and key, a CA file with at least one certificate. A half-written pair is
 * retried, never served.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';

/** How often the files are re-read besides on fs.watch events (the backstop). */
export const DEFAULT_CERT_RELOAD_INTERVAL_MS = 10_000;

export interface CertificatePair {
  cert: string;
  key: string;
  /** PEM bundle of the CAs whose client certificates are accepted (with a client CA file only). */
  ca?: string;
}

export class CertificateReloader {
  readonly #certFile: string;
  readonly #keyFile: string;
  readonly #caFile: string | undefined;
  readonly #log: Logger;
  #current: CertificatePair;
  #timer: NodeJS.Timeout | undefined;
  #watchers: FSWatcher[] = [];
  #checking: Promise<void> | undefined;
  #again = false;

  /** Reads the files now: a server must not start without a usable certificate (and client CA). */
  constructor(certFile: string, keyFile: string, log: Logger, caFile?: string) {
    this.#certFile = certFile;
    this.#keyFile = keyFile;
    this.#caFile = caFile;
    this.#log = log;
    this.#current = {
      cert: readFileSync(certFile, 'utf8'),
      key: readFileSync(keyFile, 'utf8'),
      ...(caFile ? { ca: readFileSync(caFile, 'utf8') } : {}),
    };
    const problem = unusable(this.#current);
    if (problem) throw new Error(problem);
  }

  get current(): CertificatePair {
    return this.#current;
  }

  /** Calls onChange with each new valid pair until stop(). */
  start(onChange: (pair: CertificatePair) => void, intervalMs: number): void {
    const check = () => void this.check(onChange);
    this.#timer = setInterval(check, intervalMs);
    this.#timer.unref();
    for (const dir of new Set(
      [this.#certFile, this.#keyFile, ...(this.#caFile ? [this.#caFile] : [])].map((f) => dirname(f)),
    )) {
      try {
        const watcher = watch(dir, { persistent: false }, check);
        watcher.on('error', () => undefined); // the timer still covers it
        this.#watchers.push(watcher);
      } catch {
        // No inotify here: the timer alone.
      }
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }

  /** Re-reads the files; one check at a time, and one more if asked while running. */
  async check(onChange: (pair: CertificatePair) => void): Promise<void> {
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      do {
        this.#again = false;
        await this.#checkOnce(onChange);
      } while (this.#again);
    })().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #checkOnce(onChange: (pair: CertificatePair) => void): Promise<void> {
    let pair: CertificatePair;
    try {
      pair = {
        cert: await readFile(this.#certFile, 'utf8'),
        key: await readFile(this.#keyFile, 'utf8'),
        ...(this.#caFile ? { ca: await readFile(this.#caFile, 'utf8') } : {}),
      };
    } catch (err) {
      this.#log.warn(
        { err: errorMessage(err) },
        'cannot read the serving certificate or client CA; keeping the current ones',
      );
      return;
    }
    if (pair.cert === this.#current.cert && pair.key === this.#current.key && pair.ca === this.#current.ca) return;
    const problem = unusable(pair);
    if (problem) {
      // Often the cert is written and the key not yet: the next change or tick tries again.
      this.#log.warn(
        { err: problem },
        'new serving certificate or client CA does not load yet; keeping the current ones',
      );
      return;
    }
    const caChanged = pair.ca !== this.#current.ca;
    this.#current = pair;
    onChange(pair);
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    this.#log.info(
      { certificateSha256: sha256(pair.cert), ...(caChanged && pair.ca ? { clientCaSha256: sha256(pair.ca) } : {}) },
      caChanged ? 'serving certificate or client CA reloaded' : 'serving certificate reloaded',
    );
  }
}

/** Why the material cannot be served, or undefined. */
function unusable(pair: CertificatePair): string | undefined {
  try {
    createSecureContext(pair);
  } catch (err) {
    return errorMessage(err);
  }
  if (pair.ca === undefined) return undefined;
  // An empty or garbled bundle would refuse every client: keep the one that works instead.
  const blocks = pair.ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return 'the client CA file holds no PEM certificate';
  for (const block of blocks) {
    try {
      if (!new X509Certificate(block).ca) return 'the client CA file holds a certificate that is not a CA';
    } catch (err) {
      return `the client CA file holds an unreadable certificate: ${errorMessage(err)}`;
    }
  }
  return undefined;
}
