/**
 * ConfigfsTsmSource against a temp directory with a small emulation of configfs-tsm: a plain
 * filesystem creates no attribute files on mkdir, makes no outblob from inblob, counts no
 * generation and refuses rmdir on a directory with files in it, so the emulation does those
 * things as the kernel's tsm report code does. Every case checks that no entry is left behind.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import {
  ConfigfsTsmError,
  ConfigfsTsmSource,
  DEFAULT_TSM_REPORT_ROOT,
  type TsmFileOps,
} from '../../../src/agent/evidence/configfs-tsm.ts';
import { encodeSnpCertTable, parseSnpCertTable } from '../../../src/attestation/snp/cert-table.ts';
import { parseSnpReport, SNP_REPORT_SIZE } from '../../../src/attestation/snp/report.ts';

/** Where REPORT_DATA sits in a TDX v4 quote: 48-byte header, then the TD report body's field at 520. */
const TDX_REPORT_DATA_OFFSET = 48 + 520;

interface EmulationOptions {
  provider?: string;
  /** auxblob contents; undefined leaves the attribute out (as tdx_guest does). */
  auxblob?: Uint8Array;
  /** How many reads of outblob find that another writer wrote inblob after us. */
  races?: number;
  /** Writing inblob makes no outblob (the attribute reads as absent). */
  noOutblob?: boolean;
  rmdirFails?: boolean;
}

function errno(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, syscall, path });
}

/** configfs-tsm as the kernel behaves, over real files in a temp directory. */
class TsmEmulation implements TsmFileOps {
  readonly #options: EmulationOptions;
  #races: number;
  /** Every entry made, in order. */
  readonly entries: string[] = [];
  /** Every inblob written, in order. */
  readonly inblobs: Uint8Array[] = [];

  constructor(options: EmulationOptions = {}) {
    this.#options = options;
    this.#races = options.races ?? 0;
  }

  async mkdir(path: string): Promise<void> {
    await mkdir(path);
    this.entries.push(path);
    // configfs makes the attribute files with the directory.
    await writeFile(join(path, 'provider'), `${this.#options.provider ?? 'sev_guest'}\n`);
    await writeFile(join(path, 'generation'), '0\n');
    await writeFile(join(path, 'privlevel_floor'), '0\n');
  }

  async writeFile(path: string, data: Uint8Array): Promise<void> {
    if (basename(path) !== 'inblob') throw errno('EACCES', 'open', path);
    if (data.length > 64) throw errno('EFBIG', 'write', path);
    this.inblobs.push(Uint8Array.from(data));
    await this.#write(dirname(path), data);
  }

  async readFile(path: string): Promise<Uint8Array> {
    if (basename(path) === 'outblob' && this.#races > 0) {
      this.#races--;
      // Another process wrote inblob between our write and this read.
      await this.#write(dirname(path), new Uint8Array(64).fill(0xee));
    }
    return new Uint8Array(await readFile(path));
  }

