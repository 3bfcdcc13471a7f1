/**
 * The development mode's simulated hardware, as simulated agents and `attestor init` reach it in a
 * cluster (the chart's `development.enabled`, hack/kind-e2e.sh). An operator started with
 * `--development-roots` generates the simulated roots in memory and serves this; the simulated
 * agents and pod inits send the REPORT_DATA or the nonce they would hand the hardware and get
 * evidence signed by those roots. The keys never leave the operator's memory. The Coordinator
 * accepts such evidence only while the active Manifest accepts simulated evidence.
 *
 *   POST /v1/simulated/cvm    SimulatedCvmRequest -> SimulatedCvmResponse
 *   POST /v1/simulated/gpus   SimulatedGpuRequest -> SimulatedGpuResponse
 *
 * Plain HTTP: what it returns is signed evidence the Coordinator verifies, so TLS adds no
 * integrity, and whoever reaches it can have any claims signed, which is what simulated
 * evidence means (it proves nothing, and production Manifests refuse it).
 */
export const SIMULATED_CVM_PATH = '/v1/simulated/cvm';
export const SIMULATED_GPUS_PATH = '/v1/simulated/gpus';
/** The operator's default port for it (development mode only). */
export const DEFAULT_SIMULATED_HARDWARE_PORT = 8446;
/** Bodies carry a few identifiers and 64 bytes of REPORT_DATA. */
export const MAX_SIMULATED_HARDWARE_BODY_BYTES = 16 * 1024;

export interface SimulatedCvmRequest {
  platform: 'snp' | 'tdx';
  /** Hex SHA-256 of the workload policy, for HOST_DATA (SNP) or MRCONFIGID (TDX). */
  policyHash: string;
  /** Hex launch measurement (SNP) or MRTD (TDX), 48 bytes; absent: the simulated default. */
  measurement?: string;
  /** base64 of the 64 bytes of REPORT_DATA. */
  reportData: string;
  /** Hex SNP REPORT_ID (32 bytes), the same for every report of one simulated launch. */
  reportId: string;
}

export interface SimulatedCvmResponse {
  platform: 'snp' | 'tdx';
  /** base64 */
  report: string;
  /** base64, when the platform has certificates to hand out (SNP). */
  auxblob?: string;
  provider: string;
}

export interface SimulatedGpuRequest {
  uuids: string[];
  /** base64 of the 32-byte nonce. */
  nonce: string;
}

export interface SimulatedGpuResponse {
  gpus: Array<{ uuid: string; report: string; certificateChainPem: string }>;
}

/** What is wrong with a CVM request (every problem); empty when it is well formed. */
export function simulatedCvmRequestProblems(body: unknown): string[] {
  const b = (body ?? {}) as Partial<Record<keyof SimulatedCvmRequest, unknown>>;
  const problems: string[] = [];
  if (b.platform !== 'snp' && b.platform !== 'tdx') problems.push('platform: must be snp or tdx');
  if (typeof b.policyHash !== 'string' || !/^[0-9a-f]{64}$/.test(b.policyHash))
    problems.push('policyHash: must be 64 lower-case hex digits');
  if (b.measurement !== undefined && (typeof b.measurement !== 'string' || !/^[0-9a-f]{96}$/.test(b.measurement)))
    problems.push('measurement: must be 96 lower-case hex digits');
  if (typeof b.reportData !== 'string' || Buffer.from(b.reportData, 'base64').length !== 64)
    problems.push('reportData: must be base64 of 64 bytes');
  if (typeof b.reportId !== 'string' || !/^[0-9a-f]{64}$/.test(b.reportId))
    problems.push('reportId: must be 64 lower-case hex digits');
  return problems;
}

/** What is wrong with a GPU request (every problem); empty when it is well formed. */
export function simulatedGpuRequestProblems(body: unknown): string[] {
  const b = (body ?? {}) as Partial<Record<keyof SimulatedGpuRequest, unknown>>;
  const problems: string[] = [];
  if (
    !Array.isArray(b.uuids) ||
    b.uuids.length === 0 ||
    b.uuids.length > 64 ||
    !b.uuids.every((u) => typeof u === 'string' && /^GPU-[\w.-]{1,80}$/.test(u))
  )
    problems.push('uuids: must be 1 to 64 GPU UUIDs (GPU-...)');
  if (typeof b.nonce !== 'string' || Buffer.from(b.nonce, 'base64').length !== 32)
    problems.push('nonce: must be base64 of 32 bytes');
  return problems;
}
