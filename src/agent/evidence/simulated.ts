/**
 * Simulated hardware for `attestor dev` and the tests: a confidential VM (SEV-SNP or TDX) and
 * NVIDIA GPUs whose evidence has the real byte formats and goes through the real verifiers, but
 * is signed by roots generated here. The Coordinator accepts it only with those roots configured
 * and a Manifest that opts in (development.acceptSimulatedEvidence).
 */
import { randomBytes } from 'node:crypto';
import type { NodeCollateral, NodeTrust } from '../../attestation/node-appraisal.ts';
import { createGpuSimulator, type GpuSimulator } from '../../attestation/sim/gpu.ts';
import { createSnpSimulator, type SnpSimulator } from '../../attestation/sim/snp.ts';
import { createTdxSimulator, type TdxSimulator } from '../../attestation/sim/tdx.ts';
import { encodeSnpCertTable } from '../../attestation/snp/cert-table.ts';
import { configIdForPolicyHash, trustAnchors } from '../../attestation/tdx/index.ts';
import type { ConfComputeState, CvmEvidence, CvmEvidenceSource, GpuControl, GpuEvidence, GpuInfo } from './source.ts';

/** Defaults of the simulated platform, matching samples/manifest.yaml. */
export const SIMULATED_SNP_MEASUREMENT = 'ab'.repeat(48);
export const SIMULATED_TDX_MRTD = 'cd'.repeat(48);
export const SIMULATED_DRIVER_VERSION = '550.90.07';
export const SIMULATED_VBIOS_VERSION = '96.00.9F.00.01';
/**
 * The simulated Coordinator's pod VM (SEV-SNP): its launch measurement, and the policy hash its
 * HOST_DATA carries (SHA-256 of "attestor dev: the simulated Coordinator's pod policy"), as
 * samples/manifest.yaml lists them in the coordinator role.
 */
export const SIMULATED_COORDINATOR_MEASUREMENT = 'c0'.repeat(48);
export const SIMULATED_COORDINATOR_POLICY_HASH = 'ff8137d8b0d84a917006d1bb5d66485f20b746cd34d412c025e6ebb8a4030345';
/**
 * The simulated pod VMs of pod-CVM AI workers, as samples/manifest.yaml lists them in the pod role.
 * SEV-SNP: the Coordinator's measurement (under Kata every pod VM of a runtime has the same one;
 * the policy hash in HOST_DATA tells them apart, D67). TDX: an MRTD of their own.
 */
