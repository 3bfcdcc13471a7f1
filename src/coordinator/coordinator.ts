/**
 * The Coordinator: hands out nonces, appraises a node's CVM and GPU evidence against the active
 * Manifest, records the verdict in the node's NodeAttestation, issues activation grants, and
 * marks GPUs activated only on a valid grant plus the agent's signed read-back. It runs on the
 * leader only (nonces and pending grants live in its memory; agents retry on another replica's
 * 503). HTTP is elsewhere (server.ts): these methods take the authenticated node and a body.
 */
import type * as k8s from '@kubernetes/client-node';
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import * as jose from 'jose';
import { parseDuration } from '../api/duration.ts';
import { DEFAULT_EVIDENCE_MAX_AGE, DEFAULT_REATTESTATION_INTERVAL, type Manifest } from '../api/manifest.ts';
import { API_VERSION } from '../api/common.ts';
import { NODE_ATTESTATION_KIND, type NodeAttestation } from '../api/node-attestation.ts';
import { appraiseNode, type NodeAppraisalContext, type NodeClaims, type NodeCollateral, type NodeEvidence, type NodeExpectation, type NodeTrust } from '../attestation/node-appraisal.ts';
import { VerificationCache } from '../attestation/nvidia/index.ts';
import { SnpEndorsementCache } from '../attestation/snp/index.ts';
import { TdxVerifierCache } from '../attestation/tdx/index.ts';
import { reason, type Reason, type Verdict } from '../attestation/verdict.ts';
import { selectActiveManifest } from '../controllers/manifest/active.ts';
import type { EventRecorder } from '../controllers/runtime/events.ts';
import type { Informer } from '../controllers/runtime/informer.ts';
import type { Logger } from '../observability/log.ts';
import { GrantSigner } from './grants.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { NonceStore } from './nonces.ts';
import type { NodeAttestationStore } from './node-attestation-store.ts';
import { evidenceDigest, reportDataFor, type ActivationReport, type ActivationResponse, type AttestResponse, type EvidenceRequest, type GrantClaims, type NonceResponse } from './protocol.ts';
import { activatedStatus, manifestChangedStatus, summarise, verdictStatus } from './status.ts';

export interface CoordinatorTrust {
  /** Pinned vendor roots (the verifiers' defaults when empty). */
  production: NodeTrust;
  productionCollateral?: NodeCollateral;
  /**
   * Completes the production collateral for one node's evidence (the vendor collateral cache,
   * src/collateral): awaited before appraisal, its notes logged. Absent: productionCollateral alone.
   */
  prepareProductionCollateral?: (evidence: NodeEvidence, base: NodeCollateral | undefined) => Promise<{ collateral: NodeCollateral; notes: string[] }>;
  /** Generated roots of simulated evidence: used only while the active Manifest accepts simulated evidence. */
  simulated?: NodeTrust;
  simulatedCollateral?: NodeCollateral;
}

export interface CoordinatorDeps {
  manifests: Informer<Manifest>;
  nodes: Informer<k8s.V1Node>;
  store: NodeAttestationStore;
  trust: CoordinatorTrust;
  events: EventRecorder;
  log: Logger;
  metrics?: CoordinatorMetrics;
  now?: () => Date;
  /** Lifetime of an activation grant. Default 120 s. */
  grantTtlSeconds?: number;
}

/** A request the Coordinator cannot serve: HTTP status and a message for the agent. */
export class CoordinatorError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'CoordinatorError';
    this.status = status;
  }
}

interface AcceptedEvidence {
  evidence: NodeEvidence;
  reportData: Uint8Array;
  nonce: Uint8Array;
  gpuCount: number;
  simulated: boolean;
}

interface PendingGrant {
  claims: GrantClaims;
  agentKey: jose.JWK;
}

