/**
 * The stub libnvidia-ml.so for FFI tests: compiled with gcc from test/fixtures/nvml-stub/nvml_stub.c
 * once per source hash (cached in the temp directory, so later runs reuse it), and driven through
 * a directory of files (see the C file's header) that NvmlStubDir writes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'nvml-stub', 'nvml_stub.c');
const run = promisify(execFile);
let built: Promise<string> | undefined;

/** Path of the compiled stub (named libnvidia-ml.so.1, as the driver's). */
export function buildNvmlStub(): Promise<string> {
  built ??= compile();
  return built;
}

async function compile(): Promise<string> {
  const source = await readFile(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'attestor-nvml-stub', hash);
  const library = join(dir, 'libnvidia-ml.so.1');
  if (existsSync(library)) return library;
  await mkdir(dir, { recursive: true });
  // Compile to a private name and rename: parallel test runs never load a half-written file.
  const partial = `${library}.${process.pid}.tmp`;
  await run('gcc', [
    '-shared',
    '-fPIC',
    '-O2',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-std=c11',
    '-D_GNU_SOURCE',
    '-o',
    partial,
    SOURCE,
    '-lpthread',
  ]);
  await rename(partial, library);
  return library;
}

export interface StubGpu {
  uuid: string;
  /** report.bin: returned for any nonce without a per-nonce report. */
  report?: Uint8Array;
  /** attestationCertChain. */
  certChainPem?: string;
  /** certChain (the device identity chain). */
  deviceCertChainPem?: string;
  cecReport?: Uint8Array;
  /** Copy the caller's nonce into report bytes 4..35. */
  spliceNonce?: boolean;
  /** attestationReportSize / attestationCertChainSize to claim instead of the file's length. */
  reportSize?: number;
  certChainSize?: number;
}

export interface StubConfig {
  gpus?: StubGpu[];
  /** environment, ccFeature, devToolsMode. */
  ccState?: [number, number, number];
  ready?: boolean;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A stub configuration directory; `use()` points $NVML_STUB_DIR at it. */
export class NvmlStubDir {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  static async create(config: StubConfig = {}): Promise<NvmlStubDir> {
    const stub = new NvmlStubDir(await mkdtemp(join(tmpdir(), 'attestor-nvml-dir-')));
    const gpus = config.gpus ?? [];
    await writeFile(join(stub.path, 'uuids'), gpus.map((g) => `${g.uuid}\n`).join(''));
    for (const [i, g] of gpus.entries()) {
      const dir = join(stub.path, `gpu${i}`);
      await mkdir(dir, { recursive: true });
      if (g.report) await writeFile(join(dir, 'report.bin'), g.report);
      if (g.certChainPem !== undefined) await writeFile(join(dir, 'certchain.pem'), g.certChainPem);
      if (g.deviceCertChainPem !== undefined) await writeFile(join(dir, 'device-certchain.pem'), g.deviceCertChainPem);
      if (g.cecReport) await writeFile(join(dir, 'cec-report.bin'), g.cecReport);
      if (g.spliceNonce) await writeFile(join(dir, 'splice-nonce'), '');
      if (g.reportSize !== undefined) await writeFile(join(dir, 'report-size'), String(g.reportSize));
      if (g.certChainSize !== undefined) await writeFile(join(dir, 'certchain-size'), String(g.certChainSize));
    }
    if (config.ccState) await writeFile(join(stub.path, 'cc-state'), config.ccState.join(' '));
    if (config.ready !== undefined) await writeFile(join(stub.path, 'ready'), config.ready ? '1\n' : '0\n');
    return stub;
  }

  /** Points the stub at this directory (it reads $NVML_STUB_DIR on every call). */
  use(): void {
    process.env.NVML_STUB_DIR = this.path;
  }

  /** The report GPU `gpu` returns for exactly this nonce. */
  async setReportForNonce(gpu: number, nonce: Uint8Array, report: Uint8Array): Promise<void> {
    await mkdir(join(this.path, `gpu${gpu}`), { recursive: true });
    await writeFile(join(this.path, `gpu${gpu}`, `report-${hex(nonce)}.bin`), report);
  }

  /** Makes `fn` return `code` (for one GPU or all); null removes the failure. */
  async setFailure(fn: string, code: number | null, gpu?: number): Promise<void> {
    const dir = join(this.path, gpu === undefined ? 'fail' : `gpu${gpu}/fail`);
    if (code === null) return rm(join(dir, fn), { force: true });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, fn), String(code));
  }

  async setCcState(environment: number, ccFeature: number, devToolsMode: number): Promise<void> {
    await writeFile(join(this.path, 'cc-state'), `${environment} ${ccFeature} ${devToolsMode}`);
  }

  /** The persisted ready state file ("0"/"1"), or undefined when never set. */
  async readyFile(): Promise<string | undefined> {
    return readFile(join(this.path, 'ready'), 'utf8').then(
      (s) => s.trim(),
      () => undefined,
    );
  }

  /** Every call so far, one "<function> <arguments>" string each. */
  async calls(): Promise<string[]> {
    const text = await readFile(join(this.path, 'calls.log'), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l !== '');
  }

  /** Calls other than nvmlErrorString (which the binding makes for every error). */
  async apiCalls(): Promise<string[]> {
    return (await this.calls()).filter((c) => !c.startsWith('nvmlErrorString'));
  }

  async clearCalls(): Promise<void> {
    await rm(join(this.path, 'calls.log'), { force: true });
  }

  async remove(): Promise<void> {
    if (process.env.NVML_STUB_DIR === this.path) delete process.env.NVML_STUB_DIR;
    await rm(this.path, { recursive: true, force: true });
  }
}
