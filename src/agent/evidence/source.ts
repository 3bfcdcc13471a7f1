/**
 * What the node agent collects evidence with: a confidential VM's attestation report and the
 * NVIDIA GPUs' reports, plus the GPU ready-state switch. Implementations: configfs-tsm and NVML
 * (real hardware), and simulated ones for tests and `attestor dev`.
 */
import { nvmlReturnName } from './nvml/return-codes.ts';

/** One CVM attestation report, as the guest kernel hands it out. */
export interface CvmEvidence {
  platform: 'snp' | 'tdx';
  /** SEV-SNP ATTESTATION_REPORT or TDX quote. */
  report: Uint8Array;
  /** certificates (auxblob: SNP VCEK/VLEK chain as the kernel gives it), when the provider has them */
  auxblob?: Uint8Array;
  /** Who produced it: configfs-tsm's provider (sev_guest, tdx_guest) or a simulated one. */
  provider: string;
}

export interface CvmEvidenceSource {
  readonly kind: string;
  /** A report whose REPORT_DATA is exactly these 64 bytes. */
  collect(reportData: Uint8Array /* 64 bytes */): Promise<CvmEvidence>;
}

export interface GpuInfo {
  index: number;
  uuid: string;
}

export interface GpuEvidence {
  uuid: string;
  /** The SPDM attestation report (request, measurements, signature). */
  report: Uint8Array;
  /** NVML's attestation certificate chain (PEM, leaf first). */
  certificateChainPem: string;
}

/** nvmlConfComputeSystemState_t: NVML_CC_SYSTEM_* values. */
export interface ConfComputeState {
  /** 0 unavailable, 1 simulation, 2 production. */
  environment: number;
  /** 0 disabled, 1 enabled. */
  ccFeature: number;
  /** 0 off, 1 on (devtools mode must be off in production). */
  devToolsMode: number;
}

/** The node's NVIDIA GPUs as the agent drives them. */
export interface GpuControl {
  readonly kind: string;
  listGpus(): Promise<GpuInfo[]>;
  confComputeState(): Promise<ConfComputeState>;
  /** One attestation report per GPU, each bound to the 32-byte nonce. */
  collect(nonce: Uint8Array): Promise<GpuEvidence[]>;
  /** nvmlSystemSetConfComputeGpusReadyState: lets (or stops) CUDA work on the CC GPUs. */
  setGpusReady(ready: boolean): Promise<void>;
  gpusReady(): Promise<boolean>;
  close(): Promise<void>;
}

/** An NVML call that did not return NVML_SUCCESS. */
export class NvmlError extends Error {
  /** The nvmlReturn_t value. */
  readonly code: number;
  /** NVML's name for it, e.g. NVML_ERROR_NOT_SUPPORTED. */
  readonly nvmlName: string;
  /** The NVML function (or `dlopen` for loading the library). */
  readonly call: string;

  /** `description` is nvmlErrorString's text where the library could give it. */
  constructor(code: number, call: string, description?: string) {
    const nvmlName = nvmlReturnName(code);
    super(`${call}: ${nvmlName}${description ? ` (${description})` : ''}`);
    this.name = 'NvmlError';
    this.code = code;
    this.nvmlName = nvmlName;
    this.call = call;
  }
}
