/**
 * GpuControl on the real NVML: lists the GPUs, collects one attestation report and attestation
 * certificate chain per GPU for a nonce, and flips the confidential-computing ready state.
 */
import { type ConfComputeState, type GpuControl, type GpuEvidence, type GpuInfo, NvmlError } from '../source.ts';
import { DEFAULT_NVML_LIBRARY, type NvmlDevice, NvmlLibrary } from './library.ts';
import { NVML_RETURN } from './return-codes.ts';
import { NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE, NVML_CC_GPU_CEC_NONCE_SIZE } from './structs.ts';

export interface NvmlGpuControlOptions {
  /** Path or soname of libnvidia-ml; default libnvidia-ml.so.1 (found through the loader's path). */
  libraryPath?: string;
}

/** Owns one nvmlInit_v2 reference from open() until close(). */
export class NvmlGpuControl implements GpuControl {
  readonly kind = 'nvml';
  readonly library: NvmlLibrary;
  #closed = false;

  private constructor(library: NvmlLibrary) {
    this.library = library;
  }

  /** Loads the library and initialises NVML; throws NvmlError when either fails. */
  static async open(options: NvmlGpuControlOptions = {}): Promise<NvmlGpuControl> {
    const library = NvmlLibrary.load(options.libraryPath ?? DEFAULT_NVML_LIBRARY);
    await library.init();
    return new NvmlGpuControl(library);
  }

  async listGpus(): Promise<GpuInfo[]> {
    const gpus: GpuInfo[] = [];
    for (const device of await this.#devices('nvmlDeviceGetCount_v2'))
      gpus.push({ index: device.index, uuid: await this.library.deviceUuid(device) });
    return gpus;
  }

  async confComputeState(): Promise<ConfComputeState> {
    this.#open('nvmlSystemGetConfComputeState');
    return this.library.confComputeState();
  }

  /** GPUs one after the other: the driver serialises SPDM sessions anyway, and errors name the GPU that failed. */
  async collect(nonce: Uint8Array): Promise<GpuEvidence[]> {
    if (nonce.length !== NVML_CC_GPU_CEC_NONCE_SIZE)
      throw new RangeError(`the GPU nonce must be ${NVML_CC_GPU_CEC_NONCE_SIZE} bytes, got ${nonce.length}`);
    const evidence: GpuEvidence[] = [];
    for (const device of await this.#devices('nvmlDeviceGetCount_v2')) {
      const uuid = await this.library.deviceUuid(device);
      const { report } = await this.library.attestationReport(device, nonce);
      const { attestationCertChainPem } = await this.library.certificate(device);
      evidence.push({ uuid, report, certificateChainPem: attestationCertChainPem });
    }
    return evidence;
  }

  async setGpusReady(ready: boolean): Promise<void> {
    this.#open('nvmlSystemSetConfComputeGpusReadyState');
    await this.library.setGpusReadyState(ready);
  }

  async gpusReady(): Promise<boolean> {
    this.#open('nvmlSystemGetConfComputeGpusReadyState');
    return (await this.library.gpusReadyState()) === NVML_CC_ACCEPTING_CLIENT_REQUESTS_TRUE;
  }

  /** nvmlShutdown once; later calls on this object fail with NVML_ERROR_UNINITIALIZED. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.library.shutdown();
  }

  async #devices(call: string): Promise<NvmlDevice[]> {
    this.#open(call);
    const count = await this.library.deviceCount();
    const devices: NvmlDevice[] = [];
    for (let i = 0; i < count; i++) devices.push(await this.library.deviceHandle(i));
    return devices;
  }

  #open(call: string): void {
    if (this.#closed) throw new NvmlError(NVML_RETURN.NVML_ERROR_UNINITIALIZED, call, 'this NvmlGpuControl is closed');
  }
}
