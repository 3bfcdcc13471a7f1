/**
 * The koffi binding of libnvidia-ml: one method per NVML function the agent needs, each turning
 * a return code other than NVML_SUCCESS into an NvmlError with NVML's name and nvmlErrorString's
 * text. Calls run on koffi's worker threads (`.async`) because the attestation calls talk SPDM to
 * the GPU and take long enough to stall the agent's event loop; NVML is thread-safe.
 */
import koffi, { type LibraryHandle } from 'koffi';
import { errorMessage } from '../../../errors.ts';
import { type ConfComputeState, NvmlError } from '../source.ts';
import { NVML_RETURN } from './return-codes.ts';
import {
  NVML_CC_ACCEPTING_CLIENT_REQUESTS_FALSE,
  NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE,
  NVML_CC_GPU_ATTESTATION_REPORT_SIZE,
  NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE,
  NVML_CC_GPU_CEC_NONCE_SIZE,
  NVML_DEVICE_UUID_V2_BUFFER_SIZE,
  NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE,
  NVML_GPU_CERT_CHAIN_SIZE,
  type NvmlAttestationReportStruct,
  type NvmlCertificateStruct,
  nvmlConfComputeGpuAttestationReport_t,
  nvmlConfComputeGpuCertificate_t,
  nvmlConfComputeSystemState_t,
  nvmlDevice_t,
} from './structs.ts';

/** The soname the NVIDIA driver installs; what the agent loads unless told otherwise. */
export const DEFAULT_NVML_LIBRARY = 'libnvidia-ml.so.1';

/** A device handle from nvmlDeviceGetHandleByIndex_v2 (valid until nvmlShutdown). */
export interface NvmlDevice {
  readonly index: number;
  readonly handle: unknown;
}

export interface NvmlAttestationReport {
  /** attestationReport, attestationReportSize bytes. */
  report: Uint8Array;
  /** The CEC report when isCecAttestationReportPresent. */
  cecReport?: Uint8Array;
}

export interface NvmlCertificate {
  /** attestationCertChain (PEM, attestationCertChainSize bytes): the chain of the key that signs reports. */
  attestationCertChainPem: string;
  /** certChain (PEM, certChainSize bytes): the GPU's device identity chain, not used for verification. */
  certChainPem: string;
}

type KoffiFunction = ReturnType<LibraryHandle['func']>;
type TypeSpec = Parameters<typeof koffi.out>[0];

/** The NVML functions the binding uses. */
export type NvmlFunctionName =
  | 'nvmlInit_v2'
  | 'nvmlShutdown'
  | 'nvmlErrorString'
  | 'nvmlDeviceGetCount_v2'
  | 'nvmlDeviceGetHandleByIndex_v2'
  | 'nvmlDeviceGetUUID'
  | 'nvmlSystemGetConfComputeState'
  | 'nvmlDeviceGetConfComputeGpuAttestationReport'
  | 'nvmlDeviceGetConfComputeGpuCertificate'
  | 'nvmlSystemSetConfComputeGpusReadyState'
  | 'nvmlSystemGetConfComputeGpusReadyState';

// Spelled out (not `keyof typeof SIGNATURES`) so that declaration files need no koffi-internal types.
const SIGNATURES: Record<NvmlFunctionName, readonly [string, readonly unknown[]]> = {
  nvmlInit_v2: ['int', []],
  nvmlShutdown: ['int', []],
  nvmlErrorString: ['const char *', ['int']],
  nvmlDeviceGetCount_v2: ['int', [koffi.out(koffi.pointer('unsigned int'))]],
  nvmlDeviceGetHandleByIndex_v2: ['int', ['unsigned int', koffi.out(koffi.pointer(nvmlDevice_t))]],
  nvmlDeviceGetUUID: ['int', [nvmlDevice_t, 'char *', 'unsigned int']],
  nvmlSystemGetConfComputeState: ['int', [koffi.out(koffi.pointer(nvmlConfComputeSystemState_t))]],
  nvmlDeviceGetConfComputeGpuAttestationReport: [
    'int',
    [nvmlDevice_t, koffi.inout(koffi.pointer(nvmlConfComputeGpuAttestationReport_t))],
  ],
  nvmlDeviceGetConfComputeGpuCertificate: [
    'int',
    [nvmlDevice_t, koffi.out(koffi.pointer(nvmlConfComputeGpuCertificate_t))],
  ],
  nvmlSystemSetConfComputeGpusReadyState: ['int', ['unsigned int']],
  nvmlSystemGetConfComputeGpusReadyState: ['int', [koffi.out(koffi.pointer('unsigned int'))]],
};

