/**
 * The Coordinator: hands out nonces, appraises a node's CVM and GPU evidence against the active
 * Manifest, records the verdict in the node's NodeAttestation, issues activation grants, and
 * marks GPUs activated only on a valid grant plus the agent's signed read-back. It runs on the
 * leader only (nonces, pending grants and retained evidence live in its memory; agents retry on
 * another replica's 503). HTTP is elsewhere (server.ts): these methods take the authenticated
 * node and a body.
 *
 * Only a node's own, appraised evidence changes its verdict: a request that is malformed, carries
 * a bad nonce, or comes too fast is answered with a CoordinatorError (4xx) before anything is
 * appraised or written. Decisions about one node are serialised.
 */

import { createPublicKey, type JsonWebKey } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import * as jose from 'jose';
import { API_VERSION } from '../api/common.ts';
import { parseDuration } from '../api/duration.ts';
import { type GpuResourceSlice, gpuNode } from '../api/gpu-node.ts';
import { DEFAULT_EVIDENCE_MAX_AGE, DEFAULT_REATTESTATION_INTERVAL, type Manifest } from '../api/manifest.ts';
import { NODE_ATTESTATION_KIND, type NodeAttestation, type NodeAttestationStatus } from '../api/node-attestation.ts';
import {
  appraiseNode,
  type NodeAppraisalContext,
  type NodeClaims,
  type NodeCollateral,
  type NodeEvidence,
  type NodeExpectation,
  type NodeTrust,
} from '../attestation/node-appraisal.ts';
import { VerificationCache } from '../attestation/nvidia/index.ts';
import { SnpEndorsementCache } from '../attestation/snp/index.ts';
import { TdxVerifierCache } from '../attestation/tdx/index.ts';
import { isGenuine, type Reason, type Verdict } from '../attestation/verdict.ts';
import { selectActiveManifest } from '../controllers/manifest/active.ts';
import type { EventType } from '../controllers/runtime/events.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { evidenceIdentity } from './evidence-identity.ts';
import { GrantSigner } from './grants.ts';
import { IdentityRegistry } from './identity-registry.ts';
import { defaultSpreadMs, ManifestWatch } from './manifest-watch.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { AttestationStore } from './node-attestation-store.ts';
import { type EventSink, NodeEvents } from './node-events.ts';
import { DEFAULT_NONCES_PER_NODE, NonceStore } from './nonces.ts';
import {
  type ActivationReport,
  type ActivationResponse,
  type AttestResponse,
  type EvidenceRequest,
  evidenceDigest,
  type GrantClaims,
  type NonceResponse,
  reportDataFor,
  type WatchResponse,
} from './protocol.ts';
import { KeyedRateLimiter, type RateLimit } from './rate-limiter.ts';
import { type RetainedEvidence, retainable } from './retained-evidence.ts';
import { activatedStatus, manifestChangedStatus, summarise, verdictStatus } from './status.ts';

/**
 * The vendor collateral for one node's evidence at the appraisal time (src/collateral's
 * collateralSource): awaited before appraisal, its notes logged.
 */
export type CollateralSource = (
  evidence: NodeEvidence,
  at: Date,
) => Promise<{ collateral: NodeCollateral; notes: readonly string[] }>;

export interface CoordinatorTrust {
  /** Pinned vendor roots (the verifiers' defaults when empty). */
  production: NodeTrust;
  /** Absent: no collateral (evidence that needs some is refused). */
  productionCollateral?: CollateralSource;
  /** Generated roots of simulated evidence: used only while the active Manifest accepts simulated evidence. */
  simulated?: NodeTrust;
  simulatedCollateral?: CollateralSource;
}

/** Objects by name, as an informer's cache holds them. */
export interface ObjectCache<T> {
  get(name: string): T | undefined;
  list(): readonly T[];
}

