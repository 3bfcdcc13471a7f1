// Runs the agent's koffi NVML binding against a real libnvidia-ml (H100/H200/Blackwell in CC
// mode) and prints every call and its result, then checks each GPU's fresh report with the
// project's verifier (offline: revocation is not checked here, as no OCSP answers are at hand;
// the Coordinator requires them). Exit 0 when every call succeeded, 1 when one failed, 2 on bad usage.
//
//   node hack/nvml-check.ts [--library PATH] [--activate] [--nonce HEX] [--device-root PEM_FILE]
//
// --activate    also nvmlSystemSetConfComputeGpusReadyState(1) and the read-back: lets CUDA work
//               on the GPUs, and stays set after this script (the driver keeps it).
// --nonce       the 32-byte nonce as 64 hex digits instead of a fresh random one (to replay).
// --device-root trust anchor for the report's certificate chain instead of NVIDIA's pinned
//               Device Identity CA (the tests pass the simulator's).
// See docs/nvml.md.
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  DEFAULT_NVML_LIBRARY,
  type NvmlAttestationReport,
  type NvmlCertificate,
  type NvmlDevice,
  NvmlLibrary,
} from '../src/agent/evidence/nvml/library.ts';
import { NVML_CC_GPU_CEC_NONCE_SIZE } from '../src/agent/evidence/nvml/structs.ts';
import { NvmlError } from '../src/agent/evidence/source.ts';
import { checkGpuReport, type GpuTrustAnchors } from '../src/attestation/nvidia/index.ts';
import { errorMessage } from '../src/errors.ts';

const USAGE = 'usage: node hack/nvml-check.ts [--library PATH] [--activate] [--nonce HEX] [--device-root PEM_FILE]';
/** Where the SPDM GET_MEASUREMENTS request (the report's first part) carries the nonce. */
const NONCE_OFFSET = 4;

type Outcome<T> = { ok: true; value: T } | { ok: false };

/** Prints each call with NVML's name for its result, and remembers the ones that failed. */
class CallLog {
  readonly failed: string[] = [];
  calls = 0;

  async call<T>(label: string, run: () => Promise<T>, describe?: (value: T) => string): Promise<Outcome<T>> {
    this.calls++;
    try {
      const value = await run();
      const detail = describe?.(value);
      console.log(`${label} -> NVML_SUCCESS${detail ? ` ${detail}` : ''}`);
      return { ok: true, value };
    } catch (err) {
      this.fail(label, err);
      return { ok: false };
    }
  }

