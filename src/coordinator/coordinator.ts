/**
 * The Coordinator: hands out nonces, appraises a node's CVM and GPU evidence against the active
 * Manifest, records the verdict in the node's NodeAttestation, issues activation grants, and
 * marks GPUs activated only on a valid grant plus the agent's signed read-back. It runs on the
 * leader only (nonces, pending grants and retained evidence live in its memory; agents retry on
 * another replica's 503). HTTP is elsewhere (server.ts): these methods take the authenticated
 * node and a body. The parts it puts together are listed in README.md.
 *
 * Only a node's own, appraised evidence changes its verdict: a request that is malformed, carries
 * a bad nonce, or comes too fast is answered with a CoordinatorError (4xx) before anything is
 * appraised or written. Decisions about one node are serialised.
 */
import type * as k8s from '@kubernetes/client-node';
import * as jose from 'jose';
import { selectActiveManifest } from '../api/active-manifest.ts';
import { type GpuResourceSlice, gpuNode } from '../api/gpu-node.ts';
import type { Manifest } from '../api/manifest.ts';
import type { NodeAttestation } from '../api/node-attestation.ts';
import type { Logger } from '../observability/log.ts';
import { readActivationReport } from '../protocol/activation-report.ts';
import { decodeEvidenceRequest, evidenceDigest, reportDataFor } from '../protocol/evidence-request.ts';
import type {
  ActivationResponse,
  AttestResponse,
  EvidenceRequest,
  NonceResponse,
  WatchResponse,
} from '../protocol/messages.ts';
import { NodeAppraiser } from './appraisal.ts';
import { type AttestationStore, AttestationWriter } from './attestation-writer.ts';
import { CoordinatorError } from './coordinator-error.ts';
import { Decisions } from './decision.ts';
import { Grants } from './grants.ts';
import { IdentityRegistry } from './identity-registry.ts';
import { type CoordinatorLimits, DEFAULT_COORDINATOR_LIMITS } from './limits.ts';
import { evidenceMaxAgeMs, reattestationMs } from './manifest-timing.ts';
import { defaultSpreadMs, ManifestWatch } from './manifest-watch.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { type EventSink, NodeEvents } from './node-events.ts';
import { NonceStore } from './nonces.ts';
import { KeyedRateLimiter } from './rate-limiter.ts';
import { Reappraisal } from './reappraisal.ts';
import type { RetainedEvidence } from './retained-evidence.ts';
import { KeyedSerial } from './serial.ts';
import type { CoordinatorTrust } from './trust.ts';

/** Where the active Manifest is chosen from (an Informer<Manifest> is one). */
export interface ManifestSource {
  list(): readonly Manifest[];
}

export interface CoordinatorDeps {
  manifests: ManifestSource;
  /** The Nodes (an informer): only an existing node is attested, and a deleted one holds nothing. */
  nodes: { get(name: string): k8s.V1Node | undefined };
  /** NVIDIA DRA ResourceSlices: with the node's capacity, how many GPUs a node must report (api/gpu-node.ts). */
  resourceSlices?: { list(): readonly GpuResourceSlice[] };
  /** The NodeAttestations as the informer sees them (whose identifiers a new leader finds held). */
  nodeAttestations: { list(): readonly NodeAttestation[] };
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

/** What the workload side needs of a node's accepted evidence. */
export interface AcceptedNodeEvidence {
  /** The agent key REPORT_DATA bound. */
  agentKey: jose.JWK;
  /** evidenceDigest() of the accepted evidence. */
  digest: string;
  /** The Manifest (status hash) it was accepted under. */
  manifestHash: string;
}

export class Coordinator {
  readonly #deps: CoordinatorDeps;
  readonly #nonces: NonceStore;
  readonly #grants: Grants;
  readonly #writer: AttestationWriter;
  readonly #appraiser: NodeAppraiser;
  readonly #decisions: Decisions;
  readonly #watch: ManifestWatch;
  readonly #reappraisal: Reappraisal;
  readonly #requestLimiter: KeyedRateLimiter;
  readonly #watchLimiter: KeyedRateLimiter;
  readonly #serial = new KeyedSerial();
  readonly #now: () => Date;
  readonly #log: Logger;

