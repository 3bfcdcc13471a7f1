/**
 * The koffi NVML binding through real FFI against the stub libnvidia-ml.so (compiled with gcc):
 * struct layouts, device enumeration, report and certificate bytes, CC and ready state, and every
 * error path with NVML's names. The stub's call log proves what was (and was not) called.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import koffi from 'koffi';
import { NvmlGpuControl } from '../../../src/agent/evidence/nvml/gpu-control.ts';
import { NvmlLibrary } from '../../../src/agent/evidence/nvml/library.ts';
import { NVML_RETURN, nvmlReturnName } from '../../../src/agent/evidence/nvml/return-codes.ts';
import * as structs from '../../../src/agent/evidence/nvml/structs.ts';
import { NvmlError } from '../../../src/agent/evidence/source.ts';
import { checkGpuReport } from '../../../src/attestation/nvidia/report-check.ts';
import { createGpuSimulator } from '../../../src/attestation/sim/gpu.ts';
import { buildNvmlStub, NvmlStubDir, type StubConfig } from '../../harness/nvml-stub.ts';

const UUIDS = [
  'GPU-11111111-2222-3333-4444-555555555555',
  'GPU-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
  'GPU-99999999-8888-7777-6666-555555555555',
];
const NONCE = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
const CHAIN = '-----BEGIN CERTIFICATE-----\nTUlJQ...attestation\n-----END CERTIFICATE-----\n';
const DEVICE_CHAIN = '-----BEGIN CERTIFICATE-----\nTUlJQ...device\n-----END CERTIFICATE-----\n';

/** Rejects with an NvmlError carrying exactly this code, name and call. */
async function rejectsNvml(promise: Promise<unknown>, code: number, call: string): Promise<NvmlError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected ${call} to fail with ${nvmlReturnName(code)}`),
    (err: unknown) => {
      caught = err;
    },
  );
  assert.ok(caught instanceof NvmlError, `expected an NvmlError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.nvmlName, nvmlReturnName(code));
  assert.equal(caught.call, call);
  return caught;
}