  fail(label: string, err: unknown): void {
    this.failed.push(label);
    if (err instanceof NvmlError) {
      // The message is "<call>: <name> (<nvmlErrorString>)"; keep the name and the text.
      console.log(`${label} -> ${err.nvmlName}${err.message.slice(`${err.call}: ${err.nvmlName}`.length)}`);
    } else {
      console.log(`${label} -> error: ${errorMessage(err)}`);
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let values: { library?: string; activate?: boolean; nonce?: string; 'device-root'?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        library: { type: 'string' },
        activate: { type: 'boolean' },
        nonce: { type: 'string' },
        'device-root': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${errorMessage(err)}\n${USAGE}`);
    return 2;
  }
  if (
    values.nonce !== undefined &&
    !new RegExp(`^[0-9a-fA-F]{${2 * NVML_CC_GPU_CEC_NONCE_SIZE}}$`).test(values.nonce)
  ) {
    console.error(`--nonce must be ${2 * NVML_CC_GPU_CEC_NONCE_SIZE} hex digits\n${USAGE}`);
    return 2;
  }
  const libraryPath = values.library ?? DEFAULT_NVML_LIBRARY;
  const nonce = new Uint8Array(
    values.nonce ? Buffer.from(values.nonce, 'hex') : randomBytes(NVML_CC_GPU_CEC_NONCE_SIZE),
  );
  const anchors: GpuTrustAnchors | undefined = values['device-root']
    ? { device: [readFileSync(values['device-root'], 'utf8')] }
    : undefined;
  console.log(`library: ${libraryPath}`);
  console.log(`nonce: ${hex(nonce)}${values.nonce ? ' (given)' : ' (fresh, random)'}`);
  console.log(`device trust anchor: ${values['device-root'] ?? 'NVIDIA Device Identity CA (pinned)'}`);

  const log = new CallLog();
  let library: NvmlLibrary;
  try {
    library = NvmlLibrary.load(libraryPath);
    console.log(`dlopen(${libraryPath}) -> ok`);
  } catch (err) {
    log.calls++;
    log.fail(`dlopen(${libraryPath})`, err);
    return summary(log, 0, 0);
  }

  // Before nvmlInit_v2 succeeds NVML answers every call with NVML_ERROR_UNINITIALIZED.
  if (!(await log.call('nvmlInit_v2()', () => library.init())).ok) return summary(log, 0, 0);

  const gpus: Array<{ device: NvmlDevice; uuid?: string }> = [];
  const count = await log.call(
    'nvmlDeviceGetCount_v2()',
    () => library.deviceCount(),
    (n) => `count=${n}`,
  );
  for (let i = 0; count.ok && i < count.value; i++) {
    const handle = await log.call(`nvmlDeviceGetHandleByIndex_v2(${i})`, () => library.deviceHandle(i));
    if (!handle.ok) continue;
    const uuid = await log.call(
      `nvmlDeviceGetUUID(${i})`,
      () => library.deviceUuid(handle.value),
      (u) => u,
    );
    gpus.push({ device: handle.value, ...(uuid.ok ? { uuid: uuid.value } : {}) });
  }

  await log.call(
    'nvmlSystemGetConfComputeState()',
    () => library.confComputeState(),
    (s) =>
      `environment=${s.environment} (${['unavailable', 'simulation', 'production'][s.environment] ?? 'unknown'}) ccFeature=${s.ccFeature} (${s.ccFeature ? 'enabled' : 'disabled'}) devToolsMode=${s.devToolsMode} (${s.devToolsMode ? 'on' : 'off'})`,
  );

  let accepted = 0;
  let verified = 0;
  for (const { device, uuid } of gpus) {
    const i = device.index;
    const report = await log.call(
      `nvmlDeviceGetConfComputeGpuAttestationReport(${i}, nonce)`,
      () => library.attestationReport(device, nonce),
      describeReport,
    );
    if (report.ok) {
      const r = report.value.report;
      console.log(`  first 64 bytes: ${hex(r.subarray(0, 64))}`);
      const carried =
        r.length >= NONCE_OFFSET + nonce.length &&
        Buffer.from(r.subarray(NONCE_OFFSET, NONCE_OFFSET + nonce.length)).equals(nonce);
      console.log(`  nonce at bytes ${NONCE_OFFSET}..${NONCE_OFFSET + nonce.length - 1}: ${carried ? 'yes' : 'no'}`);
    }
    const certificate = await log.call(
      `nvmlDeviceGetConfComputeGpuCertificate(${i})`,
      () => library.certificate(device),
      describeCertificate,
    );
    if (certificate.ok) printSubjects(certificate.value.attestationCertChainPem);
    if (!report.ok || !certificate.ok) continue;

    verified++;
    const label = `checkGpuReport(${i}${uuid ? `, ${uuid}` : ''})`;
    try {
      const v = checkGpuReport(
        {
          report: report.value.report,
          certificateChain: certificate.value.attestationCertChainPem,
          ...(uuid ? { uuid } : {}),
        },
        {
          at: new Date(),
          policy: { revocation: { requireAnswers: false } },
          ...(anchors ? { trust: anchors } : {}),
        },
      );
      // The Coordinator's appraisal compares the signed nonce with the one it handed out; so does this.
      const nonceMatch = v.report !== undefined && Buffer.from(v.report.request.nonce).equals(nonce);
      const ok = v.reasons.length === 0 && nonceMatch;
      if (ok) accepted++;
      const versions = v.report
        ? ` driver=${v.report.response.opaqueData.driverVersion ?? '?'} vbios=${v.report.response.opaqueData.vbiosVersion ?? '?'}`
        : '';
      console.log(
        `${label} -> ${ok ? 'accepted' : 'refused'}: parsed=${v.parsed} nonceMatch=${nonceMatch} signatureVerified=${v.signatureVerified} certChainVerified=${v.certChainVerified} fwidMatch=${v.fwidMatch} architecture=${v.architecture ?? '?'}${versions}`,
      );
      for (const r of v.reasons) console.log(`  reason ${r.check}: ${r.message}`);
      if (v.report !== undefined && !nonceMatch) console.log('  reason gpu.nonce: the report carries another nonce');
    } catch (err) {
      // The verifier throws only for bugs; on real evidence that is exactly what this run is for.
      log.fail(label, err);
    }
  }

  const readyName = (s: number): string =>
    `ready=${s} (${s === 1 ? 'accepting client requests' : 'not accepting client requests'})`;
  await log.call('nvmlSystemGetConfComputeGpusReadyState()', () => library.gpusReadyState(), readyName);
  if (values.activate) {
    if ((await log.call('nvmlSystemSetConfComputeGpusReadyState(1)', () => library.setGpusReadyState(true))).ok) {
      const back = await log.call(
        'nvmlSystemGetConfComputeGpusReadyState()',
        () => library.gpusReadyState(),
        readyName,
      );
      if (back.ok && back.value !== 1)
        log.fail(
          'read-back after nvmlSystemSetConfComputeGpusReadyState(1)',
          new Error(`ready state is ${back.value}, expected 1`),
        );
    }
  }
  await log.call('nvmlShutdown()', () => library.shutdown());
  return summary(log, accepted, verified);
}

function describeReport(r: NvmlAttestationReport): string {
  return `attestationReportSize=${r.report.length} cecAttestationReport=${r.cecReport ? `${r.cecReport.length} bytes` : 'absent'}`;
}

function describeCertificate(c: NvmlCertificate): string {
  return `attestationCertChainSize=${c.attestationCertChainPem.length} certChainSize=${c.certChainPem.length}`;
}

/** Subjects of the attestation chain as OpenSSL reads them, independent of the verifier's parser. */
function printSubjects(pem: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) console.log('  attestation chain: no PEM certificates');
  blocks.forEach((block, k) => {
    try {
      const cert = new X509Certificate(block);
      console.log(
        `  [${k}] subject: ${oneLine(cert.subject)} | issuer: ${oneLine(cert.issuer)} | valid ${cert.validFromDate.toISOString()} to ${cert.validToDate.toISOString()}`,
      );
    } catch (err) {
      console.log(`  [${k}] does not parse: ${errorMessage(err)}`);
    }
  });
}

function summary(log: CallLog, accepted: number, verified: number): number {
  console.log(
    `summary: ${log.calls} calls, ${log.failed.length} failed${log.failed.length ? ` (${log.failed.join(', ')})` : ''}; verifier accepted ${accepted} of ${verified} reports`,
  );
  return log.failed.length === 0 ? 0 : 1;
}

const oneLine = (name: string): string => name.replace(/\n/g, ', ');
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

process.exitCode = await main(process.argv.slice(2));
