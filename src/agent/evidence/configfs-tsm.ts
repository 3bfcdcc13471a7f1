/**
 * CVM evidence through Linux configfs-tsm (Documentation/ABI/testing/configfs-tsm-report): the
 * kernel's one interface for SEV-SNP (sev_guest) and TDX (tdx_guest) reports. One request is a
 * directory made under the report root; writing `inblob` sets REPORT_DATA, reading `outblob`
 * makes the report, `auxblob` holds what the provider adds (SNP: the certificate table), and
 * `generation` counts the writes, which is how a reader notices a concurrent writer.
 *
 * File operations are injectable because a plain filesystem does not behave like configfs: the
 * attribute files appear by themselves on mkdir, writing `inblob` regenerates `outblob` and bumps
 * `generation`, and rmdir removes a directory that still holds them. Tests emulate that.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getSystemErrorMessage } from 'node:util';
import { errorMessage } from '../../errors.ts';
import type { CvmEvidence, CvmEvidenceSource } from './source.ts';

/** Where the kernel mounts the report subsystem (configfs on /sys/kernel/config). */
export const DEFAULT_TSM_REPORT_ROOT = '/sys/kernel/config/tsm/report';
/** TSM_REPORT_INBLOB_MAX, and the size of REPORT_DATA in both SNP and TDX reports. */
export const TSM_INBLOB_SIZE = 64;
/** Attempts when another writer bumps our entry's generation before we have read it. */
export const DEFAULT_TSM_ATTEMPTS = 3;

/** configfs-tsm provider names and the platform each one reports for. */
export const TSM_PROVIDERS: Readonly<Record<string, CvmEvidence['platform']>> = {
  sev_guest: 'snp',
  tdx_guest: 'tdx',
};

/** The few file operations a report request needs; node:fs/promises by default. */
export interface TsmFileOps {
  mkdir(path: string): Promise<void>;
  /** Removes a report entry; on configfs this also drops its attribute files. */
  rmdir(path: string): Promise<void>;
  /** Rejects with an error whose `code` is ENOENT when the attribute does not exist. */
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
}

export const nodeTsmFileOps: TsmFileOps = {
  mkdir: async (path) => {
    await mkdir(path);
  },
  rmdir: (path) => rmdir(path),
  readFile: async (path) => new Uint8Array(await readFile(path)),
  // One write: configfs buffers a binary attribute until close and hands the kernel one blob.
  writeFile: (path, data) => writeFile(path, data),
};

export type TsmStep =
  | 'mkdir'
  | 'read provider'
  | 'read generation'
  | 'write inblob'
  | 'read outblob'
  | 'read auxblob'
  | 'check generation'
  | 'rmdir';

/** A configfs-tsm request that failed: which step, on which path. */
export class ConfigfsTsmError extends Error {
  readonly step: TsmStep;
  readonly path: string;
  /** What went wrong, without the step and path. */
  readonly detail: string;

  constructor(step: TsmStep, path: string, detail: string, options?: { cause?: unknown }) {
    super(`configfs-tsm: ${step} ${path}: ${detail}`, options);
    this.name = 'ConfigfsTsmError';
    this.step = step;
    this.path = path;
    this.detail = detail;
  }
}

/** A generation other than the expected one: someone else wrote to our entry. Worth a retry. */
class GenerationRaceError extends ConfigfsTsmError {}

export interface ConfigfsTsmOptions {
  /** The report subsystem directory; default /sys/kernel/config/tsm/report. */
  root?: string;
  fs?: TsmFileOps;
  /** Attempts before a generation race is an error; default 3. */
  attempts?: number;
}

/** CvmEvidenceSource on configfs-tsm: one fresh entry per report, always removed again. */
export class ConfigfsTsmSource implements CvmEvidenceSource {
  readonly kind = 'configfs-tsm';
  readonly root: string;
  readonly #fs: TsmFileOps;
  readonly #attempts: number;

  constructor(options: ConfigfsTsmOptions = {}) {
    this.root = options.root ?? DEFAULT_TSM_REPORT_ROOT;
    this.#fs = options.fs ?? nodeTsmFileOps;
    this.#attempts = Math.max(1, options.attempts ?? DEFAULT_TSM_ATTEMPTS);
  }