  async rmdir(path: string): Promise<void> {
    if (this.#options.rmdirFails) throw errno('EBUSY', 'rmdir', path);
    // configfs drops an item's attributes with it; a plain directory must be emptied first.
    for (const name of await readdir(path)) await unlink(join(path, name));
    await rmdir(path);
  }

  /** What the kernel does on an inblob write: bump generation; the next read makes the report. */
  async #write(entry: string, inblob: Uint8Array): Promise<void> {
    const generation = Number((await readFile(join(entry, 'generation'), 'utf8')).trim());
    await writeFile(join(entry, 'generation'), `${generation + 1}\n`);
    if (this.#options.noOutblob) return;
    const provider = this.#options.provider ?? 'sev_guest';
    await writeFile(join(entry, 'outblob'), provider === 'tdx_guest' ? tdxQuote(inblob) : snpReport(inblob));
    if (this.#options.auxblob) await writeFile(join(entry, 'auxblob'), this.#options.auxblob);
  }
}

/** An ATTESTATION_REPORT (version 3) with the given REPORT_DATA, unsigned. */
function snpReport(reportData: Uint8Array): Uint8Array {
  const b = new Uint8Array(SNP_REPORT_SIZE);
  new DataView(b.buffer).setUint32(0, 3, true);
  b.set(reportData, 0x50);
  return b;
}

/** A TDX v4 quote shape (header, TD report body, signature data length and bytes) with REPORT_DATA. */
function tdxQuote(reportData: Uint8Array): Uint8Array {
  const b = new Uint8Array(48 + 584 + 4 + 16);
  const v = new DataView(b.buffer);
  v.setUint16(0, 4, true);
  v.setUint32(4, 0x81, true);
  b.set(reportData, TDX_REPORT_DATA_OFFSET);
  v.setUint32(48 + 584, 16, true);
  return b;
}

const CERT_TABLE = encodeSnpCertTable([
  { kind: 'vcek', der: new Uint8Array(40).fill(0x30) },
  { kind: 'ask', der: new Uint8Array(30).fill(0x31) },
  { kind: 'ark', der: new Uint8Array(20).fill(0x32) },
]);

async function rejectsTsm(
  promise: Promise<unknown>,
  step: ConfigfsTsmError['step'],
  pathEnd: string,
  detail: RegExp,
): Promise<ConfigfsTsmError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected the ${step} step to fail`),
    (err: unknown) => {
      caught = err;
    },
  );
  assert.ok(caught instanceof ConfigfsTsmError, `expected a ConfigfsTsmError, got ${String(caught)}`);
  assert.equal(caught.step, step);
  assert.ok(caught.path.endsWith(pathEnd), `${caught.path} ends with ${pathEnd}`);
  assert.ok(caught.message.includes(caught.path), 'the message names the path');
  assert.ok(caught.message.includes(step), 'the message names the step');
  assert.match(caught.message, detail);
  return caught;
}

describe('agent/evidence: configfs-tsm report source (emulated kernel)', () => {
  let root: string;
  const reportData = Uint8Array.from({ length: 64 }, (_, i) => i * 3 + 1);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'attestor-tsm-'));
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const leftBehind = (): Promise<string[]> => readdir(root);
  const source = (fs: TsmFileOps, attempts?: number): ConfigfsTsmSource =>
    new ConfigfsTsmSource({ root, fs, ...(attempts ? { attempts } : {}) });

  it("defaults to the kernel's report directory and names its kind", () => {
    const s = new ConfigfsTsmSource();
    assert.equal(s.root, DEFAULT_TSM_REPORT_ROOT);
    assert.equal(s.root, '/sys/kernel/config/tsm/report');
    assert.equal(s.kind, 'configfs-tsm');
  });

  it('sev_guest: an SNP report with our REPORT_DATA and the certificate table as auxblob', async () => {
    const fs = new TsmEmulation({ provider: 'sev_guest', auxblob: CERT_TABLE });
    const evidence = await source(fs).collect(reportData);
    assert.equal(evidence.platform, 'snp');
    assert.equal(evidence.provider, 'sev_guest');
    assert.deepEqual(parseSnpReport(evidence.report).reportData, reportData);
    assert.deepEqual(evidence.auxblob, CERT_TABLE);
    assert.deepEqual(
      parseSnpCertTable(evidence.auxblob!).map((e) => e.kind),
      ['vcek', 'ask', 'ark'],
    );
    assert.equal(fs.entries.length, 1);
    assert.deepEqual(await leftBehind(), []);
  });

  it('tdx_guest: a TDX quote with our REPORT_DATA and no auxblob (tdx_guest has no such attribute)', async () => {
    const fs = new TsmEmulation({ provider: 'tdx_guest' });
    const evidence = await source(fs).collect(reportData);
    assert.equal(evidence.platform, 'tdx');
    assert.equal(evidence.provider, 'tdx_guest');
    assert.deepEqual(evidence.report.subarray(TDX_REPORT_DATA_OFFSET, TDX_REPORT_DATA_OFFSET + 64), reportData);
    assert.equal(evidence.auxblob, undefined);
    assert.equal('auxblob' in evidence, false);
    assert.deepEqual(await leftBehind(), []);
  });

  it('sev_guest with an empty auxblob (no certificates from the host) has no auxblob', async () => {
    const fs = new TsmEmulation({ provider: 'sev_guest', auxblob: new Uint8Array(0) });
    const evidence = await source(fs).collect(reportData);
    assert.equal(evidence.platform, 'snp');
    assert.equal(evidence.auxblob, undefined);
    assert.deepEqual(await leftBehind(), []);
  });

  it('writes REPORT_DATA to inblob exactly once, byte for byte, and returns outblob unchanged', async () => {
    for (const data of [new Uint8Array(64), new Uint8Array(64).fill(0xff), new Uint8Array(randomBytes(64))]) {
      const fs = new TsmEmulation();
      const evidence = await source(fs).collect(data);
      assert.equal(fs.inblobs.length, 1);
      assert.deepEqual(fs.inblobs[0], data);
      assert.deepEqual(evidence.report, snpReport(data));
    }
    assert.deepEqual(await leftBehind(), []);
  });

  it('refuses REPORT_DATA of 63 or 65 bytes before touching configfs', async () => {
    const fs = new TsmEmulation();
    for (const length of [63, 65, 0, 32]) {
      await assert.rejects(
        source(fs).collect(new Uint8Array(length)),
        (err: Error) => err instanceof RangeError && err.message.includes(`got ${length}`),
      );
    }
    assert.deepEqual(fs.entries, []);
    assert.deepEqual(fs.inblobs, []);
    assert.deepEqual(await leftBehind(), []);
  });

  it('one entry per request: concurrent collects each get their own REPORT_DATA back', async () => {
    const fs = new TsmEmulation();
    const s = source(fs);
    const inputs = Array.from({ length: 6 }, (_, i) => new Uint8Array(64).fill(i + 1));
    const results = await Promise.all(inputs.map((d) => s.collect(d)));
    for (const [i, r] of results.entries()) assert.deepEqual(parseSnpReport(r.report).reportData, inputs[i]);
    assert.equal(new Set(fs.entries).size, 6);
    assert.deepEqual(await leftBehind(), []);
  });

  it('a concurrent writer (generation moved past ours) is retried on a fresh entry', async () => {
    const fs = new TsmEmulation({ races: 2 });
    const evidence = await source(fs).collect(reportData);
    // The report read in the raced attempts carried the other writer's data; this one is ours.
    assert.deepEqual(parseSnpReport(evidence.report).reportData, reportData);
    assert.equal(fs.entries.length, 3);
    assert.equal(new Set(fs.entries).size, 3);
    assert.deepEqual(await leftBehind(), []);
  });

  it('a writer that races every attempt fails with the generations after the last attempt', async () => {
    const fs = new TsmEmulation({ races: 100 });
    const err = await rejectsTsm(
      source(fs, 3).collect(reportData),
      'check generation',
      '/generation',
      /generation is 2, expected 1 .*another writer.*gave up after 3 attempts/,
    );
    assert.equal(fs.entries.length, 3);
    assert.ok(err.path.startsWith(fs.entries[2]!), "the path is the last attempt's entry");
    assert.deepEqual(await leftBehind(), []);
  });

  it('an unknown provider is refused before anything is written', async () => {
    const fs = new TsmEmulation({ provider: 'arm_cca_guest' });
    await rejectsTsm(
      source(fs).collect(reportData),
      'read provider',
      '/provider',
      /provider "arm_cca_guest" is not one of sev_guest, tdx_guest/,
    );
    assert.deepEqual(fs.inblobs, []);
    assert.deepEqual(await leftBehind(), []);
  });

  it('a missing outblob fails at that step, and the entry is still removed', async () => {
    const fs = new TsmEmulation({ noOutblob: true });
    await rejectsTsm(source(fs).collect(reportData), 'read outblob', '/outblob', /ENOENT/);
    assert.equal(fs.inblobs.length, 1);
    assert.deepEqual(await leftBehind(), []);
  });

  it('an entry that cannot be removed is an error, also after a good report (no silent leak)', async () => {
    const fs = new TsmEmulation({ rmdirFails: true });
    const removal = await rejectsTsm(source(fs).collect(reportData), 'rmdir', '', /EBUSY/);
    assert.equal(removal.path, fs.entries[0]);
    const failing = new TsmEmulation({ rmdirFails: true, noOutblob: true });
    const err = await rejectsTsm(
      source(failing).collect(reportData),
      'read outblob',
      '/outblob',
      /ENOENT.*and the entry was not removed: .*rmdir .*EBUSY/,
    );
    assert.equal(err.step, 'read outblob', "the request's failure is the error; the leak is noted in it");
    assert.equal((await leftBehind()).length, 2, 'the emulation kept the entries it refused to remove');
  });

  it('a missing report root fails at mkdir, naming the path', async () => {
    const missing = join(root, 'absent', 'tsm', 'report');
    for (const fs of [undefined, new TsmEmulation()]) {
      const s = new ConfigfsTsmSource({ root: missing, ...(fs ? { fs } : {}) });
      const err = await rejectsTsm(s.collect(reportData), 'mkdir', '', /ENOENT.*is configfs mounted/);
      assert.ok(err.path.startsWith(`${missing}/attestor-`), err.path);
    }
    assert.deepEqual(await leftBehind(), []);
  });

  it('on a plain directory (node:fs, not configfs) it fails at the provider and removes its entry', async () => {
    await rejectsTsm(new ConfigfsTsmSource({ root }).collect(reportData), 'read provider', '/provider', /ENOENT/);
    assert.deepEqual(await leftBehind(), []);
  });
});
