/**
 * Keeps a TLS server on the current serving certificate: the files are re-read when their
 * directory changes (fs.watch) and on a timer (the backstop: Kubernetes Secret volumes swap a
 * symlink, which some file systems do not report), and a new pair is installed only when it
 * loads as a matching certificate and key. A half-written pair is retried, never served.
 */
import { createHash } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../observability/log.ts';

export interface CertificatePair {
  cert: string;
  key: string;
}

export class CertificateReloader {
  readonly #certFile: string;
  readonly #keyFile: string;
  readonly #log: Logger;
  #current: CertificatePair;
  #timer: NodeJS.Timeout | undefined;
  #watchers: FSWatcher[] = [];
  #checking: Promise<void> | undefined;
  #again = false;

  /** Reads the pair now: a server must not start without a usable certificate. */
  constructor(certFile: string, keyFile: string, log: Logger) {
    this.#certFile = certFile;
    this.#keyFile = keyFile;
    this.#log = log;
    this.#current = { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
    createSecureContext(this.#current); // throws on a bad pair
  }

  get current(): CertificatePair {
    return this.#current;
  }

  /** Calls onChange with each new valid pair until stop(). */
  start(onChange: (pair: CertificatePair) => void, intervalMs: number): void {
    const check = () => void this.check(onChange);
    this.#timer = setInterval(check, intervalMs);
    this.#timer.unref();
    for (const dir of new Set([dirname(this.#certFile), dirname(this.#keyFile)])) {
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
      pair = { cert: await readFile(this.#certFile, 'utf8'), key: await readFile(this.#keyFile, 'utf8') };
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'cannot read the serving certificate; keeping the current one');
      return;
    }
    if (pair.cert === this.#current.cert && pair.key === this.#current.key) return;
    try {
      createSecureContext(pair);
    } catch (err) {
      // Often the cert is written and the key not yet: the next change or tick tries again.
      this.#log.warn({ err: (err as Error).message }, 'new serving certificate does not load yet; keeping the current one');
      return;
    }
    this.#current = pair;
    onChange(pair);
    this.#log.info({ certificateSha256: createHash('sha256').update(pair.cert).digest('hex') }, 'serving certificate reloaded');
  }
}
