/**
 * hack/nvml-check.ts as a child process against the stub libnvidia-ml.so, fed simulated GPU
 * evidence: the output names every call with NVML's result, the verifier's verdict is printed,
 * and the exit code is 0 only when every call succeeded.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NVML_RETURN } from '../../../src/agent/evidence/nvml/return-codes.ts';
import { createGpuSimulator, type GpuSimulator, type SimulatedGpu } from '../../../src/attestation/sim/gpu.ts';
import { buildNvmlStub, NvmlStubDir } from '../../harness/nvml-stub.ts';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'hack', 'nvml-check.ts');
const UUIDS = ['GPU-11111111-2222-3333-4444-555555555555', 'GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'];
const NONCE = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);
const NONCE_HEX = Buffer.from(NONCE).toString('hex');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  lines: string[];
}

function runCheck(args: string[], stubDir: string | undefined): Promise<Run> {
  const env = { ...process.env };
  delete env.NVML_STUB_DIR;
  if (stubDir) env.NVML_STUB_DIR = stubDir;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, ...args], { env, timeout: 50_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code, stdout, stderr, lines: stdout.split('\n') });
    });
  });
}

/** The one output line that starts with `prefix`. */
function line(run: Run, prefix: string): string {
  const found = run.lines.filter((l) => l.startsWith(prefix));
  assert.equal(found.length, 1, `one line starting with "${prefix}" in:\n${run.stdout}${run.stderr}`);
  return found[0]!;
}