export class Coordinator {
  readonly #deps: CoordinatorDeps;
  readonly #nonces = new NonceStore();
  readonly #signer: GrantSigner;
  readonly #pending = new Map<string, PendingGrant>();
  /** The last accepted evidence per node, re-appraised when the active Manifest changes. */
  readonly #accepted = new Map<string, AcceptedEvidence>();
  readonly #now: () => Date;
  readonly #log: Logger;
  // Chains, collateral and RIM signatures checked once (keyed by their bytes and the roots);
  // validity at the time, and everything about the evidence itself, are checked every time.
  readonly #caches = { snp: new SnpEndorsementCache(), tdx: new TdxVerifierCache(), gpu: new VerificationCache() };

  private constructor(deps: CoordinatorDeps, signer: GrantSigner) {
    this.#deps = deps;
    this.#signer = signer;
    this.#now = deps.now ?? (() => new Date());
    this.#log = deps.log.child({ component: 'coordinator' });
  }

  static async create(deps: CoordinatorDeps): Promise<Coordinator> {
    return new Coordinator(deps, await GrantSigner.create());
  }

  get jwks(): { keys: jose.JWK[] } {
    return this.#signer.jwks;
  }

  #active(): Manifest {
    const active = selectActiveManifest(this.#deps.manifests.list());
    if (!active?.status?.hash) throw new CoordinatorError(503, 'no valid Manifest is active: nothing can be attested');
    return active;
  }

