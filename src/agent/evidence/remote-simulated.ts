/**
 * Simulated hardware reached over the network (protocol/simulated-hardware.ts): what a simulated
 * agent or `attestor init --simulated-hardware` uses in a development cluster (the chart's
 * `development.enabled`) instead of configfs-tsm and NVML. The operator that holds the simulated
 * roots signs; each source is one simulated launch (its own REPORT_ID and GPU UUIDs).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'undici';
import {
  SIMULATED_CVM_PATH,
  SIMULATED_GPUS_PATH,
  type SimulatedCvmRequest,
  type SimulatedCvmResponse,
  type SimulatedGpuRequest,
  type SimulatedGpuResponse,
} from '../../protocol/simulated-hardware.ts';
import { SIMULATED_POD_MEASUREMENT, SIMULATED_POD_MRTD } from './simulated.ts';
import type { ConfComputeState, CvmEvidence, CvmEvidenceSource, GpuControl, GpuEvidence, GpuInfo } from './source.ts';

async function post<T>(base: string, path: string, body: unknown): Promise<T> {
  const res = await request(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`simulated hardware at ${base} answered ${res.statusCode}: ${text}`);
  return JSON.parse(text) as T;
}

export interface RemoteSimulatedCvmOptions {
  platform: 'snp' | 'tdx';
  /** SHA-256 of the workload policy (hex), which the simulated launch puts into HOST_DATA / MRCONFIGID. */
  policyHash: string;
  /** Launch measurement (SNP) or MRTD (TDX), hex; absent: the simulated node default. */
  measurement?: string;
}

/** A simulated CVM whose reports the development operator signs. */
export class RemoteSimulatedCvmSource implements CvmEvidenceSource {
  readonly kind: string;
  readonly #url: string;
  readonly #options: RemoteSimulatedCvmOptions;
  /** This launch's REPORT_ID (hex). */
  readonly reportId = randomBytes(32).toString('hex');

  constructor(url: string, options: RemoteSimulatedCvmOptions) {
    this.#url = url;
    this.#options = options;
    this.kind = `simulated-${options.platform} (${url})`;
  }

  async collect(reportData: Uint8Array): Promise<CvmEvidence> {
    if (reportData.length !== 64) throw new Error(`REPORT_DATA must be 64 bytes, got ${reportData.length}`);
    const body: SimulatedCvmRequest = {
      platform: this.#options.platform,
      policyHash: this.#options.policyHash,
      ...(this.#options.measurement ? { measurement: this.#options.measurement } : {}),
      reportData: Buffer.from(reportData).toString('base64'),
      reportId: this.reportId,
    };
    const answer = await post<SimulatedCvmResponse>(this.#url, SIMULATED_CVM_PATH, body);
    return {
      platform: answer.platform,
      report: Buffer.from(answer.report, 'base64'),
      ...(answer.auxblob ? { auxblob: Buffer.from(answer.auxblob, 'base64') } : {}),
      provider: answer.provider,
    };
  }
}

/** The simulated pod VM measurement of a platform, as samples/manifest.yaml lists it in the pod role. */
export function simulatedPodMeasurement(platform: 'snp' | 'tdx'): string {
  return platform === 'snp' ? SIMULATED_POD_MEASUREMENT : SIMULATED_POD_MRTD;
}

/** Simulated GPUs (fresh UUIDs per launch) whose reports the development operator signs; the ready state is local. */
export class RemoteSimulatedGpuControl implements GpuControl {
  readonly kind: string;
  readonly #url: string;
  readonly #uuids: string[];
  #ready = false;

  constructor(url: string, count: number) {
    this.#url = url;
    this.#uuids = Array.from({ length: count }, () => `GPU-${randomUUID()}`);
    this.kind = `simulated-nvml (${url})`;
  }

  async listGpus(): Promise<GpuInfo[]> {
    return this.#uuids.map((uuid, index) => ({ index, uuid }));
  }

  async confComputeState(): Promise<ConfComputeState> {
    return { environment: 1, ccFeature: 1, devToolsMode: 0 };
  }

  async collect(nonce: Uint8Array): Promise<GpuEvidence[]> {
    const body: SimulatedGpuRequest = { uuids: this.#uuids, nonce: Buffer.from(nonce).toString('base64') };
    const answer = await post<SimulatedGpuResponse>(this.#url, SIMULATED_GPUS_PATH, body);
    return answer.gpus.map((g) => ({
      uuid: g.uuid,
      report: Buffer.from(g.report, 'base64'),
      certificateChainPem: g.certificateChainPem,
    }));
  }

  async setGpusReady(ready: boolean): Promise<void> {
    this.#ready = ready;
  }

  async gpusReady(): Promise<boolean> {
    return this.#ready;
  }

  async close(): Promise<void> {}
}