describe('hack/nvml-check.ts (child process against the stub NVML)', function () {
  let library: string;
  let sim: GpuSimulator;
  let gpus: SimulatedGpu[];
  let rootFile: string;
  const stubs: NvmlStubDir[] = [];

  before(async function () {
    this.timeout(120_000);
    library = await buildNvmlStub();
    sim = await createGpuSimulator();
    gpus = await Promise.all(UUIDS.map((uuid) => sim.gpu(uuid, { nonce: NONCE })));
  });

  after(async () => {
    for (const s of stubs) await s.remove();
  });

  /** Two simulated GPUs whose reports the stub returns for NONCE (signed over it, so they verify). */
  async function twoGpus(ready = false): Promise<NvmlStubDir> {
    const s = await NvmlStubDir.create({
      gpus: UUIDS.map((uuid, i) => ({ uuid, certChainPem: gpus[i]!.certificateChainPem })),
      ready,
    });
    stubs.push(s);
    for (const [i, g] of gpus.entries()) await s.setReportForNonce(i, NONCE, g.report);
    rootFile = join(s.path, 'device-root.pem');
    await writeFile(rootFile, sim.roots.device);
    return s;
  }

  it('prints every call with NVML_SUCCESS, the reports, the chain subjects and an accepting verdict; exit 0', async () => {
    const s = await twoGpus();
    const run = await runCheck(['--library', library, '--nonce', NONCE_HEX, '--device-root', rootFile], s.path);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(line(run, 'nonce:'), `nonce: ${NONCE_HEX} (given)`);
    line(run, 'nvmlInit_v2() -> NVML_SUCCESS');
    assert.equal(line(run, 'nvmlDeviceGetCount_v2()'), 'nvmlDeviceGetCount_v2() -> NVML_SUCCESS count=2');
    assert.equal(
      line(run, 'nvmlSystemGetConfComputeState()'),
      'nvmlSystemGetConfComputeState() -> NVML_SUCCESS environment=2 (production) ccFeature=1 (enabled) devToolsMode=0 (off)',
    );
    for (const [i, uuid] of UUIDS.entries()) {
      line(run, `nvmlDeviceGetHandleByIndex_v2(${i}) -> NVML_SUCCESS`);
      assert.equal(line(run, `nvmlDeviceGetUUID(${i})`), `nvmlDeviceGetUUID(${i}) -> NVML_SUCCESS ${uuid}`);
      const report = gpus[i]!.report;
      assert.equal(
        line(run, `nvmlDeviceGetConfComputeGpuAttestationReport(${i}, nonce)`),
        `nvmlDeviceGetConfComputeGpuAttestationReport(${i}, nonce) -> NVML_SUCCESS attestationReportSize=${report.length} cecAttestationReport=absent`,
      );
      line(
        run,
        `nvmlDeviceGetConfComputeGpuCertificate(${i}) -> NVML_SUCCESS attestationCertChainSize=${gpus[i]!.certificateChainPem.length}`,
      );
      assert.equal(
        line(run, `checkGpuReport(${i}, ${uuid})`).split(':')[0],
        `checkGpuReport(${i}, ${uuid}) -> accepted`,
      );
    }
    // Both reports' first 64 bytes, and the nonce seen where the SPDM request carries it.
    assert.deepEqual(
      run.lines.filter((l) => l.startsWith('  first 64 bytes: ')),
      gpus.map((g) => `  first 64 bytes: ${Buffer.from(g.report.subarray(0, 64)).toString('hex')}`),
    );
    assert.deepEqual(
      run.lines.filter((l) => l.startsWith('  nonce at bytes 4..35: ')),
      ['  nonce at bytes 4..35: yes', '  nonce at bytes 4..35: yes'],
    );
    assert.ok(
      run.lines.some((l) =>
        /^ {2}\[\d\] subject: CN=Simulated NVIDIA Device Identity CA, O=attestor simulation \|/.test(l),
      ),
      run.stdout,
    );
    assert.ok(!run.lines.some((l) => l.startsWith('  reason ')), 'no reasons for evidence that verifies');
    assert.equal(
      line(run, 'nvmlSystemGetConfComputeGpusReadyState()'),
      'nvmlSystemGetConfComputeGpusReadyState() -> NVML_SUCCESS ready=0 (not accepting client requests)',
    );
    line(run, 'nvmlShutdown() -> NVML_SUCCESS');
    assert.match(line(run, 'summary:'), /^summary: \d+ calls, 0 failed; verifier accepted 2 of 2 reports$/);
    // Without --activate the ready state is only read.
    assert.ok(!(await s.apiCalls()).some((c) => c.startsWith('nvmlSystemSetConfComputeGpusReadyState')));
    assert.equal(await s.readyFile(), '0');
  });

  it("uses a fresh random nonce by default and prints the verifier's reasons for a report that does not verify", async () => {
    // The stub splices the caller's nonce into a report signed over another: nonce seen, signature broken.
    const s = await NvmlStubDir.create({
      gpus: [
        { uuid: UUIDS[0]!, report: gpus[0]!.report, certChainPem: gpus[0]!.certificateChainPem, spliceNonce: true },
      ],
    });
    stubs.push(s);
    const run = await runCheck(['--library', library], s.path);
    assert.equal(run.code, 0, `a refused verdict is not a failed call:\n${run.stdout}`);
    const nonce = /^nonce: ([0-9a-f]{64}) \(fresh, random\)$/.exec(line(run, 'nonce:'))?.[1];
    assert.ok(nonce && nonce !== NONCE_HEX, run.stdout);
    assert.ok(
      (await s.apiCalls()).includes(`nvmlDeviceGetConfComputeGpuAttestationReport 0 ${nonce}`),
      'the printed nonce is the one NVML got',
    );
    line(run, '  nonce at bytes 4..35: yes');
    assert.match(
      line(run, `checkGpuReport(0, ${UUIDS[0]})`),
      /-> refused: parsed=true nonceMatch=true signatureVerified=false certChainVerified=false /,
    );
    line(run, '  reason gpu.signature: ');
    // Default anchors are NVIDIA's: the simulator's chain does not lead there.
    assert.ok(
      run.lines.some((l) => l.startsWith('  reason gpu.cert-chain: ')),
      run.stdout,
    );
    assert.match(line(run, 'summary:'), /0 failed; verifier accepted 0 of 1 reports$/);
  });

  it('--activate sets the ready state to 1 and reads it back', async () => {
    const s = await twoGpus(false);
    const run = await runCheck(
      ['--library', library, '--nonce', NONCE_HEX, '--device-root', rootFile, '--activate'],
      s.path,
    );
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const ready = run.lines.filter((l) => l.startsWith('nvmlSystem') && l.includes('GpusReadyState'));
    assert.deepEqual(ready, [
      'nvmlSystemGetConfComputeGpusReadyState() -> NVML_SUCCESS ready=0 (not accepting client requests)',
      'nvmlSystemSetConfComputeGpusReadyState(1) -> NVML_SUCCESS',
      'nvmlSystemGetConfComputeGpusReadyState() -> NVML_SUCCESS ready=1 (accepting client requests)',
    ]);
    assert.equal(await s.readyFile(), '1');
  });

  it("a failing GPU call prints NVML's error name, the run goes on to shutdown, and exits 1", async () => {
    const s = await twoGpus();
    await s.setFailure('nvmlDeviceGetConfComputeGpuAttestationReport', NVML_RETURN.NVML_ERROR_NOT_SUPPORTED, 1);
    const run = await runCheck(['--library', library, '--nonce', NONCE_HEX, '--device-root', rootFile], s.path);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.equal(
      line(run, 'nvmlDeviceGetConfComputeGpuAttestationReport(1, nonce)'),
      'nvmlDeviceGetConfComputeGpuAttestationReport(1, nonce) -> NVML_ERROR_NOT_SUPPORTED (Not Supported)',
    );
    line(run, 'checkGpuReport(0, '); // GPU 0 is still checked ...
    assert.ok(!run.lines.some((l) => l.startsWith('checkGpuReport(1')), '... GPU 1 has no report to check');
    line(run, 'nvmlShutdown() -> NVML_SUCCESS');
    assert.match(
      line(run, 'summary:'),
      /1 failed \(nvmlDeviceGetConfComputeGpuAttestationReport\(1, nonce\)\); verifier accepted 1 of 1 reports$/,
    );
  });

  it('--activate refused by NVML exits 1 with the error name', async () => {
    const s = await twoGpus();
    await s.setFailure('nvmlSystemSetConfComputeGpusReadyState', NVML_RETURN.NVML_ERROR_NO_PERMISSION);
    const run = await runCheck(
      ['--library', library, '--nonce', NONCE_HEX, '--device-root', rootFile, '--activate'],
      s.path,
    );
    assert.equal(run.code, 1);
    assert.equal(
      line(run, 'nvmlSystemSetConfComputeGpusReadyState(1)'),
      'nvmlSystemSetConfComputeGpusReadyState(1) -> NVML_ERROR_NO_PERMISSION (Insufficient Permissions)',
    );
    assert.equal(await s.readyFile(), '0');
  });

  it('nvmlInit_v2 failing stops there (nothing else is called) and exits 1', async () => {
    const s = await twoGpus();
    await s.setFailure('nvmlInit_v2', NVML_RETURN.NVML_ERROR_DRIVER_NOT_LOADED);
    const run = await runCheck(['--library', library], s.path);
    assert.equal(run.code, 1);
    assert.equal(line(run, 'nvmlInit_v2()'), 'nvmlInit_v2() -> NVML_ERROR_DRIVER_NOT_LOADED (Driver Not Loaded)');
    assert.deepEqual(await s.apiCalls(), ['nvmlInit_v2']);
  });

  it('a library that does not load is NVML_ERROR_LIBRARY_NOT_FOUND, exit 1; bad usage exits 2', async () => {
    const missing = await runCheck(['--library', '/nonexistent/libnvidia-ml.so.1'], undefined);
    assert.equal(missing.code, 1);
    assert.match(line(missing, 'dlopen(/nonexistent/libnvidia-ml.so.1)'), /-> NVML_ERROR_LIBRARY_NOT_FOUND /);
    const usage = await runCheck(['--library', library, '--nonce', 'abcd'], undefined);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--nonce must be 64 hex digits/);
    assert.equal(usage.stdout, '');
  });
});