  #gpuNode(name: string): k8s.V1Node {
    const node = this.#deps.nodes.get(name);
    if (!node) throw new CoordinatorError(404, `node ${name} does not exist`);
    return node;
  }

  issueNonce(node: string): NonceResponse {
    const manifest = this.#active();
    this.#gpuNode(node);
    const ttl = parseDuration(manifest.spec.attestation?.evidenceMaxAge ?? DEFAULT_EVIDENCE_MAX_AGE)!;
    const { nonce, expiresAt } = this.#nonces.issue(node, ttl, this.#now());
    return { nonce, expiresAt: expiresAt.toISOString() };
  }

  async attest(nodeName: string, request: EvidenceRequest): Promise<AttestResponse> {
    const started = performance.now();
    const manifest = this.#active();
    const manifestHash = manifest.status!.hash!;
    const node = this.#gpuNode(nodeName);
    const now = this.#now();
    const decoded = decodeRequest(request);

    const refusal: Reason[] = [];
    const nonceCheck = this.#nonces.take(request.nonce, nodeName, now);
    if (!nonceCheck.ok) refusal.push(reason('coordinator.nonce', nonceCheck.reason));
    if ('error' in decoded) refusal.push(reason('coordinator.request', decoded.error));

    let verdict: Verdict<NodeClaims> | undefined;
    let simulated = false;
    let accepted: AcceptedEvidence | undefined;
    let thumbprint = '';
    // Read first: the devices this node's GPU UUIDs were verified as bind the evidence (node-appraisal.ts).
    const attestation = await this.#deps.store.ensure(node);
    if (!('error' in decoded)) {
      thumbprint = await jose.calculateJwkThumbprint(decoded.agentKey as jose.JWK);
      const expectation = { reportData: reportDataFor(decoded.nonce, decoded.agentKeySpki), nonce: decoded.nonce, gpuCount: gpuCapacity(node), gpuBindings: attestation.status?.gpuBindings ?? [] };
      ({ verdict, simulated } = await this.#appraise(decoded.evidence, expectation, manifest, now));
      accepted = { evidence: decoded.evidence, ...expectation, simulated };
    }
    const reasons = [...refusal, ...(verdict?.reasons ?? [])];
    const ok = reasons.length === 0 && verdict !== undefined;
    const reattestMs = parseDuration(manifest.spec.attestation?.reattestationInterval ?? DEFAULT_REATTESTATION_INTERVAL)!;
    const expiresAt = new Date(now.getTime() + reattestMs);

    const claims = verdict?.claims ?? { cvm: { platform: request.cvm?.platform === 'tdx' ? 'tdx' : 'snp', verified: false, reasons: [], details: null }, gpus: [] };
    await this.#deps.store.updateStatus(nodeName, (current) => verdictStatus(current, { accepted: ok, claims: claims as NodeClaims, reasons, manifestHash, simulated, now, expiresAt }), attestation);
    this.#deps.metrics?.attestations.inc({ result: ok ? 'accepted' : 'refused' });
    this.#deps.metrics?.appraisalSeconds.observe((performance.now() - started) / 1000);
    const naTarget = { apiVersion: API_VERSION, kind: NODE_ATTESTATION_KIND, name: nodeName };
    const nodeTarget = { apiVersion: 'v1', kind: 'Node', name: nodeName, uid: node.metadata?.uid };

    if (!ok) {
      this.#accepted.delete(nodeName);
      const message = `evidence refused: ${summarise(reasons)}`;
      this.#log.warn({ node: nodeName, reasons: reasons.map((r) => r.check), manifest: manifestHash }, 'node evidence refused');
      await this.#deps.events.record(naTarget, 'Warning', 'AttestationRefused', message);
      await this.#deps.events.record(nodeTarget, 'Warning', 'AttestationRefused', message);
      return { accepted: false, reasons: reasons.map((r) => `[${r.check}] ${r.message}`), manifestHash };
    }

    this.#accepted.set(nodeName, accepted!);
    const gpus = decoded.evidence!.gpus.map((g) => g.uuid);
    const { token, claims: grant } = await this.#signer.sign({
      node: nodeName,
      gpus,
      evidence: evidenceDigest(request),
      manifest: manifestHash,
      agentKeyThumbprint: thumbprint,
      ttlSeconds: this.#deps.grantTtlSeconds ?? 120,
      now,
    });
    this.#pending.set(grant.jti, { claims: grant, agentKey: request.agentKey as jose.JWK });
    this.#sweepPending(now);
    this.#log.info({ node: nodeName, gpus: gpus.length, manifest: manifestHash, simulated }, 'node evidence accepted; grant issued');
    await this.#deps.events.record(naTarget, simulated ? 'Warning' : 'Normal', 'Attested', `CVM and ${gpus.length} GPUs verified against Manifest ${manifestHash}${simulated ? ' with SIMULATED evidence (development only)' : ''}; activation grant issued`);
    return { accepted: true, grant: token, expiresAt: expiresAt.toISOString(), reattestAfterSeconds: Math.max(15, Math.floor(reattestMs / 2000)), manifestHash };
  }

  async activate(nodeName: string, jws: string): Promise<ActivationResponse> {
    const now = this.#now();
    let reportPayload: ActivationReport;
    try {
      reportPayload = JSON.parse(new TextDecoder().decode(jose.base64url.decode(jws.split('.')[1] ?? ''))) as ActivationReport;
    } catch {
      throw new CoordinatorError(400, 'the activation report is not a compact JWS with a JSON payload');
    }
    let grant: GrantClaims;
    try {
      grant = await this.#signer.verify(String(reportPayload.grant), now);
    } catch (err) {
      return this.#activationRefused(nodeName, `invalid grant: ${(err as Error).message}`);
    }
    if (grant.sub !== nodeName) return this.#activationRefused(nodeName, `the grant is for node ${grant.sub}`);
    const pending = this.#pending.get(grant.jti);
    if (!pending) return this.#activationRefused(nodeName, 'the grant was already used or is unknown to this Coordinator');
    this.#pending.delete(grant.jti);
    try {
      const key = await jose.importJWK(pending.agentKey, 'ES256');
      await jose.compactVerify(jws, key, { algorithms: ['ES256'] });
    } catch {
      return this.#activationRefused(nodeName, 'the activation report is not signed by the key bound to the evidence');
    }
    const gpus = Array.isArray(reportPayload.gpus) ? reportPayload.gpus.map(String) : [];
    if (gpus.length !== grant.gpus.length || !grant.gpus.every((g) => gpus.includes(g))) {
      return this.#activationRefused(nodeName, `the report covers GPUs ${gpus.join(',')} but the grant ${grant.gpus.join(',')}`);
    }
    const active = this.#active();
    if (active.status!.hash !== grant.manifest) return this.#activationRefused(nodeName, 'the active Manifest changed since the grant was issued');
    const ready = reportPayload.gpusReady === true;
    await this.#deps.store.updateStatus(nodeName, (current) => (current ? activatedStatus(current, grant.gpus, ready, now) : undefined));
    const target = { apiVersion: API_VERSION, kind: NODE_ATTESTATION_KIND, name: nodeName };
    if (!ready) {
      await this.#deps.events.record(target, 'Warning', 'ActivationFailed', 'the agent read back GPUs not ready after activation');
      return { activated: false, reason: 'GPUs not ready after activation' };
    }
    this.#deps.metrics?.activations.inc({ result: 'activated' });
    this.#log.info({ node: nodeName, gpus: grant.gpus.length }, 'GPUs activated');
    await this.#deps.events.record(target, 'Normal', 'GPUsActivated', `${grant.gpus.length} GPUs activated for confidential work`);
    return { activated: true };
  }

  /**
   * The active Manifest changed: nodes attested against another Manifest are appraised again on
   * the evidence they last gave. Those that still meet it stay attested; the others lose it.
   */
  async reappraise(attestations: readonly NodeAttestation[]): Promise<void> {
    let manifest: Manifest;
    try {
      manifest = this.#active();
    } catch {
      return;
    }
    const hash = manifest.status!.hash!;
    const now = this.#now();
    for (const na of attestations) {
      const name = na.metadata.name!;
      const status = na.status;
      if (!status || status.manifestHash === hash) continue;
      if (status.conditions?.find((c) => c.type === 'Attested')?.status !== 'True') continue;
      const stored = this.#accepted.get(name);
      let reasons: readonly Reason[] | undefined;
      if (stored) {
        const { verdict } = await this.#appraise(stored.evidence, stored, manifest, now);
        reasons = verdict.reasons;
      }
      await this.#deps.store.updateStatus(name, (current) => (current && current.manifestHash !== hash ? manifestChangedStatus(current, hash, reasons, now) : undefined));
      const target = { apiVersion: API_VERSION, kind: NODE_ATTESTATION_KIND, name };
      if (reasons && reasons.length === 0) {
        this.#log.info({ node: name, manifest: hash }, 'node still meets the new Manifest');
      } else {
        this.#accepted.delete(name);
        this.#log.warn({ node: name, manifest: hash }, 'node no longer meets the active Manifest');
        await this.#deps.events.record(target, 'Warning', 'ManifestChanged', reasons ? `the node no longer meets Manifest ${hash}: ${summarise(reasons)}` : `Manifest ${hash} is now active: the node must attest again`);
      }
    }
  }

  async #appraise(evidence: NodeEvidence, expectation: NodeExpectation, manifest: Manifest, at: Date): Promise<{ verdict: Verdict<NodeClaims>; simulated: boolean }> {
    const base: Omit<NodeAppraisalContext, 'trust' | 'collateral'> = {
      referenceValues: manifest.spec.referenceValues,
      policyHashes: manifest.spec.policies.map((p) => p.hash),
      at,
      caches: this.#caches,
    };
    const { trust } = this.#deps;
    let collateral = trust.productionCollateral;
    if (trust.prepareProductionCollateral) {
      const prepared = await trust.prepareProductionCollateral(evidence, trust.productionCollateral);
      for (const note of prepared.notes) this.#log.warn({ note }, 'collateral');
      collateral = prepared.collateral;
    }
    const production = await appraiseNode(evidence, expectation, { ...base, trust: trust.production, collateral });
    if (production.verified || !manifest.spec.development?.acceptSimulatedEvidence || !trust.simulated) return { verdict: production, simulated: false };
    const simulated = await appraiseNode(evidence, expectation, { ...base, trust: trust.simulated, collateral: trust.simulatedCollateral });
    // A refusal under simulated roots explains less than one under the real roots, unless the
    // evidence was simulated: then its reasons are the useful ones.
    const chainChecks = /chain|signature|root|anchor|certificate/;
    const simulatedChainOk = !simulated.reasons.some((r) => chainChecks.test(r.check));
    return simulated.verified || simulatedChainOk ? { verdict: simulated, simulated: true } : { verdict: production, simulated: false };
  }

  async #activationRefused(node: string, message: string): Promise<ActivationResponse> {
    this.#deps.metrics?.activations.inc({ result: 'refused' });
    this.#log.warn({ node, reason: message }, 'activation refused');
    await this.#deps.events.record({ apiVersion: API_VERSION, kind: NODE_ATTESTATION_KIND, name: node }, 'Warning', 'ActivationRefused', message);
    return { activated: false, reason: message };
  }

  #sweepPending(now: Date): void {
    const seconds = now.getTime() / 1000;
    for (const [jti, p] of this.#pending) if (p.claims.exp < seconds) this.#pending.delete(jti);
  }
}