export const SIMULATED_POD_MEASUREMENT = SIMULATED_COORDINATOR_MEASUREMENT;
export const SIMULATED_POD_MRTD = 'c1'.repeat(48);
/** Validity of the simulated TDX certificates (the simulator's default) and so of its collateral. */
const SIMULATED_VALIDITY = { notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2044-01-01T00:00:00Z') };

/** One set of simulated roots shared by every simulated node (keys are made once). */
export interface SimulatedPlatform {
  snp: SnpSimulator;
  tdx: TdxSimulator;
  gpu: GpuSimulator;
  /** What the Coordinator must trust to accept this platform's evidence. */
  trust: NodeTrust;
  /** Its fixed collateral; OCSP answers come from `gpu.ocspResponder` at each appraisal (src/dev/local-coordinator.ts). */
  collateral: NodeCollateral;
}

export async function createSimulatedPlatform(): Promise<SimulatedPlatform> {
  const [snp, tdx, gpu] = await Promise.all([
    // A Genoa with a TCB above the sample Manifest's minimum; RSA-2048 keeps start-up fast (AMD uses 4096).
    createSnpSimulator({
      product: 'Genoa',
      tcb: { bootloader: 4, tee: 1, snp: 22, microcode: 213 },
      rsaModulusLength: 2048,
    }),
    createTdxSimulator(SIMULATED_VALIDITY),
    createGpuSimulator({ architecture: 'HOPPER' }),
  ]);
  const rims = await gpu.rims({ driverVersion: SIMULATED_DRIVER_VERSION, vbiosVersion: SIMULATED_VBIOS_VERSION });
  // Complete TDX collateral (TCB info, QE identity, both CRLs), valid as long as the simulated
  // certificates, so that simulated TDX nodes attest under the strict default (collateral required).
  const tdxCollateral = await tdx.collateral({
    issueDate: SIMULATED_VALIDITY.notBefore,
    nextUpdate: SIMULATED_VALIDITY.notAfter,
  });
  return {
    snp,
    tdx,
    gpu,
    trust: { snp: snp.roots, tdx: tdxAnchors(tdx), gpu: { device: [gpu.roots.device], rim: [gpu.roots.rim] } },
    collateral: {
      tdx: tdxCollateral,
      gpu: {
        rims: [
          { xml: rims.driver, id: rims.driverId },
          { xml: rims.vbios, id: rims.vbiosId },
        ],
      },
    },
  };
}

function tdxAnchors(tdx: TdxSimulator) {
  return trustAnchors(tdx.roots);
}

export interface SimulatedCvmOptions {
  platform: 'snp' | 'tdx';
  /** SNP launch measurement or TDX MRTD (hex, 48 bytes). */
  measurement?: string;
  /** SHA-256 of the workload policy, carried in HOST_DATA (SNP) or MRCONFIGID (TDX). */
  policyHash: string;
  /** SNP REPORT_ID (32 bytes): the firmware picks one per launch; default random per source (one launch). */
  reportId?: Uint8Array;
}

/** A CVM that answers configfs-tsm requests with simulated, correctly signed evidence. */
export class SimulatedCvmSource implements CvmEvidenceSource {
  readonly kind: string;
  readonly #platform: SimulatedPlatform;
  readonly #options: SimulatedCvmOptions;
  /** REPORT_DATA of every request, in order (tests check what was bound). */
  readonly requests: Uint8Array[] = [];
  /** This launch's REPORT_ID. */
  readonly reportId: Uint8Array;

  constructor(platform: SimulatedPlatform, options: SimulatedCvmOptions) {
    this.#platform = platform;
    this.#options = options;
    this.kind = `simulated-${options.platform}`;
    this.reportId = options.reportId ?? new Uint8Array(randomBytes(32));
  }

  async collect(reportData: Uint8Array): Promise<CvmEvidence> {
    if (reportData.length !== 64) throw new Error(`REPORT_DATA must be 64 bytes, got ${reportData.length}`);
    this.requests.push(reportData);
    const policy = Buffer.from(this.#options.policyHash, 'hex');
    if (this.#options.platform === 'snp') {
      const { snp } = this.#platform;
      const report = snp.report({
        reportData,
        measurement: Buffer.from(this.#options.measurement ?? SIMULATED_SNP_MEASUREMENT, 'hex'),
        hostData: policy,
        reportId: this.reportId,
      });
      return {
        platform: 'snp',
        report,
        auxblob: encodeSnpCertTable([{ kind: 'vcek', der: snp.endorsementDer }]),
        provider: 'sev_guest (simulated)',
      };
    }
    const quote = this.#platform.tdx.quote({
      reportData,
      mrTd: this.#options.measurement ?? SIMULATED_TDX_MRTD,
      mrConfigId: configIdForPolicyHash(this.#options.policyHash),
    });
    return { platform: 'tdx', report: quote, provider: 'tdx_guest (simulated)' };
  }
}

export interface SimulatedGpuOptions {
  uuids: string[];
  driverVersion?: string;
  vbiosVersion?: string;
}

/** GPUs behind a simulated NVML: reports bound to the nonce, a ready state, and a log of every call. */
export class SimulatedGpuControl implements GpuControl {
  readonly kind = 'simulated-nvml';
  /** Every call, like the NVML stub's log: e.g. "nvmlSystemSetConfComputeGpusReadyState 1". */
  readonly calls: string[] = [];
  readonly #gpu: GpuSimulator;
  readonly #options: SimulatedGpuOptions;
  #ready = false;

  constructor(platform: SimulatedPlatform, options: SimulatedGpuOptions) {
    this.#gpu = platform.gpu;
    this.#options = options;
  }

  async listGpus(): Promise<GpuInfo[]> {
    this.calls.push('nvmlDeviceGetCount_v2');
    return this.#options.uuids.map((uuid, index) => ({ index, uuid }));
  }

  async confComputeState(): Promise<ConfComputeState> {
    this.calls.push('nvmlSystemGetConfComputeState');
    return { environment: 1, ccFeature: 1, devToolsMode: 0 };
  }

  async collect(nonce: Uint8Array): Promise<GpuEvidence[]> {
    const out: GpuEvidence[] = [];
    for (const uuid of this.#options.uuids) {
      this.calls.push(`nvmlDeviceGetConfComputeGpuAttestationReport ${uuid}`);
      const g = await this.#gpu.gpu(uuid, {
        nonce,
        driverVersion: this.#options.driverVersion ?? SIMULATED_DRIVER_VERSION,
        vbiosVersion: this.#options.vbiosVersion ?? SIMULATED_VBIOS_VERSION,
      });
      out.push({ uuid, report: g.report, certificateChainPem: g.certificateChainPem });
    }
    return out;
  }

  async setGpusReady(ready: boolean): Promise<void> {
    this.calls.push(`nvmlSystemSetConfComputeGpusReadyState ${ready ? 1 : 0}`);
    this.#ready = ready;
  }

  async gpusReady(): Promise<boolean> {
    this.calls.push('nvmlSystemGetConfComputeGpusReadyState');
    return this.#ready;
  }

  async close(): Promise<void> {
    this.calls.push('nvmlShutdown');
  }
}