describe('agent/evidence: NVML binding (koffi, real FFI against the stub library)', function () {
  let libraryPath: string;
  const stubs: NvmlStubDir[] = [];
  const controls: NvmlGpuControl[] = [];

  async function stub(config: StubConfig = {}): Promise<NvmlStubDir> {
    const s = await NvmlStubDir.create(config);
    stubs.push(s);
    s.use();
    return s;
  }

  async function open(): Promise<NvmlGpuControl> {
    const c = await NvmlGpuControl.open({ libraryPath });
    controls.push(c);
    return c;
  }

  const threeGpus = (): StubConfig => ({
    gpus: UUIDS.map((uuid, i) => ({
      uuid,
      report: new Uint8Array(100 + i).fill(i + 1),
      certChainPem: CHAIN.replace('attestation', `attestation${i}`),
      deviceCertChainPem: DEVICE_CHAIN,
    })),
  });

  before(async function () {
    this.timeout(120_000);
    libraryPath = await buildNvmlStub();
  });

  afterEach(async () => {
    // Every nvmlInit_v2 reference is given back, so the stub's reference count starts at 0 for each test.
    for (const c of controls.splice(0)) await c.close().catch(() => undefined);
    for (const s of stubs.splice(0)) await s.remove();
  });

  describe('struct layouts', () => {
    it("match gcc's layout of the nvml.h declarations and nvml.h's sizes", async () => {
      await stub();
      const layout = koffi.load(libraryPath).func('long nvmlStubLayout(const char *name)');
      const expect: Array<[string, number, number]> = [
        ['state.size', koffi.sizeof(structs.nvmlConfComputeSystemState_t), 12],
        ['state.ccFeature', koffi.offsetof(structs.nvmlConfComputeSystemState_t, 'ccFeature'), 4],
        ['state.devToolsMode', koffi.offsetof(structs.nvmlConfComputeSystemState_t, 'devToolsMode'), 8],
        ['certificate.size', koffi.sizeof(structs.nvmlConfComputeGpuCertificate_t), 8 + 4096 + 5120],
        [
          'certificate.attestationCertChainSize',
          koffi.offsetof(structs.nvmlConfComputeGpuCertificate_t, 'attestationCertChainSize'),
          4,
        ],
        ['certificate.certChain', koffi.offsetof(structs.nvmlConfComputeGpuCertificate_t, 'certChain'), 8],
        [
          'certificate.attestationCertChain',
          koffi.offsetof(structs.nvmlConfComputeGpuCertificate_t, 'attestationCertChain'),
          8 + 4096,
        ],
        ['report.size', koffi.sizeof(structs.nvmlConfComputeGpuAttestationReport_t), 12 + 32 + 8192 + 4096],
        [
          'report.attestationReportSize',
          koffi.offsetof(structs.nvmlConfComputeGpuAttestationReport_t, 'attestationReportSize'),
          4,
        ],
        [
          'report.cecAttestationReportSize',
          koffi.offsetof(structs.nvmlConfComputeGpuAttestationReport_t, 'cecAttestationReportSize'),
          8,
        ],
        ['report.nonce', koffi.offsetof(structs.nvmlConfComputeGpuAttestationReport_t, 'nonce'), 12],
        [
          'report.attestationReport',
          koffi.offsetof(structs.nvmlConfComputeGpuAttestationReport_t, 'attestationReport'),
          44,
        ],
        [
          'report.cecAttestationReport',
          koffi.offsetof(structs.nvmlConfComputeGpuAttestationReport_t, 'cecAttestationReport'),
          44 + 8192,
        ],
      ];
      for (const [name, koffiValue, nvmlH] of expect) {
        assert.equal(koffiValue, nvmlH, `${name}: koffi ${koffiValue}, nvml.h ${nvmlH}`);
        assert.equal(Number(layout(name)), nvmlH, `${name}: gcc ${layout(name)}, nvml.h ${nvmlH}`);
      }
    });
  });

  describe('devices', () => {
    it('lists every GPU with its UUID, in index order', async () => {
      const s = await stub(threeGpus());
      const gpus = await (await open()).listGpus();
      assert.deepEqual(
        gpus,
        UUIDS.map((uuid, index) => ({ index, uuid })),
      );
      assert.deepEqual(await s.apiCalls(), [
        'nvmlInit_v2',
        'nvmlDeviceGetCount_v2',
        'nvmlDeviceGetHandleByIndex_v2 0',
        'nvmlDeviceGetHandleByIndex_v2 1',
        'nvmlDeviceGetHandleByIndex_v2 2',
        'nvmlDeviceGetUUID 0 96',
        'nvmlDeviceGetUUID 1 96',
        'nvmlDeviceGetUUID 2 96',
      ]);
    });

    it('lists no GPUs on a machine without any', async () => {
      await stub({ gpus: [] });
      assert.deepEqual(await (await open()).listGpus(), []);
    });
  });

  describe('attestation reports and certificates', () => {
    it("returns each GPU's report (attestationReportSize bytes) and its attestation certificate chain for the nonce", async () => {
      const s = await stub(threeGpus());
      const evidence = await (await open()).collect(NONCE);
      assert.equal(evidence.length, 3);
      for (const [i, e] of evidence.entries()) {
        assert.equal(e.uuid, UUIDS[i]);
        assert.deepEqual(e.report, new Uint8Array(100 + i).fill(i + 1));
        // attestationCertChain, not certChain: the chain of the key that signs the report.
        assert.equal(e.certificateChainPem, CHAIN.replace('attestation', `attestation${i}`));
      }
      const nonceHex = Buffer.from(NONCE).toString('hex');
      const calls = await s.apiCalls();
      for (const i of [0, 1, 2]) {
        assert.ok(
          calls.includes(`nvmlDeviceGetConfComputeGpuAttestationReport ${i} ${nonceHex}`),
          `GPU ${i} got the nonce in the struct`,
        );
        assert.ok(calls.includes(`nvmlDeviceGetConfComputeGpuCertificate ${i}`));
      }
      assert.ok(
        !calls.some((c) => c.startsWith('nvmlSystemSetConfComputeGpusReadyState')),
        'collecting never changes the ready state',
      );
    });

    it('passes the report for this nonce, not a stale one', async () => {
      const s = await stub(threeGpus());
      const fresh = randomBytes(3000);
      await s.setReportForNonce(1, NONCE, fresh);
      const evidence = await (await open()).collect(NONCE);
      assert.deepEqual(evidence[1]!.report, new Uint8Array(fresh));
      assert.deepEqual(evidence[0]!.report, new Uint8Array(100).fill(1));
    });

    it("carries the caller's nonce into the report where the stub splices it (bytes 4..35)", async () => {
      await stub({
        gpus: [{ uuid: UUIDS[0]!, report: new Uint8Array(64).fill(0x55), certChainPem: CHAIN, spliceNonce: true }],
      });
      const [e] = await (await open()).collect(NONCE);
      assert.deepEqual(e!.report.subarray(4, 36), NONCE);
      assert.deepEqual(e!.report.subarray(0, 4), new Uint8Array(4).fill(0x55));
      assert.equal(e!.report.length, 64);
    });

    it('takes a report of the full 8192 bytes and a chain of the full 5120 bytes', async () => {
      const report = randomBytes(8192);
      const chain = 'A'.repeat(5120);
      await stub({ gpus: [{ uuid: UUIDS[0]!, report, certChainPem: chain }] });
      const [e] = await (await open()).collect(NONCE);
      assert.equal(e!.report.length, 8192);
      assert.deepEqual(e!.report, new Uint8Array(report));
      assert.equal(e!.certificateChainPem, chain);
    });

    it('returns the CEC report and the device chain separately at the library level', async () => {
      await stub({
        gpus: [
          {
            uuid: UUIDS[0]!,
            report: new Uint8Array(10).fill(1),
            cecReport: new Uint8Array(20).fill(2),
            certChainPem: CHAIN,
            deviceCertChainPem: DEVICE_CHAIN,
          },
        ],
      });
      const control = await open();
      const device = await control.library.deviceHandle(0);
      const report = await control.library.attestationReport(device, NONCE);
      assert.deepEqual(report.cecReport, new Uint8Array(20).fill(2));
      const certificate = await control.library.certificate(device);
      assert.equal(certificate.attestationCertChainPem, CHAIN);
      assert.equal(certificate.certChainPem, DEVICE_CHAIN);
    });

    it('refuses sizes a sane library never reports (past the buffer, or empty)', async () => {
      await stub({
        gpus: [
          { uuid: UUIDS[0]!, report: new Uint8Array(16), certChainPem: CHAIN, reportSize: 9000 },
          { uuid: UUIDS[1]!, report: new Uint8Array(16), certChainPem: CHAIN, reportSize: 0 },
          { uuid: UUIDS[2]!, report: new Uint8Array(16), certChainPem: CHAIN, certChainSize: 6000 },
        ],
      });
      const control = await open();
      const lib = control.library;
      await assert.rejects(
        lib.attestationReport(await lib.deviceHandle(0), NONCE),
        /attestationReportSize 9000 is outside 1\.\.8192/,
      );
      await assert.rejects(
        lib.attestationReport(await lib.deviceHandle(1), NONCE),
        /attestationReportSize 0 is outside/,
      );
      await assert.rejects(
        lib.certificate(await lib.deviceHandle(2)),
        /attestationCertChainSize 6000 is outside 1\.\.5120/,
      );
    });

    it("a report larger than the struct's buffer is NVML_ERROR_INSUFFICIENT_SIZE", async () => {
      await stub({ gpus: [{ uuid: UUIDS[0]!, report: new Uint8Array(8193), certChainPem: CHAIN }] });
      await rejectsNvml(
        (await open()).collect(NONCE),
        NVML_RETURN.NVML_ERROR_INSUFFICIENT_SIZE,
        'nvmlDeviceGetConfComputeGpuAttestationReport',
      );
    });

    it('refuses a nonce that is not 32 bytes before calling NVML', async () => {
      const s = await stub(threeGpus());
      const control = await open();
      await s.clearCalls();
      await assert.rejects(control.collect(new Uint8Array(31)), RangeError);
      await assert.rejects(control.collect(new Uint8Array(64)), RangeError);
      assert.deepEqual(await s.calls(), []);
    });

    it('moves simulated evidence byte for byte: the verifier accepts what came through FFI', async function () {
      this.timeout(60_000);
      const sim = await createGpuSimulator();
      const gpus = await Promise.all(UUIDS.slice(0, 2).map((uuid) => sim.gpu(uuid, { nonce: NONCE })));
      const s = await stub({
        gpus: UUIDS.slice(0, 2).map((uuid, i) => ({ uuid, certChainPem: gpus[i]!.certificateChainPem })),
      });
      for (const [i, g] of gpus.entries()) await s.setReportForNonce(i, NONCE, g.report);
      const evidence = await (await open()).collect(NONCE);
      for (const [i, e] of evidence.entries()) {
        const at = new Date('2025-06-01T00:00:00Z');
        const v = checkGpuReport(
          { report: e.report, certificateChain: e.certificateChainPem, uuid: e.uuid },
          { at, trust: { device: [sim.roots.device] }, ocsp: sim.ocspAnswers([e.certificateChainPem], at) },
        );
        assert.deepEqual(v.reasons, [], `GPU ${i}`);
        assert.deepEqual(v.report!.request.nonce, NONCE, `GPU ${i}`);
      }
    });
  });

  describe('confidential-computing state', () => {
    it('reads nvmlConfComputeSystemState_t field by field', async () => {
      const s = await stub({ ccState: [2, 1, 0] });
      const control = await open();
      assert.deepEqual(await control.confComputeState(), { environment: 2, ccFeature: 1, devToolsMode: 0 });
      await s.setCcState(1, 0, 1);
      assert.deepEqual(await control.confComputeState(), { environment: 1, ccFeature: 0, devToolsMode: 1 });
    });

    it('sets the GPUs ready state, and reads it back', async () => {
      const s = await stub({ ...threeGpus(), ready: false });
      const control = await open();
      assert.equal(await control.gpusReady(), false);
      await control.setGpusReady(true);
      assert.equal(await s.readyFile(), '1');
      assert.equal(await control.gpusReady(), true);
      await control.setGpusReady(false);
      assert.equal(await s.readyFile(), '0');
      assert.equal(await control.gpusReady(), false);
      const calls = await s.apiCalls();
      assert.deepEqual(
        calls.filter((c) => c.startsWith('nvmlSystemSetConfComputeGpusReadyState')),
        ['nvmlSystemSetConfComputeGpusReadyState 1', 'nvmlSystemSetConfComputeGpusReadyState 0'],
      );
    });

    it('keeps the ready state across NVML sessions (as the driver does)', async () => {
      await stub({ ready: false });
      const first = await open();
      await first.setGpusReady(true);
      await first.close();
      assert.equal(await (await open()).gpusReady(), true);
    });
  });

  describe('errors', () => {
    const failing: Array<{ fn: string; code: number; run: (c: NvmlGpuControl) => Promise<unknown> }> = [
      { fn: 'nvmlDeviceGetCount_v2', code: NVML_RETURN.NVML_ERROR_UNKNOWN, run: (c) => c.listGpus() },
      { fn: 'nvmlDeviceGetHandleByIndex_v2', code: NVML_RETURN.NVML_ERROR_GPU_IS_LOST, run: (c) => c.listGpus() },
      { fn: 'nvmlDeviceGetUUID', code: NVML_RETURN.NVML_ERROR_NOT_FOUND, run: (c) => c.listGpus() },
      {
        fn: 'nvmlSystemGetConfComputeState',
        code: NVML_RETURN.NVML_ERROR_NOT_SUPPORTED,
        run: (c) => c.confComputeState(),
      },
      {
        fn: 'nvmlDeviceGetConfComputeGpuAttestationReport',
        code: NVML_RETURN.NVML_ERROR_INVALID_STATE,
        run: (c) => c.collect(NONCE),
      },
      {
        fn: 'nvmlDeviceGetConfComputeGpuCertificate',
        code: NVML_RETURN.NVML_ERROR_NO_PERMISSION,
        run: (c) => c.collect(NONCE),
      },
      {
        fn: 'nvmlSystemSetConfComputeGpusReadyState',
        code: NVML_RETURN.NVML_ERROR_NO_PERMISSION,
        run: (c) => c.setGpusReady(true),
      },
      {
        fn: 'nvmlSystemGetConfComputeGpusReadyState',
        code: NVML_RETURN.NVML_ERROR_NOT_READY,
        run: (c) => c.gpusReady(),
      },
      { fn: 'nvmlShutdown', code: NVML_RETURN.NVML_ERROR_UNKNOWN, run: (c) => c.close() },
    ];
    for (const f of failing) {
      it(`${f.fn} failing with ${nvmlReturnName(f.code)} is an NvmlError with that name and NVML's text`, async () => {
        const s = await stub(threeGpus());
        const control = await open();
        await s.setFailure(f.fn, f.code);
        const err = await rejectsNvml(f.run(control), f.code, f.fn);
        const text = control.library.errorString(f.code)!;
        assert.ok(text.length > 0);
        assert.equal(err.message, `${f.fn}: ${nvmlReturnName(f.code)} (${text})`);
        if (f.fn === 'nvmlShutdown') await s.setFailure(f.fn, null).then(() => control.library.shutdown());
      });
    }

    it('maps every nvmlReturn_t to its NVML name, and unknown codes to a numbered one', async () => {
      const s = await stub(threeGpus());
      const control = await open();
      const codes = [...Object.values(NVML_RETURN).filter((c) => c !== 0), 1234];
      for (const code of codes) {
        await s.setFailure('nvmlSystemGetConfComputeGpusReadyState', code);
        const err = await rejectsNvml(control.gpusReady(), code, 'nvmlSystemGetConfComputeGpusReadyState');
        const name = Object.entries(NVML_RETURN).find(([, c]) => c === code)?.[0] ?? 'NVML_ERROR_CODE_1234';
        assert.equal(err.nvmlName, name);
      }
      assert.equal(control.library.errorString(1234), 'Unknown Error');
      assert.equal(control.library.errorString(NVML_RETURN.NVML_ERROR_DRIVER_NOT_LOADED), 'Driver Not Loaded');
    });

    it('names the GPU call that failed and stops there (GPU 1 not in CC mode)', async () => {
      const s = await stub(threeGpus());
      await s.setFailure('nvmlDeviceGetConfComputeGpuAttestationReport', NVML_RETURN.NVML_ERROR_NOT_SUPPORTED, 1);
      await rejectsNvml(
        (await open()).collect(NONCE),
        NVML_RETURN.NVML_ERROR_NOT_SUPPORTED,
        'nvmlDeviceGetConfComputeGpuAttestationReport',
      );
      const reports = (await s.apiCalls()).filter((c) => c.startsWith('nvmlDeviceGetConfComputeGpu'));
      assert.deepEqual(
        reports.map((c) => c.split(' ').slice(0, 2).join(' ')),
        [
          'nvmlDeviceGetConfComputeGpuAttestationReport 0',
          'nvmlDeviceGetConfComputeGpuCertificate 0',
          'nvmlDeviceGetConfComputeGpuAttestationReport 1',
        ],
      );
    });

    it("init failure: open() rejects with nvmlInit_v2's error and nothing else is called", async () => {
      const s = await stub(threeGpus());
      await s.setFailure('nvmlInit_v2', NVML_RETURN.NVML_ERROR_DRIVER_NOT_LOADED);
      await rejectsNvml(open(), NVML_RETURN.NVML_ERROR_DRIVER_NOT_LOADED, 'nvmlInit_v2');
      assert.deepEqual(await s.apiCalls(), ['nvmlInit_v2']);
      await s.setFailure('nvmlInit_v2', NVML_RETURN.NVML_ERROR_LIB_RM_VERSION_MISMATCH);
      await rejectsNvml(open(), NVML_RETURN.NVML_ERROR_LIB_RM_VERSION_MISMATCH, 'nvmlInit_v2');
    });

    it('without a driver (no stub directory) init is NVML_ERROR_DRIVER_NOT_LOADED', async () => {
      delete process.env.NVML_STUB_DIR;
      await rejectsNvml(open(), NVML_RETURN.NVML_ERROR_DRIVER_NOT_LOADED, 'nvmlInit_v2');
    });

    it('calling before nvmlInit_v2 is NVML_ERROR_UNINITIALIZED from the library itself', async () => {
      const s = await stub(threeGpus());
      const lib = NvmlLibrary.load(libraryPath);
      await rejectsNvml(lib.deviceCount(), NVML_RETURN.NVML_ERROR_UNINITIALIZED, 'nvmlDeviceGetCount_v2');
      await rejectsNvml(
        lib.gpusReadyState(),
        NVML_RETURN.NVML_ERROR_UNINITIALIZED,
        'nvmlSystemGetConfComputeGpusReadyState',
      );
      await rejectsNvml(
        lib.setGpusReadyState(true),
        NVML_RETURN.NVML_ERROR_UNINITIALIZED,
        'nvmlSystemSetConfComputeGpusReadyState',
      );
      await rejectsNvml(lib.shutdown(), NVML_RETURN.NVML_ERROR_UNINITIALIZED, 'nvmlShutdown');
      assert.equal(await s.readyFile(), undefined, 'the refused set call changed nothing');
    });

    it('after close() every call is refused without reaching NVML', async () => {
      const s = await stub(threeGpus());
      const control = await open();
      await control.close();
      await control.close(); // idempotent: one nvmlShutdown only
      await s.clearCalls();
      await rejectsNvml(control.listGpus(), NVML_RETURN.NVML_ERROR_UNINITIALIZED, 'nvmlDeviceGetCount_v2');
      await rejectsNvml(control.collect(NONCE), NVML_RETURN.NVML_ERROR_UNINITIALIZED, 'nvmlDeviceGetCount_v2');
      await rejectsNvml(
        control.setGpusReady(true),
        NVML_RETURN.NVML_ERROR_UNINITIALIZED,
        'nvmlSystemSetConfComputeGpusReadyState',
      );
      await rejectsNvml(
        control.gpusReady(),
        NVML_RETURN.NVML_ERROR_UNINITIALIZED,
        'nvmlSystemGetConfComputeGpusReadyState',
      );
      await rejectsNvml(
        control.confComputeState(),
        NVML_RETURN.NVML_ERROR_UNINITIALIZED,
        'nvmlSystemGetConfComputeState',
      );
      assert.deepEqual(await s.calls(), []);
    });

    it('a library that cannot be loaded is NVML_ERROR_LIBRARY_NOT_FOUND', async () => {
      await rejectsNvml(
        NvmlGpuControl.open({ libraryPath: '/nonexistent/libnvidia-ml.so.1' }),
        NVML_RETURN.NVML_ERROR_LIBRARY_NOT_FOUND,
        'dlopen',
      );
    });

    it('a library without the NVML functions is NVML_ERROR_FUNCTION_NOT_FOUND when one is called', async () => {
      const lib = NvmlLibrary.load('libc.so.6');
      assert.equal(lib.has('nvmlInit_v2'), false);
      assert.equal(lib.errorString(3), undefined);
      await rejectsNvml(lib.init(), NVML_RETURN.NVML_ERROR_FUNCTION_NOT_FOUND, 'nvmlInit_v2');
      await rejectsNvml(
        NvmlGpuControl.open({ libraryPath: 'libc.so.6' }),
        NVML_RETURN.NVML_ERROR_FUNCTION_NOT_FOUND,
        'nvmlInit_v2',
      );
    });
  });
});
