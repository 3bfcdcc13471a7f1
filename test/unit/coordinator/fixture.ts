// The Coordinator without a cluster: its store and event sink are the small interfaces it uses,
// kept in memory here; evidence is the simulated platform's (real byte formats, real verifiers,
// roots generated for the test). Agents are played by `submit`, which does what NodeAgent does.
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import * as jose from 'jose';
import {
  createSimulatedPlatform,
  SIMULATED_SNP_MEASUREMENT,
  SIMULATED_TDX_MRTD,
  SimulatedCvmSource,
  SimulatedGpuControl,
  type SimulatedPlatform,
} from '../../../src/agent/evidence/simulated.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import type { NodeAttestation, NodeAttestationStatus } from '../../../src/api/node-attestation.ts';
import type { AttestationStore } from '../../../src/coordinator/attestation-writer.ts';
import { Coordinator } from '../../../src/coordinator/coordinator.ts';
import type { CoordinatorLimits } from '../../../src/coordinator/limits.ts';
import type { EventSink, EventTarget, EventType } from '../../../src/coordinator/node-events.ts';
import { simulatedCollateral } from '../../../src/dev/local-coordinator.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { signActivationReport } from '../../../src/protocol/activation-report.ts';
import { encodeEvidenceRequest, evidenceDigest, reportDataFor } from '../../../src/protocol/evidence-request.ts';
import type { ActivationReport, AttestResponse, EvidenceRequest } from '../../../src/protocol/messages.ts';

export const POLICY_HASH = createHash('sha256').update('policy').digest('hex');

export function manifestSpec(change: { snpMeasurement?: string; evidenceMaxAge?: string } = {}): ManifestSpec {
  return {
    referenceValues: {
      snp: [
        {
          name: 'simulated-genoa',
          measurements: [change.snpMeasurement ?? SIMULATED_SNP_MEASUREMENT],
          minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
          products: ['Genoa'],
        },
      ],
      tdx: [{ name: 'simulated-tdx', mrTd: [SIMULATED_TDX_MRTD] }],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [{ name: 'p', hash: POLICY_HASH }],
    runtimeClasses: ['kata'],
    attestation: { evidenceMaxAge: change.evidenceMaxAge ?? '5m', reattestationInterval: '1h' },
    development: { acceptSimulatedEvidence: true },
  };
}

/** A name -> object cache, like an informer's. */
export class MapCache<T> {
  readonly map = new Map<string, T>();
  get(name: string): T | undefined {
    return this.map.get(name);
  }
  list(): readonly T[] {
    return [...this.map.values()];
  }
}

/** NodeAttestations in memory; every write is counted. `cache` is what an informer would show. */
export class MemoryStore implements AttestationStore {
  readonly cache = new MapCache<NodeAttestation>();
  writes = 0;
  async get(name: string): Promise<NodeAttestation | undefined> {
    const na = this.cache.get(name);
    return na ? structuredClone(na) : undefined;
  }
  async ensure(node: k8s.V1Node): Promise<NodeAttestation> {
    const name = node.metadata!.name!;
    if (!this.cache.get(name))
      this.cache.map.set(name, {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'NodeAttestation',
        metadata: { name },
        spec: {},
      });
    return (await this.get(name))!;
  }
  async updateStatus(
    name: string,
    update: (current: NodeAttestationStatus | undefined) => NodeAttestationStatus | undefined,
  ): Promise<NodeAttestation | undefined> {
    const current = await this.get(name);
    if (!current) return undefined;
    const status = update(current.status);
    if (status === undefined) return current;
    this.writes++;
    const next = { ...current, status: structuredClone(status) };
    this.cache.map.set(name, next);
    return next;
  }
  status(name: string): NodeAttestationStatus | undefined {
    return this.cache.get(name)?.status;
  }
}

export class RecordedEvents implements EventSink {
  readonly events: Array<{ name: string; type: EventType; reason: string; message: string }> = [];
  async record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    this.events.push({ name: target.name, type, reason, message });
  }
  about(name: string): Array<{ reason: string; message: string }> {
    return this.events.filter((e) => e.name === name);
  }
}

export interface Fixture {
  platform: SimulatedPlatform;
  manifests: MapCache<Manifest>;
  nodes: MapCache<k8s.V1Node>;
  store: MemoryStore;
  events: RecordedEvents;
  clock: { now: Date };
  /** Counts appraisals (the production collateral hook runs before each). */
  appraisals: { count: number };
  coordinator: Coordinator;
  /** A new Coordinator over the same cluster state (a leader failover). */
  failover(): Promise<Coordinator>;
  addNode(name: string, gpus?: number): void;
  /** Makes `spec` the active Manifest (newer than any before); returns its hash. */
  activate(name: string, spec: ManifestSpec): string;
  remove(name: string): void;
}

// Generating the simulated roots takes a while: one platform for every fixture of a run.
let sharedPlatform: Promise<SimulatedPlatform> | undefined;