/** A loaded libnvidia-ml. Functions it lacks (older drivers) fail with NVML_ERROR_FUNCTION_NOT_FOUND when called. */
export class NvmlLibrary {
  readonly path: string;
  #lib: LibraryHandle;
  #functions = new Map<NvmlFunctionName, KoffiFunction>();

  private constructor(path: string, lib: LibraryHandle) {
    this.path = path;
    this.#lib = lib;
    for (const [name, [result, args]] of Object.entries(SIGNATURES) as Array<
      [NvmlFunctionName, (typeof SIGNATURES)[NvmlFunctionName]]
    >) {
      try {
        this.#functions.set(name, lib.func(name, result, [...args] as TypeSpec[]));
      } catch {
        // A missing symbol is reported when (and only if) the function is called.
      }
    }
  }

  /** dlopen()s the library; a library that cannot be loaded is NVML_ERROR_LIBRARY_NOT_FOUND. */
  static load(path: string = DEFAULT_NVML_LIBRARY): NvmlLibrary {
    let lib: LibraryHandle;
    try {
      lib = koffi.load(path);
    } catch (err) {
      throw new NvmlError(NVML_RETURN.NVML_ERROR_LIBRARY_NOT_FOUND, 'dlopen', `${path}: ${errorMessage(err)}`);
    }
    return new NvmlLibrary(path, lib);
  }

  /** Which of the bound functions the library exports. */
  has(name: NvmlFunctionName): boolean {
    return this.#functions.has(name);
  }

  /** nvmlErrorString: NVML's text for a return code (callable without nvmlInit). */
  errorString(code: number): string | undefined {
    const f = this.#functions.get('nvmlErrorString');
    return f ? ((f(code) as string | null) ?? undefined) : undefined;
  }

  async init(): Promise<void> {
    await this.#call('nvmlInit_v2');
  }

  async shutdown(): Promise<void> {
    await this.#call('nvmlShutdown');
  }

  async deviceCount(): Promise<number> {
    const count = [0];
    await this.#call('nvmlDeviceGetCount_v2', count);
    return count[0]!;
  }

  async deviceHandle(index: number): Promise<NvmlDevice> {
    const out: unknown[] = [null];
    await this.#call('nvmlDeviceGetHandleByIndex_v2', index, out);
    return { index, handle: out[0] };
  }

  async deviceUuid(device: NvmlDevice): Promise<string> {
    const buffer = Buffer.alloc(NVML_DEVICE_UUID_V2_BUFFER_SIZE);
    await this.#call('nvmlDeviceGetUUID', device.handle, buffer, buffer.length);
    const end = buffer.indexOf(0);
    return buffer.toString('latin1', 0, end < 0 ? buffer.length : end);
  }

  async confComputeState(): Promise<ConfComputeState> {
    const state = { environment: 0, ccFeature: 0, devToolsMode: 0 };
    await this.#call('nvmlSystemGetConfComputeState', state);
    return { environment: state.environment, ccFeature: state.ccFeature, devToolsMode: state.devToolsMode };
  }