  async collect(reportData: Uint8Array): Promise<CvmEvidence> {
    // The kernel takes 1..64 bytes and zero-pads; a short nonce binding is a caller bug, not padding.
    if (reportData.length !== TSM_INBLOB_SIZE)
      throw new RangeError(
        `configfs-tsm: REPORT_DATA must be exactly ${TSM_INBLOB_SIZE} bytes, got ${reportData.length}`,
      );
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#collectOnce(reportData);
      } catch (err) {
        if (!(err instanceof GenerationRaceError)) throw err;
        if (attempt >= this.#attempts)
          throw new ConfigfsTsmError(err.step, err.path, `${err.detail} (gave up after ${attempt} attempts)`, {
            cause: err,
          });
        // The entry is gone already; the next attempt uses a fresh one.
      }
    }
  }

  async #collectOnce(reportData: Uint8Array): Promise<CvmEvidence> {
    // A name of our own per request: configfs-tsm's advice for avoiding writers on one entry.
    const entry = join(this.root, `attestor-${process.pid}-${randomUUID()}`);
    await this.#step('mkdir', entry, () => this.#fs.mkdir(entry));
    let result: CvmEvidence | undefined;
    let failure: unknown;
    try {
      result = await this.#request(entry, reportData);
    } catch (err) {
      failure = err;
    }
    try {
      await this.#step('rmdir', entry, () => this.#fs.rmdir(entry));
    } catch (err) {
      // Both failed: the request's error is the one that explains, the leaked entry is noted.
      if (failure instanceof Error) failure.message += `; and the entry was not removed: ${errorMessage(err)}`;
      else failure = err;
    }
    if (failure !== undefined) throw failure;
    return result!;
  }

  async #request(entry: string, reportData: Uint8Array): Promise<CvmEvidence> {
    const providerPath = join(entry, 'provider');
    const provider = text(await this.#step('read provider', providerPath, () => this.#fs.readFile(providerPath)));
    const platform = Object.hasOwn(TSM_PROVIDERS, provider) ? TSM_PROVIDERS[provider] : undefined;
    if (!platform)
      throw new ConfigfsTsmError(
        'read provider',
        providerPath,
        `provider "${provider}" is not one of ${Object.keys(TSM_PROVIDERS).join(', ')}`,
      );

    const generationPath = join(entry, 'generation');
    const before = await this.#generation(generationPath);
    const inblobPath = join(entry, 'inblob');
    await this.#step('write inblob', inblobPath, () => this.#fs.writeFile(inblobPath, Uint8Array.from(reportData)));
    // Our write is the only one this entry should ever see.
    const expected = before + 1n;

    const outblobPath = join(entry, 'outblob');
    const report = await this.#step('read outblob', outblobPath, () => this.#fs.readFile(outblobPath));
    if (report.length === 0) throw new ConfigfsTsmError('read outblob', outblobPath, 'the report is empty');
    const auxblobPath = join(entry, 'auxblob');
    const auxblob = await this.#step('read auxblob', auxblobPath, () =>
      this.#fs.readFile(auxblobPath).catch((err: unknown) => {
        // tdx_guest has no auxblob attribute at all; sev_guest's is empty when the host gave no certificates.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Uint8Array(0);
        throw err;
      }),
    );

    // generation only ever grows, so one check after the last read covers both reads.
    const after = await this.#generation(generationPath);
    if (after !== expected) {
      throw new GenerationRaceError(
        'check generation',
        generationPath,
        `generation is ${after}, expected ${expected} after our one write: another writer changed this report entry`,
      );
    }
    return { platform, report, provider, ...(auxblob.length > 0 ? { auxblob } : {}) };
  }

  async #generation(path: string): Promise<bigint> {
    const value = text(await this.#step('read generation', path, () => this.#fs.readFile(path)));
    if (!/^\d+$/.test(value))
      throw new ConfigfsTsmError('read generation', path, `"${value}" is not a generation number`);
    return BigInt(value);
  }

  async #step<T>(step: TsmStep, path: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof ConfigfsTsmError) throw err;
      const e = err as NodeJS.ErrnoException;
      // Node's message repeats the path; the code and the system's text say it once.
      let detail = e.code && typeof e.errno === 'number' ? `${e.code} (${getSystemErrorMessage(e.errno)})` : e.message;
      if (step === 'mkdir' && e.code === 'ENOENT')
        detail += ': is configfs mounted and the sev-guest or tdx-guest driver loaded?';
      throw new ConfigfsTsmError(step, path, detail, { cause: err });
    }
  }
}

/** Attribute text as the kernel emits it ("%s\n"), without the newline. */
function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8').trim();
}
