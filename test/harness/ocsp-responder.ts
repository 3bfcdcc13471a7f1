/**
 * A real OCSP responder on loopback: Debian's `openssl ocsp` serving one CA's index over HTTP, as
 * the tests' stand-in for NVIDIA's responder. start() returns once openssl has printed that it
 * accepts connections (no sleeps); stop() ends it and waits for its exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const OPENSSL = process.env.OPENSSL ?? '/usr/bin/openssl';

export interface IndexEntry {
  /** Serial number, hex. */
  readonly serial: string;
  readonly subject: string;
  readonly notAfter: Date;
  /** Set for a revoked certificate. */
  readonly revokedAt?: Date;
}

export interface OcspResponderOptions {
  /** Working directory for the CA's files. */
  readonly dir: string;
  /** The CA whose certificates it answers for (PEM). */
  readonly caPem: string;
  /** The certificate and key that sign the answers: the CA itself, or a responder it delegated to. */
  readonly signerPem: string;
  readonly signerKeyPem: string;
  readonly index: readonly IndexEntry[];
  /** TCP port on 127.0.0.1; the tests choose it up front because certificates carry the URL. */
  readonly port: number;
  /** Days until nextUpdate (openssl -ndays). */
  readonly days?: number;
  readonly timeoutMs?: number;
}

export class OcspResponder {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, port: number, exited: Promise<void>) {
    this.#child = child;
    this.url = `http://127.0.0.1:${port}/`;
    this.#exited = exited;
  }

  static async start(options: OcspResponderOptions): Promise<OcspResponder> {
    mkdirSync(options.dir, { recursive: true });
    const file = (name: string, content: string): string => {
      const path = join(options.dir, name);
      writeFileSync(path, content);
      return path;
    };
    const ca = file('ca.pem', options.caPem);
    const signer = file('signer.pem', options.signerPem);
    const key = file('signer.key', options.signerKeyPem);
    const index = file('index.txt', options.index.map(indexLine).join(''));
    const child = spawn(
      OPENSSL,
      [
        'ocsp',
        '-index',
        index,
        '-CA',
        ca,
        '-rsigner',
        signer,
        '-rkey',
        key,
        '-port',
        String(options.port),
        '-ndays',
        String(options.days ?? 1),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new Error(`openssl ocsp did not accept connections within ${options.timeoutMs ?? 10_000} ms: ${output}`),
        );
      }, options.timeoutMs ?? 10_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        // openssl prints "ACCEPT 0.0.0.0:PORT PID=..." (or [::]) once it listens.
        if (/ACCEPT \S+:\d+/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`openssl ocsp exited (${code}) before accepting connections: ${output}`));
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return new OcspResponder(child, options.port, exited);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    await this.#exited;
  }
}

/** One line of an openssl CA index: status, expiry, revocation time, serial, file, subject. */
function indexLine(entry: IndexEntry): string {
  const revoked = entry.revokedAt ? asn1Time(entry.revokedAt) : '';
  const serial = entry.serial.toUpperCase();
  return (
    [
      entry.revokedAt ? 'R' : 'V',
      asn1Time(entry.notAfter),
      revoked,
      serial.length % 2 ? `0${serial}` : serial,
      'unknown',
      opensslName(entry.subject),
    ].join('\t') + '\n'
  );
}

/** UTCTime as openssl's index writes it (YYMMDDHHMMSSZ; the tests' dates are before 2050). */
function asn1Time(d: Date): string {
  return d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z');
}

/** "CN=a, O=b" as openssl's one-line form "/CN=a/O=b" (only for reading; lookups go by serial). */
function opensslName(subject: string): string {
  return '/' + subject.split(/,\s*/).join('/');
}