/** What one node's agent may ask of the Coordinator, and how many Events a node may cause. */
export interface CoordinatorLimits {
  /** Outstanding nonces per node; more drop the node's own oldest. */
  noncesPerNode: number;
  /** Nonce, evidence and activation requests per node. */
  requests: RateLimit;
  /** Watch (long poll) requests per node. */
  watches: RateLimit;
  /** Events per node. */
  events: RateLimit;
}

export const DEFAULT_COORDINATOR_LIMITS: CoordinatorLimits = {
  noncesPerNode: DEFAULT_NONCES_PER_NODE,
  requests: { burst: 20, intervalMs: 3000 },
  watches: { burst: 5, intervalMs: 5000 },
  events: { burst: 10, intervalMs: 30_000 },
};

export interface CoordinatorDeps {
  manifests: ObjectCache<Manifest>;
  nodes: ObjectCache<k8s.V1Node>;
  /** NVIDIA DRA ResourceSlices: with the node's capacity, how many GPUs a node must report (api/gpu-node.ts). */
  resourceSlices?: { list(): readonly GpuResourceSlice[] };
  nodeAttestations: ObjectCache<NodeAttestation>;
  store: AttestationStore;
  trust: CoordinatorTrust;
  events: EventSink;
  log: Logger;
  metrics?: CoordinatorMetrics;
  now?: () => Date;
  /** Lifetime of an activation grant. Default 120 s. */
  grantTtlSeconds?: number;
  limits?: Partial<CoordinatorLimits>;
}

/** A request the Coordinator cannot serve: HTTP status and a message for the agent. */
export class CoordinatorError extends Error {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'CoordinatorError';
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

interface PendingGrant {
  claims: GrantClaims;
  agentKey: jose.JWK;
}

/** The node's standing verdict, as far as activation is concerned: accepted, for this evidence, under this Manifest. */
interface CurrentVerdict {
  digest: string;
  manifestHash: string;
}

type Decision =
  | { accepted: true; grant?: { token: string; expiresAt: Date } }
  | { accepted: false; reasons: readonly Reason[] };

export class Coordinator {
  readonly #deps: CoordinatorDeps;
  readonly #limits: CoordinatorLimits;
  readonly #nonces: NonceStore;
  readonly #signer: GrantSigner;
  readonly #pending = new Map<string, PendingGrant>();
  /** The last evidence per node worth appraising again when the active Manifest changes. */
  readonly #retained = new Map<string, RetainedEvidence>();
  readonly #current = new Map<string, CurrentVerdict>();
  readonly #identities: IdentityRegistry;
  readonly #watch: ManifestWatch;
  readonly #requestLimiter: KeyedRateLimiter;
  readonly #watchLimiter: KeyedRateLimiter;
  readonly #events: NodeEvents;
  /** Tail of each node's chain of decisions (one at a time per node). */
  readonly #serial = new Map<string, Promise<unknown>>();
  readonly #now: () => Date;
  readonly #log: Logger;
  // Chains, collateral and RIM signatures checked once (keyed by their bytes and the roots);
  // validity at the time, and everything about the evidence itself, are checked every time.
  readonly #caches = { snp: new SnpEndorsementCache(), tdx: new TdxVerifierCache(), gpu: new VerificationCache() };