export async function createFixture(limits: Partial<CoordinatorLimits> = {}): Promise<Fixture> {
  sharedPlatform ??= createSimulatedPlatform();
  const platform = await sharedPlatform;
  const manifests = new MapCache<Manifest>();
  const nodes = new MapCache<k8s.V1Node>();
  const store = new MemoryStore();
  const events = new RecordedEvents();
  const clock = { now: new Date('2026-06-01T00:00:00Z') };
  const appraisals = { count: 0 };
  let created = 0;
  const make = () =>
    Coordinator.create({
      manifests,
      nodes,
      nodeAttestations: store.cache,
      store,
      trust: {
        production: {},
        productionCollateral: async () => {
          appraisals.count++;
          return { collateral: {}, notes: [] };
        },
        simulated: platform.trust,
        simulatedCollateral: simulatedCollateral(platform),
      },
      events,
      log: silentLogger,
      now: () => clock.now,
      limits,
    });
  const fixture: Fixture = {
    platform,
    manifests,
    nodes,
    store,
    events,
    clock,
    appraisals,
    coordinator: undefined as never,
    async failover() {
      fixture.coordinator.close();
      fixture.coordinator = await make();
      return fixture.coordinator;
    },
    addNode(name, gpus = 2) {
      nodes.map.set(name, {
        metadata: { name, uid: `uid-${name}` },
        status: { capacity: { 'nvidia.com/gpu': String(gpus) } },
      });
    },
    activate(name, spec) {
      const hash = createHash('sha256')
        .update(`${name}/${JSON.stringify(spec)}`)
        .digest('hex');
      created++;
      manifests.map.set(name, {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, created)) },
        spec,
        status: { hash },
      });
      return hash;
    },
    remove(name) {
      manifests.map.delete(name);
    },
  };
  fixture.activate('base', manifestSpec());
  fixture.coordinator = await make();
  return fixture;
}

/** An agent's view: its key, its CVM (one launch) and its GPUs. */
export interface SimulatedAgent {
  node: string;
  key: { privateKey: jose.CryptoKey; publicJwk: jose.JWK; spkiDer: Uint8Array };
  cvm: SimulatedCvmSource;
  gpus: SimulatedGpuControl;
}

export async function simulatedAgent(
  f: Fixture,
  node: string,
  options: { platform?: 'snp' | 'tdx'; cvm?: SimulatedCvmSource; uuids?: string[]; measurement?: string } = {},
): Promise<SimulatedAgent> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const publicJwk = await jose.exportJWK(publicKey);
  const spkiDer = new Uint8Array(
    Buffer.from((await jose.exportSPKI(publicKey)).replace(/-----[^-]+-----|\s/g, ''), 'base64'),
  );
  return {
    node,
    key: { privateKey, publicJwk, spkiDer },
    cvm:
      options.cvm ??
      new SimulatedCvmSource(f.platform, {
        platform: options.platform ?? 'snp',
        policyHash: POLICY_HASH,
        measurement: options.measurement,
      }),
    gpus: new SimulatedGpuControl(f.platform, { uuids: options.uuids ?? [`${node}-GPU-0`, `${node}-GPU-1`] }),
  };
}

/** Evidence for a nonce, as the agent builds it. */
export async function evidenceRequest(agent: SimulatedAgent, nonce: string): Promise<EvidenceRequest> {
  const nonceBytes = new Uint8Array(Buffer.from(nonce, 'hex'));
  const cvm = await agent.cvm.collect(reportDataFor(nonceBytes, agent.key.spkiDer));
  const gpus = await agent.gpus.collect(nonceBytes);
  return encodeEvidenceRequest(nonce, agent.key.publicJwk as Record<string, unknown>, {
    cvm,
    gpus: gpus.map((g) => ({ uuid: g.uuid, report: g.report, certificateChain: g.certificateChainPem })),
  });
}

/** Nonce, evidence, verdict: one round without the activation. */
export async function submit(
  f: Fixture,
  agent: SimulatedAgent,
): Promise<{ request: EvidenceRequest; answer: AttestResponse }> {
  const { nonce } = f.coordinator.issueNonce(agent.node);
  const request = await evidenceRequest(agent, nonce);
  return { request, answer: await f.coordinator.attest(agent.node, request) };
}

/** The activation report for a grant, signed with the agent's key (or another). */
export async function activationReport(
  agent: SimulatedAgent,
  grant: string,
  options: { key?: jose.CryptoKey; gpusReady?: boolean } = {},
): Promise<string> {
  const report: ActivationReport = {
    grant,
    gpusReady: options.gpusReady ?? true,
    gpus: agent.gpus.listGpus ? (await agent.gpus.listGpus()).map((g) => g.uuid) : [],
  };
  return signActivationReport(report, options.key ?? agent.key.privateKey);
}

/** A full round: evidence accepted and GPUs activated. */
export async function attestAndActivate(
  f: Fixture,
  agent: SimulatedAgent,
): Promise<{ request: EvidenceRequest; digest: string }> {
  const { request, answer } = await submit(f, agent);
  if (!answer.accepted) throw new Error(`refused: ${answer.reasons.join('; ')}`);
  const activation = await f.coordinator.activate(agent.node, await activationReport(agent, answer.grant));
  if (!activation.activated) throw new Error(`not activated: ${activation.reason}`);
  return { request, digest: evidenceDigest(request) };
}

export function condition(status: NodeAttestationStatus | undefined, type: string) {
  return status?.conditions?.find((c) => c.type === type);
}