function gpuCapacity(node: k8s.V1Node): number {
  const value = node.status?.capacity?.['nvidia.com/gpu'];
  const n = value === undefined ? 0 : Number(value);
  return Number.isInteger(n) && n >= 0 ? n : 0;
}

type Decoded = { evidence: NodeEvidence; nonce: Uint8Array; agentKey: Record<string, unknown>; agentKeySpki: Uint8Array } | { error: string };

/** Checks the request's shape and decodes it; anything malformed is a refusal reason. */
function decodeRequest(request: EvidenceRequest): Decoded & { evidence?: NodeEvidence } {
  if (!request || typeof request !== 'object') return { error: 'the body is not an evidence request' };
  if (typeof request.nonce !== 'string' || !/^[0-9a-f]{64}$/.test(request.nonce)) return { error: 'nonce: expected 32 bytes of lower-case hex' };
  const key = request.agentKey;
  if (!key || typeof key !== 'object' || key.kty !== 'EC' || key.crv !== 'P-256' || typeof key.x !== 'string' || typeof key.y !== 'string' || 'd' in key) {
    return { error: 'agentKey: expected a public P-256 JWK' };
  }
  const cvm = request.cvm;
  if (!cvm || (cvm.platform !== 'snp' && cvm.platform !== 'tdx') || typeof cvm.report !== 'string') return { error: 'cvm: expected {platform: snp|tdx, report: base64}' };
  if (!Array.isArray(request.gpus) || request.gpus.length > 16) return { error: 'gpus: expected a list of at most 16 GPU reports' };
  for (const [i, g] of request.gpus.entries()) {
    if (!g || typeof g.uuid !== 'string' || g.uuid.length > 64 || typeof g.report !== 'string' || typeof g.certificateChain !== 'string') return { error: `gpus[${i}]: expected {uuid, report: base64, certificateChain: PEM}` };
  }
  let spki: Uint8Array;
  try {
    spki = jwkToSpki(key);
  } catch {
    return { error: 'agentKey: not a valid P-256 public key' };
  }
  return {
    nonce: new Uint8Array(Buffer.from(request.nonce, 'hex')),
    agentKey: key,
    agentKeySpki: spki,
    evidence: {
      cvm: { platform: cvm.platform, report: b64(cvm.report), ...(cvm.auxblob ? { auxblob: b64(cvm.auxblob) } : {}) },
      gpus: request.gpus.map((g) => ({ uuid: g.uuid, report: b64(g.report), certificateChain: g.certificateChain })),
    },
  };
}

function b64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** SPKI DER of a public JWK (what REPORT_DATA binds). */
export function jwkToSpki(jwk: Record<string, unknown>): Uint8Array {
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } as JsonWebKey, format: 'jwk' });
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}