  private constructor(deps: CoordinatorDeps, signer: GrantSigner) {
    this.#deps = deps;
    this.#limits = { ...DEFAULT_COORDINATOR_LIMITS, ...deps.limits };
    this.#nonces = new NonceStore(this.#limits.noncesPerNode);
    this.#signer = signer;
    this.#now = deps.now ?? (() => new Date());
    this.#log = deps.log.child({ component: 'coordinator' });
    this.#identities = new IdentityRegistry({
      nodeAttestations: deps.nodeAttestations,
      nodeExists: (name) => deps.nodes.get(name) !== undefined,
    });
    this.#watch = new ManifestWatch({
      active: () => selectActiveManifest(deps.manifests.list())?.status?.hash,
      spreadMs: () => defaultSpreadMs(deps.nodeAttestations.list().length),
    });
    this.#requestLimiter = new KeyedRateLimiter(this.#limits.requests);
    this.#watchLimiter = new KeyedRateLimiter(this.#limits.watches);
    this.#events = new NodeEvents(deps.events, this.#limits.events, () => deps.metrics?.eventsSuppressed.inc());
  }

  static async create(deps: CoordinatorDeps): Promise<Coordinator> {
    return new Coordinator(deps, await GrantSigner.create());
  }

  get jwks(): { keys: jose.JWK[] } {
    return this.#signer.jwks;
  }

  /** Leadership ended: waiting agents are told to ask again (503). */
  close(): void {
    this.#watch.close(new CoordinatorError(503, 'this replica stopped leading; retry'));
  }

  /**
   * Spends one of the node's request tokens (kind "request": nonce, evidence, activation; "watch":
   * the long poll), or refuses with 429. Called after authentication, before the body is read.
   */
  admit(node: string, kind: 'request' | 'watch'): void {
    const decision = (kind === 'watch' ? this.#watchLimiter : this.#requestLimiter).take(node, this.#now());
    if (decision.allowed) return;
    this.#deps.metrics?.rateLimited.inc({ kind });
    throw new CoordinatorError(
      429,
      `too many requests from node ${node}; retry later`,
      Math.ceil(decision.retryAfterMs / 1000),
    );
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

  /**
   * Appraises a node's evidence. The request's shape and nonce are checked first: a malformed
   * request (400) or a nonce that is unknown, used, expired or another node's (409) is refused
   * before any appraisal, and leaves the node's verdict as it is.
   */
  async attest(nodeName: string, request: EvidenceRequest): Promise<AttestResponse> {
    const started = performance.now();
    const manifest = this.#active();
    const node = this.#gpuNode(nodeName);
    const decoded = decodeRequest(request);
    if ('error' in decoded)
      throw this.#unappraised(new CoordinatorError(400, `[coordinator.request] ${decoded.error}`));
    const nonceCheck = this.#nonces.take(request.nonce, nodeName, this.#now());
    if (!nonceCheck.ok) throw this.#unappraised(new CoordinatorError(409, `[coordinator.nonce] ${nonceCheck.reason}`));

    return this.#serially(nodeName, async () => {
      const now = this.#now();
      // The devices this node's GPU UUIDs were verified as before bind the evidence (node-appraisal.ts).
      const known = await this.#deps.store.ensure(node);
      const expectation: NodeExpectation = {
        reportData: reportDataFor(decoded.nonce, decoded.agentKeySpki),
        nonce: decoded.nonce,
        gpuCount: gpuNode(node, this.#deps.resourceSlices?.list() ?? []).gpus,
        gpuBindings: known.status?.gpuBindings ?? [],
      };
      const retained: RetainedEvidence = {
        evidence: decoded.evidence,
        expectation,
        agentKey: decoded.agentKey as jose.JWK,
        agentKeyThumbprint: await jose.calculateJwkThumbprint(decoded.agentKey as jose.JWK),
        digest: evidenceDigest(request),
        collectedAt: nonceCheck.issuedAt,
      };
      const { verdict, simulated } = await this.#appraise(retained.evidence, expectation, manifest, now);
      const expiresAt = new Date(now.getTime() + reattestationMs(manifest));
      const decision = await this.#decide(
        node,
        retained,
        verdict,
        simulated,
        manifest,
        now,
        expiresAt,
        'attest',
        known,
      );
      this.#deps.metrics?.attestations.inc({ result: decision.accepted ? 'accepted' : 'refused' });
      this.#deps.metrics?.appraisalSeconds.observe((performance.now() - started) / 1000);
      const manifestHash = manifest.status!.hash!;
      if (!decision.accepted)
        return { accepted: false, reasons: decision.reasons.map((r) => `[${r.check}] ${r.message}`), manifestHash };
      return {
        accepted: true,
        grant: decision.grant!.token,
        expiresAt: expiresAt.toISOString(),
        reattestAfterSeconds: Math.max(15, Math.floor(reattestationMs(manifest) / 2000)),
        manifestHash,
      };
    });
  }

  #unappraised(err: CoordinatorError): CoordinatorError {
    this.#deps.metrics?.attestations.inc({ result: 'unappraised' });
    return err;
  }

  /**
   * The verdict on appraised evidence, with everything that follows from it: the identifiers
   * the node holds, its retained evidence, its pending grants, status, an Event and a grant.
   * Between the identity check and the hold nothing awaits, so two nodes cannot both take one GPU.
   */
  async #decide(
    node: k8s.V1Node,
    retained: RetainedEvidence,
    verdict: Verdict<NodeClaims>,
    simulated: boolean,
    manifest: Manifest,
    now: Date,
    expiresAt: Date,
    cause: 'attest' | 'reappraisal',
    previous?: NodeAttestation,
  ): Promise<Decision> {
    const name = node.metadata!.name!;
    const manifestHash = manifest.status!.hash!;
    const authentic = retainable(verdict.reasons);
    const identity = evidenceIdentity(retained.evidence, verdict.claims);
    const reasons = [
      ...verdict.reasons,
      ...(authentic ? this.#identities.conflicts(name, identity.identifiers, now) : []),
    ];
    const accepted = reasons.length === 0;
    if (accepted) this.#identities.hold(name, identity.identifiers, expiresAt);
    else this.#identities.release(name);
    this.#dropGrants(name);
    if (authentic) this.#retained.set(name, retained);
    else this.#retained.delete(name);
    if (accepted) this.#current.set(name, { digest: retained.digest, manifestHash });
    else this.#current.delete(name);

    // A node still activated under the previous Manifest keeps its activation when its evidence
    // meets the new one (its GPUs are still ready); any other acceptance needs a redeemed grant.
    const keepsActivation = cause === 'reappraisal' && accepted && isActivated(previous?.status);
    const facts = { accepted, claims: verdict.claims, reasons, manifestHash, simulated, now, expiresAt, identity };
    try {
      const known = previous ?? (await this.#deps.store.ensure(node));
      await this.#deps.store.updateStatus(
        name,
        (current) => {
          if (keepsActivation && current) return manifestChangedStatus(current, manifestHash, [], now);
          if (cause === 'reappraisal' && !accepted && current)
            return manifestChangedStatus(verdictStatus(current, facts), manifestHash, reasons, now);
          return verdictStatus(current, facts);
        },
        known,
      );
    } catch (err) {
      // Nothing was recorded: hold nothing on the strength of it.
      this.#identities.release(name);
      this.#current.delete(name);
      throw err;
    }

    const wasAttested = previous?.status?.conditions?.find((c) => c.type === 'Attested')?.status === 'True';
    if (!accepted) {
      const message =
        cause === 'attest'
          ? `evidence refused: ${summarise(reasons)}`
          : `the node no longer meets Manifest ${manifestHash}: ${summarise(reasons)}`;
      this.#log.warn(
        { node: name, reasons: reasons.map((r) => r.check), manifest: manifestHash, cause },
        cause === 'attest' ? 'node evidence refused' : 'node evidence refused on re-appraisal',
      );
      if (cause === 'attest' || wasAttested)
        await this.#event(name, 'Warning', cause === 'attest' ? 'AttestationRefused' : 'ManifestChanged', message, now);
      return { accepted: false, reasons };
    }
    if (keepsActivation) {
      this.#log.info({ node: name, manifest: manifestHash }, 'node still meets the new Manifest');
      return { accepted: true };
    }
    const gpus = retained.evidence.gpus.map((g) => g.uuid);
    const grant = await this.#issueGrant(name, gpus, retained, manifestHash, now);
    this.#log.info(
      { node: name, gpus: gpus.length, manifest: manifestHash, simulated, cause },
      'node evidence accepted; grant issued',
    );
    const how = cause === 'attest' ? '' : ' on re-appraisal of its last evidence';
    await this.#event(
      name,
      simulated ? 'Warning' : 'Normal',
      'Attested',
      `CVM and ${gpus.length} GPUs verified against Manifest ${manifestHash}${how}${simulated ? ' with SIMULATED evidence (development only)' : ''}; activation grant issued`,
      now,
    );
    return { accepted: true, grant };
  }

  async #issueGrant(
    node: string,
    gpus: string[],
    retained: RetainedEvidence,
    manifestHash: string,
    now: Date,
  ): Promise<{ token: string; expiresAt: Date }> {
    const { token, claims } = await this.#signer.sign({
      node,
      gpus,
      evidence: retained.digest,
      manifest: manifestHash,
      agentKeyThumbprint: retained.agentKeyThumbprint,
      ttlSeconds: this.#deps.grantTtlSeconds ?? 120,
      now,
    });
    this.#pending.set(claims.jti, { claims, agentKey: retained.agentKey });
    this.#sweepPending(now);
    return { token, expiresAt: new Date(claims.exp * 1000) };
  }

  /**
   * Records the agent's signed read-back after it activated the GPUs with a grant. The report's
   * signature (by the key the evidence binds) is checked before the grant is spent, so a forged
   * report cannot burn the real one; and the node's current verdict must still be the one the
   * grant was issued for (same evidence, same Manifest): a grant issued before a later refusal
   * or a newer submission does not activate.
   */
  async activate(nodeName: string, jws: string): Promise<ActivationResponse> {
    let reportPayload: ActivationReport;
    try {
      reportPayload = JSON.parse(
        new TextDecoder().decode(jose.base64url.decode(jws.split('.')[1] ?? '')),
      ) as ActivationReport;
    } catch {
      throw new CoordinatorError(
        400,
        '[coordinator.request] the activation report is not a compact JWS with a JSON payload',
      );
    }
    if (!reportPayload || typeof reportPayload !== 'object')
      throw new CoordinatorError(400, '[coordinator.request] the activation report is not a JSON object');
    return this.#serially(nodeName, async () => {
      const now = this.#now();
      let grant: GrantClaims;
      try {
        grant = await this.#signer.verify(String(reportPayload.grant), now);
      } catch (err) {
        return this.#activationRefused(nodeName, `invalid grant: ${errorMessage(err)}`, now);
      }
      if (grant.sub !== nodeName) return this.#activationRefused(nodeName, `the grant is for node ${grant.sub}`, now);
      const pending = this.#pending.get(grant.jti);
      if (!pending)
        return this.#activationRefused(
          nodeName,
          'the grant was already used, was withdrawn by a later verdict, or is unknown to this Coordinator',
          now,
        );
      try {
        const key = await jose.importJWK(pending.agentKey, 'ES256');
        await jose.compactVerify(jws, key, { algorithms: ['ES256'] });
      } catch {
        return this.#activationRefused(
          nodeName,
          'the activation report is not signed by the key bound to the evidence',
          now,
        );
      }
      this.#pending.delete(grant.jti);
      const gpus = Array.isArray(reportPayload.gpus) ? reportPayload.gpus.map(String) : [];
      if (gpus.length !== grant.gpus.length || !grant.gpus.every((g) => gpus.includes(g))) {
        return this.#activationRefused(
          nodeName,
          `the report covers GPUs ${gpus.join(',')} but the grant ${grant.gpus.join(',')}`,
          now,
        );
      }
      const active = this.#active();
      if (active.status!.hash !== grant.manifest)
        return this.#activationRefused(nodeName, 'the active Manifest changed since the grant was issued', now);
      const current = this.#current.get(nodeName);
      if (current?.digest !== grant.evidence || current.manifestHash !== grant.manifest) {
        return this.#activationRefused(
          nodeName,
          "the node's current verdict is not the acceptance of the evidence this grant was issued for",
          now,
        );
      }
      const ready = reportPayload.gpusReady === true;
      let recorded = false;
      await this.#deps.store.updateStatus(nodeName, (status) => {
        recorded = isAttestedUnder(status, grant.manifest);
        return recorded ? activatedStatus(status!, grant.gpus, ready, now) : undefined;
      });
      if (!recorded)
        return this.#activationRefused(
          nodeName,
          "the NodeAttestation does not record an accepted verdict under the grant's Manifest",
          now,
        );
      if (!ready) {
        await this.#event(
          nodeName,
          'Warning',
          'ActivationFailed',
          'the agent read back GPUs not ready after activation',
          now,
        );
        return { activated: false, reason: 'GPUs not ready after activation' };
      }
      this.#deps.metrics?.activations.inc({ result: 'activated' });
      this.#log.info({ node: nodeName, gpus: grant.gpus.length }, 'GPUs activated');
      await this.#event(
        nodeName,
        'Normal',
        'GPUsActivated',
        `${grant.gpus.length} GPUs activated for confidential work`,
        now,
      );
      return { activated: true };
    });
  }

  /** The long poll: answers when a Manifest other than `known` is active (and the node's outcome under it is settled). */
  watch(node: string, known: string, timeoutMs: number, signal?: AbortSignal): Promise<WatchResponse> {
    this.#gpuNode(node);
    return this.#watch.wait(node, known, timeoutMs, signal);
  }

  /**
   * The active Manifest changed: every node whose NodeAttestation was made against another one
   * is appraised again on its retained evidence (accepted or refused) while that evidence is
   * younger than the Manifest's evidenceMaxAge. Nodes that meet it stay, or become, attested
   * (those not activated get a grant through the watch); the others lose their attestation.
   * Attested nodes without such evidence lose it too and must attest again. Every waiting agent
   * is then told to attest again, spread over a window.
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
    this.#prune();
    const maxAgeMs = parseDuration(manifest.spec.attestation?.evidenceMaxAge ?? DEFAULT_EVIDENCE_MAX_AGE)!;
    const targets: string[] = [];
    for (const na of attestations) {
      const name = na.metadata.name!;
      if (!na.status || na.status.manifestHash === hash) continue;
      const retained = this.#retained.get(name);
      const young =
        retained !== undefined &&
        now.getTime() - retained.collectedAt.getTime() < maxAgeMs &&
        retained.collectedAt.getTime() + reattestationMs(manifest) > now.getTime();
      if (!young) this.#retained.delete(name);
      const wasAttested = na.status.conditions?.find((c) => c.type === 'Attested')?.status === 'True';
      if (young || wasAttested) targets.push(name);
    }
    this.#watch.begin(hash, targets);
    for (const name of targets) {
      try {
        const notice = await this.#serially(name, () => this.#reappraiseNode(name, manifest));
        this.#watch.notify(name, notice ?? { manifestHash: hash });
      } catch (err) {
        this.#watch.notify(name, { manifestHash: hash });
        this.#log.error({ node: name, err: errorMessage(err) }, 're-appraisal failed');
      }
    }
    this.#watch.end(hash);
  }

  async #reappraiseNode(
    name: string,
    manifest: Manifest,
  ): Promise<{ manifestHash: string; attested?: boolean; grant?: string } | undefined> {
    const hash = manifest.status!.hash!;
    const node = this.#deps.nodes.get(name);
    const previous = await this.#deps.store.get(name);
    // Settled meanwhile (the agent attested under the new Manifest), or gone.
    if (!node || !previous?.status || previous.status.manifestHash === hash) return undefined;
    const now = this.#now();
    const retained = this.#retained.get(name);
    if (!retained) {
      this.#identities.release(name);
      this.#current.delete(name);
      this.#dropGrants(name);
      await this.#deps.store.updateStatus(
        name,
        (current) =>
          current && current.manifestHash !== hash ? manifestChangedStatus(current, hash, undefined, now) : undefined,
        previous,
      );
      this.#log.warn({ node: name, manifest: hash }, 'node must attest again: no recent evidence to appraise');
      await this.#event(
        name,
        'Warning',
        'ManifestChanged',
        `Manifest ${hash} is now active: the node must attest again`,
        now,
      );
      this.#deps.metrics?.reappraisals.inc({ result: 'no-evidence' });
      return { manifestHash: hash, attested: false };
    }
    const { verdict, simulated } = await this.#appraise(retained.evidence, retained.expectation, manifest, now);
    const expiresAt = new Date(retained.collectedAt.getTime() + reattestationMs(manifest));
    const decision = await this.#decide(
      node,
      retained,
      verdict,
      simulated,
      manifest,
      now,
      expiresAt,
      'reappraisal',
      previous,
    );
    this.#deps.metrics?.reappraisals.inc({ result: decision.accepted ? 'accepted' : 'refused' });
    return {
      manifestHash: hash,
      attested: decision.accepted,
      ...(decision.accepted && decision.grant ? { grant: decision.grant.token } : {}),
    };
  }

  async #appraise(
    evidence: NodeEvidence,
    expectation: NodeExpectation,
    manifest: Manifest,
    at: Date,
  ): Promise<{ verdict: Verdict<NodeClaims>; simulated: boolean }> {
    const base: Omit<NodeAppraisalContext, 'trust' | 'collateral'> = {
      referenceValues: manifest.spec.referenceValues,
      policyHashes: manifest.spec.policies.map((p) => p.hash),
      at,
      caches: this.#caches,
    };
    const { trust } = this.#deps;
    const collateral = await this.#collateral(trust.productionCollateral, evidence, at);
    const production = await appraiseNode(evidence, expectation, { ...base, trust: trust.production, collateral });
    if (production.verified || !manifest.spec.development?.acceptSimulatedEvidence || !trust.simulated)
      return { verdict: production, simulated: false };
    const simulated = await appraiseNode(evidence, expectation, {
      ...base,
      trust: trust.simulated,
      collateral: await this.#collateral(trust.simulatedCollateral, evidence, at),
    });
    // A refusal under simulated roots explains less than one under the real roots, unless the
    // evidence was simulated, i.e. genuine under the simulated roots: then its reasons are the useful ones.
    return isGenuine(simulated.reasons)
      ? { verdict: simulated, simulated: true }
      : { verdict: production, simulated: false };
  }

  async #collateral(source: CollateralSource | undefined, evidence: NodeEvidence, at: Date): Promise<NodeCollateral> {
    if (!source) return {};
    const prepared = await source(evidence, at);
    for (const note of prepared.notes) this.#log.warn({ note }, 'collateral');
    return prepared.collateral;
  }

  async #activationRefused(node: string, message: string, now: Date): Promise<ActivationResponse> {
    this.#deps.metrics?.activations.inc({ result: 'refused' });
    this.#log.warn({ node, reason: message }, 'activation refused');
    await this.#event(node, 'Warning', 'ActivationRefused', message, now);
    return { activated: false, reason: message };
  }

  async #event(node: string, type: EventType, reason: string, message: string, now: Date): Promise<void> {
    await this.#events.record(
      node,
      { apiVersion: API_VERSION, kind: NODE_ATTESTATION_KIND, name: node },
      type,
      reason,
      message,
      now,
    );
  }

  /** Runs decisions about one node one after another (an attestation, an activation, a re-appraisal). */
  async #serially<T>(node: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#serial.get(node) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.catch(() => undefined);
    this.#serial.set(node, tail);
    try {
      return await run;
    } finally {
      if (this.#serial.get(node) === tail) this.#serial.delete(node);
    }
  }

  /** A new verdict withdraws the node's earlier grants. */
  #dropGrants(node: string): void {
    for (const [jti, p] of this.#pending) if (p.claims.sub === node) this.#pending.delete(jti);
  }

  #sweepPending(now: Date): void {
    const seconds = now.getTime() / 1000;
    for (const [jti, p] of this.#pending) if (p.claims.exp < seconds) this.#pending.delete(jti);
  }

  /** Forgets what the leader keeps about nodes that no longer exist. */
  #prune(): void {
    for (const name of new Set([...this.#retained.keys(), ...this.#current.keys()])) {
      if (this.#deps.nodes.get(name)) continue;
      this.#retained.delete(name);
      this.#current.delete(name);
      this.#nonces.forget(name);
      this.#dropGrants(name);
      this.#watch.forget(name);
    }
  }
}

function reattestationMs(manifest: Manifest): number {
  return parseDuration(manifest.spec.attestation?.reattestationInterval ?? DEFAULT_REATTESTATION_INTERVAL)!;
}

function isActivated(status: NodeAttestationStatus | undefined): boolean {
  const conditions = status?.conditions ?? [];
  return (
    conditions.find((c) => c.type === 'Attested')?.status === 'True' &&
    conditions.find((c) => c.type === 'GPUsActivated')?.status === 'True'
  );
}

function isAttestedUnder(status: NodeAttestationStatus | undefined, manifestHash: string): boolean {
  return (
    status?.manifestHash === manifestHash && status.conditions?.find((c) => c.type === 'Attested')?.status === 'True'
  );
}

type Decoded =
  | { evidence: NodeEvidence; nonce: Uint8Array; agentKey: Record<string, unknown>; agentKeySpki: Uint8Array }
  | { error: string };

/** Checks the request's shape and decodes it. */
function decodeRequest(request: EvidenceRequest): Decoded {
  if (!request || typeof request !== 'object') return { error: 'the body is not an evidence request' };
  if (typeof request.nonce !== 'string' || !/^[0-9a-f]{64}$/.test(request.nonce))
    return { error: 'nonce: expected 32 bytes of lower-case hex' };
  const key = request.agentKey;
  if (
    !key ||
    typeof key !== 'object' ||
    key.kty !== 'EC' ||
    key.crv !== 'P-256' ||
    typeof key.x !== 'string' ||
    typeof key.y !== 'string' ||
    'd' in key
  ) {
    return { error: 'agentKey: expected a public P-256 JWK' };
  }
  const cvm = request.cvm;
  if (
    !cvm ||
    (cvm.platform !== 'snp' && cvm.platform !== 'tdx') ||
    typeof cvm.report !== 'string' ||
    (cvm.auxblob !== undefined && typeof cvm.auxblob !== 'string')
  ) {
    return { error: 'cvm: expected {platform: snp|tdx, report: base64, auxblob?: base64}' };
  }
  if (!Array.isArray(request.gpus) || request.gpus.length > 16)
    return { error: 'gpus: expected a list of at most 16 GPU reports' };
  for (const [i, g] of request.gpus.entries()) {
    if (
      !g ||
      typeof g.uuid !== 'string' ||
      g.uuid.length > 64 ||
      typeof g.report !== 'string' ||
      typeof g.certificateChain !== 'string'
    )
      return { error: `gpus[${i}]: expected {uuid, report: base64, certificateChain: PEM}` };
  }
  let spki: Uint8Array;
  try {
    spki = jwkToSpki(key);
  } catch {
    return { error: 'agentKey: not a valid P-256 public key' };
  }
  return {
    nonce: new Uint8Array(Buffer.from(request.nonce, 'hex')),
    agentKey: { kty: key.kty, crv: key.crv, x: key.x, y: key.y },
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