  private constructor(deps: CoordinatorDeps, grants: Grants) {
    this.#deps = deps;
    const limits = { ...DEFAULT_COORDINATOR_LIMITS, ...deps.limits };
    this.#nonces = new NonceStore(limits.noncesPerNode);
    this.#grants = grants;
    this.#now = deps.now ?? (() => new Date());
    this.#log = deps.log.child({ component: 'coordinator' });
    const events = new NodeEvents(deps.events, limits.events, () => deps.metrics?.eventsSuppressed.inc());
    this.#writer = new AttestationWriter(deps.store, events, this.#log);
    this.#appraiser = new NodeAppraiser(deps.trust, this.#log, (c) => deps.metrics?.appraisals.collateralUsed(c));
    const identities = new IdentityRegistry({
      nodeAttestations: deps.nodeAttestations,
      nodeExists: (name) => deps.nodes.get(name) !== undefined,
    });
    this.#decisions = new Decisions(identities, grants, this.#writer);
    this.#watch = new ManifestWatch({
      active: () => selectActiveManifest(deps.manifests.list())?.status?.hash,
      spreadMs: () => defaultSpreadMs(deps.nodeAttestations.list().length),
    });
    this.#reappraisal = new Reappraisal({
      nodes: deps.nodes,
      decisions: this.#decisions,
      appraiser: this.#appraiser,
      writer: this.#writer,
      watch: this.#watch,
      serial: this.#serial,
      log: this.#log,
      metrics: deps.metrics,
      now: this.#now,
    });
    this.#requestLimiter = new KeyedRateLimiter(limits.requests);
    this.#watchLimiter = new KeyedRateLimiter(limits.watches);
  }

  static async create(deps: CoordinatorDeps): Promise<Coordinator> {
    return new Coordinator(deps, await Grants.create(deps.grantTtlSeconds));
  }

  get jwks(): { keys: jose.JWK[] } {
    return this.#grants.jwks;
  }

  /** Leadership ended: waiting agents are told to ask again (503). */
  close(): void {
    this.#watch.close(new CoordinatorError(503, 'this replica stopped leading; retry'));
  }

  /**
   * The node's accepted evidence, while its acceptance stands (confidential-node workload
   * certificates: the agent key it bound verifies the agent's countersignatures). Undefined when
   * the node's last evidence was refused or withdrawn, or when none is kept.
   */
  acceptedEvidence(node: string): AcceptedNodeEvidence | undefined {
    const retained = this.#decisions.retained(node);
    const standing = this.#grants.standing(node);
    if (!retained || !standing || standing.digest !== retained.digest) return undefined;
    return { agentKey: retained.agentKey, digest: retained.digest, manifestHash: standing.manifestHash };
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

  issueNonce(node: string): NonceResponse {
    const manifest = this.#active();
    this.#gpuNode(node);
    const { nonce, expiresAt } = this.#nonces.issue(node, evidenceMaxAgeMs(manifest), this.#now());
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
    const decoded = decodeEvidenceRequest(request);
    if ('error' in decoded)
      throw this.#unappraised(new CoordinatorError(400, `[coordinator.request] ${decoded.error}`));
    const nonceCheck = this.#nonces.take(request.nonce, nodeName, this.#now());
    if (!nonceCheck.ok) throw this.#unappraised(new CoordinatorError(409, `[coordinator.nonce] ${nonceCheck.reason}`));

    return this.#serial.run(nodeName, async () => {
      const now = this.#now();
      // The devices this node's GPU UUIDs were verified as before bind the evidence (node-appraisal.ts).
      const known = await this.#writer.ensure(node);
      const expectation = {
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
      const { verdict, simulated } = await this.#appraiser.appraise(retained.evidence, expectation, manifest, now);
      const expiresAt = new Date(now.getTime() + reattestationMs(manifest));
      const decision = await this.#decisions.decide({
        node,
        retained,
        verdict,
        simulated,
        manifest,
        now,
        expiresAt,
        cause: 'attest',
        previous: known,
      });
      this.#deps.metrics?.attestations.inc({ result: decision.accepted ? 'accepted' : 'refused' });
      if (!decision.accepted) this.#deps.metrics?.appraisals.refused(decision.reasons, 'node');
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

  /**
   * Records the agent's signed read-back after it activated the GPUs with a grant, if the report
   * may spend that grant (grants.ts) and the NodeAttestation still records the acceptance under
   * the grant's Manifest.
   */
  async activate(nodeName: string, jws: string): Promise<ActivationResponse> {
    const report = readActivationReport(jws);
    if ('error' in report) throw new CoordinatorError(400, `[coordinator.request] ${report.error}`);
    return this.#serial.run(nodeName, async () => {
      const now = this.#now();
      const active = () => this.#active().status!.hash!;
      const redemption = await this.#grants.redeem(nodeName, jws, report, active, now);
      if (!redemption.redeemed) return this.#activationRefused(nodeName, redemption.reason, now);
      const { grant, standing } = redemption;
      if (
        !(await this.#writer.activation(
          nodeName,
          grant.gpus,
          grant.manifest,
          report.gpusReady,
          now,
          standing.expiresAt,
        ))
      )
        return this.#activationRefused(
          nodeName,
          "the NodeAttestation does not record an accepted verdict under the grant's Manifest",
          now,
        );
      if (!report.gpusReady) {
        await this.#writer.activationFailed(nodeName, now);
        return { activated: false, reason: 'GPUs not ready after activation' };
      }
      this.#deps.metrics?.activations.inc({ result: 'activated' });
      await this.#writer.activated(nodeName, grant.gpus.length, now);
      return { activated: true };
    });
  }

  /** The long poll: answers when a Manifest other than `known` is active (and the node's outcome under it is settled). */
  watch(node: string, known: string, timeoutMs: number, signal?: AbortSignal): Promise<WatchResponse> {
    this.#gpuNode(node);
    return this.#watch.wait(node, known, timeoutMs, signal);
  }

  /** The active Manifest changed: appraise the nodes' retained evidence against it (reappraisal.ts). */
  async reappraise(attestations: readonly NodeAttestation[]): Promise<void> {
    const manifest = selectActiveManifest(this.#deps.manifests.list());
    if (!manifest?.status?.hash) return;
    this.#prune();
    await this.#reappraisal.run(manifest, attestations);
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

  #unappraised(err: CoordinatorError): CoordinatorError {
    this.#deps.metrics?.attestations.inc({ result: 'unappraised' });
    return err;
  }

  async #activationRefused(node: string, message: string, now: Date): Promise<ActivationResponse> {
    this.#deps.metrics?.activations.inc({ result: 'refused' });
    await this.#writer.activationRefused(node, message, now);
    return { activated: false, reason: message };
  }

  /** Forgets what the leader keeps about nodes that no longer exist. */
  #prune(): void {
    for (const name of this.#decisions.nodes()) {
      if (this.#deps.nodes.get(name)) continue;
      this.#decisions.forget(name);
      this.#nonces.forget(name);
      this.#watch.forget(name);
    }
  }
}