  /** nvmlDeviceGetConfComputeGpuAttestationReport with the 32-byte nonce in the struct. */
  async attestationReport(device: NvmlDevice, nonce: Uint8Array): Promise<NvmlAttestationReport> {
    const call = 'nvmlDeviceGetConfComputeGpuAttestationReport';
    if (nonce.length !== NVML_CC_GPU_CEC_NONCE_SIZE)
      throw new RangeError(`${call}: the nonce must be ${NVML_CC_GPU_CEC_NONCE_SIZE} bytes, got ${nonce.length}`);
    const struct: NvmlAttestationReportStruct = {
      isCecAttestationReportPresent: 0,
      attestationReportSize: 0,
      cecAttestationReportSize: 0,
      nonce: Uint8Array.from(nonce),
      attestationReport: new Uint8Array(NVML_CC_GPU_ATTESTATION_REPORT_SIZE),
      cecAttestationReport: new Uint8Array(NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE),
    };
    await this.#call(call, device.handle, struct);
    const size = struct.attestationReportSize;
    // A size past the buffer would hand out memory that is not the report: a broken library.
    if (size === 0 || size > NVML_CC_GPU_ATTESTATION_REPORT_SIZE)
      throw new Error(`${call}: attestationReportSize ${size} is outside 1..${NVML_CC_GPU_ATTESTATION_REPORT_SIZE}`);
    const result: NvmlAttestationReport = { report: struct.attestationReport.slice(0, size) };
    if (struct.isCecAttestationReportPresent) {
      const cec = struct.cecAttestationReportSize;
      if (cec > NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE)
        throw new Error(`${call}: cecAttestationReportSize ${cec} exceeds ${NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE}`);
      result.cecReport = struct.cecAttestationReport.slice(0, cec);
    }
    return result;
  }

  async certificate(device: NvmlDevice): Promise<NvmlCertificate> {
    const call = 'nvmlDeviceGetConfComputeGpuCertificate';
    const struct: NvmlCertificateStruct = {
      certChainSize: 0,
      attestationCertChainSize: 0,
      certChain: new Uint8Array(NVML_GPU_CERT_CHAIN_SIZE),
      attestationCertChain: new Uint8Array(NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE),
    };
    await this.#call(call, device.handle, struct);
    const attestation = struct.attestationCertChainSize;
    if (attestation === 0 || attestation > NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE) {
      throw new Error(
        `${call}: attestationCertChainSize ${attestation} is outside 1..${NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE}`,
      );
    }
    if (struct.certChainSize > NVML_GPU_CERT_CHAIN_SIZE)
      throw new Error(`${call}: certChainSize ${struct.certChainSize} exceeds ${NVML_GPU_CERT_CHAIN_SIZE}`);
    return {
      attestationCertChainPem: pemText(struct.attestationCertChain.subarray(0, attestation)),
      certChainPem: pemText(struct.certChain.subarray(0, struct.certChainSize)),
    };
  }

  async setGpusReadyState(ready: boolean): Promise<void> {
    await this.#call(
      'nvmlSystemSetConfComputeGpusReadyState',
      ready ? NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE : NVML_CC_ACCEPTING_CLIENT_REQUESTS_FALSE,
    );
  }

  /** NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE (1) or _FALSE (0). */
  async gpusReadyState(): Promise<number> {
    const state = [0];
    await this.#call('nvmlSystemGetConfComputeGpusReadyState', state);
    return state[0]!;
  }

  /** dlclose()s the library; the object is unusable afterwards. */
  unload(): void {
    this.#functions.clear();
    this.#lib.unload();
  }

  async #call(name: NvmlFunctionName, ...args: unknown[]): Promise<void> {
    const f = this.#functions.get(name);
    if (!f)
      throw new NvmlError(NVML_RETURN.NVML_ERROR_FUNCTION_NOT_FOUND, name, `${this.path} does not export ${name}`);
    const code = await new Promise<number>((resolve, reject) => {
      f.async(...args, (err: unknown, rc: number) => (err ? reject(err as Error) : resolve(rc)));
    });
    if (code !== NVML_RETURN.NVML_SUCCESS) throw new NvmlError(code, name, this.errorString(code));
  }
}

/** The PEM text of a chain buffer; NVML pads with NUL bytes. */
function pemText(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? bytes.length : end).toString('latin1');
}
