/**
 * The Coordinator's workload side: `attestor init` in a pod-CVM AI worker pod asks for a nonce,
 * submits its pod VM's evidence (REPORT_DATA binding the nonce and its key) and one report per GPU
 * in the pod, receives a grant, activates the GPUs inside the pod and reports the signed
 * read-back; only then does the mesh CA of the Manifest the evidence met issue the pod a workload
 * certificate for the key its evidence bound (the private key never leaves the pod).
 *
 * The checks (docs/design.md, "Workload certificates"): the pod the token names exists with that
 * UID and is a pod-CVM AIWorker's, or a pod of no AIWorker whose policy is a secret-service or
 * secret-store entry (workload-decision.ts); the CVM evidence meets the Manifest's
 * `pod` entries, never `node` or `coordinator` ones; HOST_DATA / MRCONFIGID is the hash of the
 * pod's policy annotation, which must be a workload policy of the Manifest; the GPUs pass the GPU
 * appraisal; nonces, rate limits, body limits and the one-holder rule apply as for nodes. Leader
 * only, like the node side: nonces, grants and holds live in its memory. HTTP is elsewhere
 * (workload-routes.ts).
 */
import { webcrypto } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type * as k8s from '@kubernetes/client-node';
import * as jose from 'jose';
import { selectActiveManifest } from '../api/active-manifest.ts';
import type { AIWorker } from '../api/aiworker.ts';
import { ownerName } from '../api/aiworker-labels.ts';
import type { Manifest } from '../api/manifest.ts';
import { manifestHash } from '../api/manifest-hash.ts';
import type { NodeAttestation } from '../api/node-attestation.ts';
import { onlyComparisons, type Reason, reason } from '../attestation/verdict.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import type { CertificateAuthority } from '../pki/certificate-authority.ts';
import { DEFAULT_CLUSTER_DOMAIN, workloadLeafRequest } from '../pki/workload-certificate.ts';
import { readActivationReport } from '../protocol/activation-report.ts';
import {
  type CountersignedRequest,
  countersignatureProblems,
  proofProblem,
  readCountersignature,
  spkiSha256,
} from '../protocol/countersignature.ts';
import { decodeEvidenceRequest, evidenceDigest, reportDataFor } from '../protocol/evidence-request.ts';
import type { EvidenceRequest, NonceResponse } from '../protocol/messages.ts';
import type { HistoryEntry } from '../protocol/transition-chain.ts';
import {
  type WorkloadAttestResponse,
  type WorkloadCertificateResponse,
  type WorkloadMeshCaResponse,
  workloadSubject,
} from '../protocol/workload.ts';
import { NodeAppraiser } from './appraisal.ts';
import type { AcceptedNodeEvidence, ManifestSource } from './coordinator.ts';
import { CoordinatorError } from './coordinator-error.ts';
import { evidenceIdentity } from './evidence-identity.ts';
import { Grants } from './grants.ts';
import { IdentityRegistry } from './identity-registry.ts';
import { type CoordinatorLimits, DEFAULT_COORDINATOR_LIMITS } from './limits.ts';
import { evidenceMaxAgeMs, reattestationMs } from './manifest-timing.ts';
import { NonceStore } from './nonces.ts';
import { KeyedRateLimiter } from './rate-limiter.ts';
import { KeyedSerial } from './serial.ts';
import type { CoordinatorTrust } from './trust.ts';
import type { PodCaller } from './workload-auth.ts';
import { judgeWorkload, type WorkloadTarget } from './workload-decision.ts';
import { WorkloadHolds } from './workload-holds.ts';
import type { WorkloadMetrics } from './workload-metrics.ts';
import { judgeNode, type NodeJudgement } from './workload-node.ts';

/** The pods as the workload side needs them: read from the API server, and told what was issued. */

/** A failed certificate record is written again after 0.5 s, doubling, at most this many times. */
const RECORD_RETRIES = 6;
const RECORD_RETRY_MS = 500;

export interface WorkloadPods {
  /** The pod as the API server has it now (never a cache: its policy annotation decides); undefined when gone. */
  read(namespace: string, name: string): Promise<k8s.V1Pod | undefined>;
  /** Records the certificate issued to the pod (annotation WORKLOAD_CERTIFICATE_ANNOTATION), for AIWorker status. */
  recordCertificate(namespace: string, name: string, uid: string, pem: string): Promise<void>;
}

/** The mesh CA and the Manifests it belongs to (a CoordinatorIdentity is one). */
export interface MeshSource {
  readonly meshCa: CertificateAuthority | undefined;
  readonly history: readonly HistoryEntry[];
}

/** Where Events about pods go (the operator's EventRecorder is one). */
export interface PodEventSink {
  record(
    target: { apiVersion: string; kind: string; name: string; namespace: string; uid?: string },
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void>;
}

export interface WorkloadCoordinatorDeps {
  manifests: ManifestSource;
  aiWorkers: { get(name: string, namespace?: string): AIWorker | undefined };
  pods: WorkloadPods;
  /**
   * Whether a pod with this UID exists (an informer: cheap, for nonces and holds). It may watch
   * only the operator's own pods: for a pod it does not know, the nonce asks `pods.read`, and the
   * hold of a pod of no AIWorker lasts until it expires or the pod attests again.
   */
  podExists: (namespace: string, name: string, uid: string) => boolean;
  /** Nodes and their NodeAttestations: identifiers nodes hold are refused to pods. */
  nodes: { get(name: string): k8s.V1Node | undefined };
  nodeAttestations: { list(): readonly NodeAttestation[] };
  /** A node's accepted evidence while its acceptance stands (the node Coordinator's); absent: no confidential-node certificates. */
  nodeEvidence?: (node: string) => AcceptedNodeEvidence | undefined;
  identity: () => MeshSource | undefined;
  trust: CoordinatorTrust;
  events: PodEventSink;
  log: Logger;
  metrics?: WorkloadMetrics;
  now?: () => Date;
  grantTtlSeconds?: number;
  limits?: Partial<CoordinatorLimits>;
  /** For the Service names in the certificates. Default cluster.local. */
  clusterDomain?: string;
}

/** An accepted submission, until its grant is redeemed. */
interface Accepted {
  target: WorkloadTarget;
  digest: string;
  agentKey: jose.JWK;
  /** The Manifest's hash as status shows it (grants name it) and as the Coordinator computes it (the identity's). */
  manifestHash: string;
  ownManifestHash: string;
  manifestName: string;
  lifetimeMs: number;
  gpus: number;
}

export class WorkloadCoordinator {
  readonly #deps: WorkloadCoordinatorDeps;
  readonly #grants: Grants;
  readonly #nonces: NonceStore;
  readonly #requests: KeyedRateLimiter;
  readonly #watches: KeyedRateLimiter;
  readonly #events: KeyedRateLimiter;
  readonly #appraiser: NodeAppraiser;
  readonly #holds: WorkloadHolds;
  readonly #serial = new KeyedSerial();
  readonly #accepted = new Map<string, Accepted>();
  readonly #now: () => Date;
  readonly #log: Logger;

  private constructor(deps: WorkloadCoordinatorDeps, grants: Grants) {
    this.#deps = deps;
    this.#grants = grants;
    const limits = { ...DEFAULT_COORDINATOR_LIMITS, ...deps.limits };
    this.#nonces = new NonceStore(limits.noncesPerNode);
    this.#requests = new KeyedRateLimiter(limits.requests);
    this.#watches = new KeyedRateLimiter(limits.watches);
    this.#events = new KeyedRateLimiter(limits.events);
    this.#now = deps.now ?? (() => new Date());
    this.#log = deps.log.child({ component: 'coordinator-workloads' });
    this.#appraiser = new NodeAppraiser(deps.trust, this.#log, (c) => deps.metrics?.appraisals.collateralUsed(c));
    const podExists = (subject: string, uid: string) => {
      const [, namespace, name] = subject.split('/');
      return deps.podExists(namespace ?? '', name ?? '', uid);
    };
    this.#holds = new WorkloadHolds({
      podExists,
      nodes: new IdentityRegistry({
        nodeAttestations: deps.nodeAttestations,
        nodeExists: (name) => deps.nodes.get(name) !== undefined,
      }),
    });
  }

  static async create(deps: WorkloadCoordinatorDeps): Promise<WorkloadCoordinator> {
    return new WorkloadCoordinator(deps, await Grants.create(deps.grantTtlSeconds));
  }

  /** The keys workload grants are signed with (GET /v1/workload/jwks). */
  get jwks(): { keys: jose.JWK[] } {
    return this.#grants.jwks;
  }

  /** Spends one of the pod's tokens ("request": nonce, evidence, activation; "watch": the mesh CA), or 429. */
  admit(caller: PodCaller, kind: 'request' | 'watch'): void {
    const subject = workloadSubject(caller.namespace, caller.name);
    const decision = (kind === 'watch' ? this.#watches : this.#requests).take(subject, this.#now());
    if (decision.allowed) return;
    throw new CoordinatorError(
      429,
      `too many requests from pod ${caller.namespace}/${caller.name}; retry later`,
      Math.ceil(decision.retryAfterMs / 1000),
    );
  }

  async issueNonce(caller: PodCaller): Promise<NonceResponse> {
    const manifest = this.#active();
    if (!this.#deps.podExists(caller.namespace, caller.name, caller.uid)) {
      // Not one of the operator's pods in its cache (a secret-service or secret-store pod, or a
      // cache behind): ask the API server.
      const pod = await this.#deps.pods.read(caller.namespace, caller.name);
      if (pod?.metadata?.uid !== caller.uid || pod.metadata.deletionTimestamp)
        throw new CoordinatorError(
          404,
          `pod ${caller.namespace}/${caller.name} (UID ${caller.uid}) does not exist or is being deleted`,
        );
    }
    const subject = workloadSubject(caller.namespace, caller.name);
    const { nonce, expiresAt } = this.#nonces.issue(subject, evidenceMaxAgeMs(manifest), this.#now());
    return { nonce, expiresAt: expiresAt.toISOString() };
  }

  /** The current mesh CA, so that `attestor init --renew` notices a Manifest change at once. */
  meshCa(): WorkloadMeshCaResponse {
    const identity = this.#deps.identity();
    return { meshCA: identity?.meshCa?.pem ?? null, manifestHash: identity?.history.at(-1)?.manifestHash ?? null };
  }

  /**
   * Appraises a pod's evidence. The request's shape and nonce are checked first (400, 409: nothing
   * is appraised or recorded); then the pod, its policy, and the evidence against the `pod` entries.
   */
  async attest(caller: PodCaller, request: EvidenceRequest): Promise<WorkloadAttestResponse> {
    const manifest = this.#active();
    const subject = workloadSubject(caller.namespace, caller.name);
    const decoded = decodeEvidenceRequest(request);
    if ('error' in decoded)
      throw this.#unappraised(new CoordinatorError(400, `[coordinator.request] ${decoded.error}`));
    const nonceCheck = this.#nonces.take(request.nonce, subject, this.#now());
    if (!nonceCheck.ok) throw this.#unappraised(new CoordinatorError(409, `[coordinator.nonce] ${nonceCheck.reason}`));

    return this.#serial.run(subject, async () => {
      const now = this.#now();
      const pod = await this.#deps.pods.read(caller.namespace, caller.name);
      const owner = ownerName(pod?.metadata?.labels);
      const worker = owner ? this.#deps.aiWorkers.get(owner, caller.namespace) : undefined;
      const judged = judgeWorkload({ caller, pod, worker, manifest });
      const target = judged.target;
      const expectation = {
        reportData: reportDataFor(decoded.nonce, decoded.agentKeySpki),
        nonce: decoded.nonce,
        gpuCount: target?.gpuCount ?? decoded.evidence.gpus.length,
        gpuBindings: [],
      };
      // The pod's own policy is the only HOST_DATA / MRCONFIGID its evidence may carry.
      const { verdict } = await this.#appraiser.appraise(
        decoded.evidence,
        expectation,
        manifest,
        now,
        'pod',
        target ? [target.policyHash] : [],
      );
      const identity = evidenceIdentity(decoded.evidence, verdict.claims);
      const reasons: Reason[] = [
        ...judged.reasons,
        ...verdict.reasons,
        ...(onlyComparisons(verdict.reasons) ? this.#holds.conflicts(subject, identity.identifiers, now) : []),
      ];
      const manifestHashShown = manifest.status!.hash!;
      if (reasons.length > 0 || !target) {
        this.#holds.release(subject);
        this.#grants.settle(subject, undefined);
        this.#accepted.delete(subject);
        this.#deps.metrics?.attestations.inc({ result: 'refused' });
        this.#deps.metrics?.appraisals.refused(reasons, 'workload');
        const texts = reasons.map((r) => `[${r.check}] ${r.message}`);
        this.#log.warn({ pod: `${caller.namespace}/${caller.name}`, reasons: texts }, 'workload evidence refused');
        await this.#event(
          caller,
          'Warning',
          'WorkloadRefused',
          `evidence refused under Manifest ${manifest.metadata.name} (${manifestHashShown}): ${texts.join('; ')}`,
          now,
        );
        return { accepted: false, reasons: texts, manifestHash: manifestHashShown };
      }
      const lifetimeMs = reattestationMs(manifest);
      // A pod of no AIWorker is not in the informer `podExists` reads: its hold lasts until it expires.
      this.#holds.hold(subject, caller.uid, identity.identifiers, new Date(now.getTime() + lifetimeMs), {
        tracked: target.aiWorker !== undefined,
      });
      const digest = evidenceDigest(request);
      this.#grants.settle(subject, { digest, manifestHash: manifestHashShown });
      const agentKey = decoded.agentKey as jose.JWK;
      this.#accepted.set(subject, {
        target,
        digest,
        agentKey,
        manifestHash: manifestHashShown,
        ownManifestHash: manifestHash(manifest.spec),
        manifestName: manifest.metadata.name ?? '',
        lifetimeMs,
        gpus: decoded.evidence.gpus.length,
      });
      const grant = await this.#grants.issue({
        node: subject,
        gpus: decoded.evidence.gpus.map((g) => g.uuid),
        evidence: { digest, agentKey, agentKeyThumbprint: await jose.calculateJwkThumbprint(agentKey) },
        manifestHash: manifestHashShown,
        now,
      });
      this.#deps.metrics?.attestations.inc({ result: 'accepted' });
      return {
        accepted: true,
        grant: grant.token,
        expiresAt: grant.expiresAt.toISOString(),
        manifestHash: manifestHashShown,
      };
    });
  }

  /**
   * The pod activated its GPUs with the grant and signed the read-back: the certificate, from the
   * mesh CA of the Manifest its evidence met, for the key its evidence bound.
   */
  async activate(caller: PodCaller, jws: string): Promise<WorkloadCertificateResponse> {
    const report = readActivationReport(jws);
    if ('error' in report) throw new CoordinatorError(400, `[coordinator.request] ${report.error}`);
    const subject = workloadSubject(caller.namespace, caller.name);
    return this.#serial.run(subject, async () => {
      const now = this.#now();
      const refuse = async (reason: string): Promise<WorkloadCertificateResponse> => {
        this.#deps.metrics?.certificates.inc({ result: 'refused' });
        this.#log.warn({ pod: `${caller.namespace}/${caller.name}`, reason }, 'no workload certificate');
        await this.#event(caller, 'Warning', 'WorkloadRefused', `no workload certificate: ${reason}`, now);
        return { certified: false, reason };
      };
      const redemption = await this.#grants.redeem(subject, jws, report, () => this.#active().status!.hash!, now);
      if (!redemption.redeemed) return refuse(redemption.reason);
      const accepted = this.#accepted.get(subject);
      if (!accepted || accepted.digest !== redemption.grant.evidence)
        return refuse('no accepted evidence of this pod matches the grant');
      this.#accepted.delete(subject);
      if (!report.gpusReady) return refuse("the pod's GPUs read back not ready after activation");
      const pod = await this.#deps.pods.read(caller.namespace, caller.name);
      if (!pod || pod.metadata?.uid !== caller.uid || pod.metadata.deletionTimestamp)
        return refuse(`pod ${caller.namespace}/${caller.name} is gone or being deleted`);
      const publicKey = await webcrypto.subtle.importKey(
        'jwk',
        accepted.agentKey as webcrypto.JsonWebKey,
        { name: 'ECDSA', namedCurve: 'P-256' },
        true,
        ['verify'],
      );
      return this.#issue(caller, pod, accepted.target, publicKey, {
        digest: accepted.digest,
        ownManifestHash: accepted.ownManifestHash,
        manifestName: accepted.manifestName,
        lifetimeMs: accepted.lifetimeMs,
        attested: `pod VM and ${accepted.gpus} GPU(s) attested, GPUs activated`,
        now,
      });
    });
  }

  /**
   * A confidential-node pod's request (POST /v1/workload/countersigned): its node agent
   * countersigned its key. The nonce is checked first (409: nothing recorded); then the pod
   * (a confidential-node AIWorker's, on node N, not being deleted, the model enabled), N's
   * attestation (current against the active Manifest, its accepted evidence kept here), the
   * countersignature (by the agent key of N's accepted evidence, naming N, this pod, this key,
   * this nonce and the active Manifest) and the proof of possession. Every problem is listed.
   */
  async certifyOnNode(caller: PodCaller, request: CountersignedRequest): Promise<WorkloadCertificateResponse> {
    const manifest = this.#active();
    const subject = workloadSubject(caller.namespace, caller.name);
    const shape = countersignedShape(request);
    if ('error' in shape) throw new CoordinatorError(400, `[coordinator.request] ${shape.error}`);
    const nonceCheck = this.#nonces.take(request.nonce, subject, this.#now());
    if (!nonceCheck.ok) throw new CoordinatorError(409, `[coordinator.nonce] ${nonceCheck.reason}`);
    return this.#serial.run(subject, async () => {
      const now = this.#now();
      const activeHash = manifest.status!.hash!;
      const pod = await this.#deps.pods.read(caller.namespace, caller.name);
      const owner = ownerName(pod?.metadata?.labels);
      const worker = owner ? this.#deps.aiWorkers.get(owner, caller.namespace) : undefined;
      const judged = judgeWorkload({ caller, pod, worker, manifest, model: 'confidential-node' });
      const reasons: Reason[] = [...judged.reasons];
      // The node of the pod the token names; of another pod or none, judgeWorkload already says why.
      const samePod = pod?.metadata?.uid === caller.uid;
      const nodeName = samePod ? pod?.spec?.nodeName : undefined;
      const vouching: NodeJudgement = samePod
        ? judgeNode({
            node: nodeName,
            attestation: nodeName
              ? this.#deps.nodeAttestations.list().find((na) => na.metadata?.name === nodeName)
              : undefined,
            accepted: nodeName ? this.#deps.nodeEvidence?.(nodeName) : undefined,
            activeManifestHash: activeHash,
            now,
          })
        : { reasons: [] };
      reasons.push(...vouching.reasons);
      const spkiDer = new Uint8Array(Buffer.from(request.spki, 'base64url'));
      const proof = await proofProblem(request.proof, spkiDer, request.nonce);
      if (proof) reasons.push(reason('workload.proof-of-possession', proof));
      if ('node' in vouching) {
        const claims = await readCountersignature(request.countersignature, vouching.accepted.agentKey);
        if ('error' in claims) reasons.push(reason('workload.countersignature', claims.error));
        else
          reasons.push(
            ...countersignatureProblems(claims, {
              node: vouching.node,
              namespace: caller.namespace,
              pod: caller.name,
              podUid: caller.uid,
              spkiSha256: spkiSha256(spkiDer),
              nonce: request.nonce,
              manifestHash: activeHash,
              now,
              maxAgeMs: evidenceMaxAgeMs(manifest),
            }),
          );
      }
      if (reasons.length > 0 || !judged.target || !('node' in vouching) || !pod) {
        const texts = reasons.map((r) => `[${r.check}] ${r.message}`);
        this.#deps.metrics?.certificates.inc({ result: 'refused' });
        this.#log.warn({ pod: `${caller.namespace}/${caller.name}`, reasons: texts }, 'no workload certificate');
        await this.#event(
          caller,
          'Warning',
          'WorkloadRefused',
          `no workload certificate (confidential-node) under Manifest ${manifest.metadata.name} (${activeHash}): ${texts.join('; ')}`,
          now,
        );
        return { certified: false, reason: texts.join('; ') };
      }
      const publicKey = await webcrypto.subtle.importKey(
        'spki',
        spkiDer,
        { name: 'ECDSA', namedCurve: 'P-256' },
        true,
        ['verify'],
      );
      return this.#issue(caller, pod, judged.target, publicKey, {
        digest: vouching.accepted.digest,
        ownManifestHash: manifestHash(manifest.spec),
        manifestName: manifest.metadata.name ?? '',
        // No longer than the node's attestation: the certificate rests on it.
        lifetimeMs: Math.min(reattestationMs(manifest), vouching.expiresAt.getTime() - now.getTime()),
        attested: `node ${vouching.node} currently attested, its agent countersigned the pod's key`,
        now,
      });
    });
  }

  /** The certificate from the current mesh CA (which must be the Manifest's), recorded on the pod, with an Event. */
  async #issue(
    caller: PodCaller,
    pod: k8s.V1Pod,
    target: WorkloadTarget,
    publicKey: webcrypto.CryptoKey,
    basis: {
      digest: string;
      ownManifestHash: string;
      manifestName: string;
      lifetimeMs: number;
      /** What was attested, for the Event. */
      attested: string;
      now: Date;
    },
  ): Promise<WorkloadCertificateResponse> {
    const { now } = basis;
    const identity = this.#deps.identity();
    const mesh = identity?.meshCa;
    const following = identity?.history.at(-1)?.manifestHash;
    if (!mesh || following !== basis.ownManifestHash) {
      const why = `the Coordinator's mesh CA is not (yet) the one of Manifest ${basis.manifestName} (${basis.ownManifestHash}); attest again`;
      this.#deps.metrics?.certificates.inc({ result: 'refused' });
      this.#log.warn({ pod: `${caller.namespace}/${caller.name}`, reason: why }, 'no workload certificate');
      await this.#event(caller, 'Warning', 'WorkloadRefused', `no workload certificate: ${why}`, now);
      return { certified: false, reason: why };
    }
    const certificate = await mesh.issue(
      workloadLeafRequest({
        publicKey,
        ...(target.aiWorker ? { aiWorker: target.aiWorker } : {}),
        commonName: target.commonName,
        namespace: target.namespace,
        ...(pod.status?.podIP ? { podIp: pod.status.podIP } : {}),
        sans: target.sans,
        clusterDomain: this.#deps.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
        identity: {
          role: target.role,
          deploymentModel: target.deploymentModel,
          policyHash: target.policyHash,
          evidenceDigest: basis.digest,
          manifestHash: basis.ownManifestHash,
          podUid: target.podUid,
        },
        lifetimeMs: basis.lifetimeMs,
        now,
      }),
    );
    const pem = `${certificate.toString('pem')}\n`;
    const notAfter = certificate.notAfter;
    try {
      await this.#deps.pods.recordCertificate(caller.namespace, caller.name, caller.uid, pem);
    } catch (err) {
      // The pod has its certificate either way; the AIWorker's count misses it until the record
      // is written: try again in the background (an API server that throttles a fleet's storm
      // answers 429), for as long as the certificate is valid.
      void this.#recordLater(caller, pem, notAfter, err);
    }
    this.#deps.metrics?.certificates.inc({ result: 'issued' });
    this.#log.info(
      {
        pod: `${caller.namespace}/${caller.name}`,
        ...(target.aiWorker ? { aiWorker: target.aiWorker } : {}),
        role: target.role,
        deploymentModel: target.deploymentModel,
        manifest: basis.ownManifestHash,
        notAfter,
      },
      'workload certificate issued',
    );
    await this.#event(
      caller,
      'Normal',
      'WorkloadCertified',
      `${basis.attested}: workload certificate for ${target.aiWorker ? `AIWorker ${target.aiWorker}` : `pod ${target.namespace}/${target.pod}`} (role ${target.role}, ${target.deploymentModel}, policy ${target.policyHash.slice(0, 16)}…) from the mesh CA of Manifest ${basis.manifestName}, valid until ${notAfter.toISOString()}`,
      now,
    );
    return {
      certified: true,
      certificate: pem,
      meshCA: mesh.pem,
      notAfter: notAfter.toISOString(),
      manifestHash: basis.ownManifestHash,
      renewAfterSeconds: Math.max(15, Math.floor((notAfter.getTime() - now.getTime()) / 2000)),
    };
  }

  #active(): Manifest {
    const active = selectActiveManifest(this.#deps.manifests.list());
    if (!active?.status?.hash) throw new CoordinatorError(503, 'no valid Manifest is active: nothing can be certified');
    return active;
  }

  #unappraised(err: CoordinatorError): CoordinatorError {
    this.#deps.metrics?.attestations.inc({ result: 'unappraised' });
    return err;
  }

  /** An Event on the pod, within the pod's Event budget. */
  /** Writes the certificate record again after a failed first write: backoff from 0.5 s, at most 6 tries, never past `notAfter`. */
  async #recordLater(
    caller: { namespace: string; name: string; uid: string },
    pem: string,
    notAfter: Date,
    first: unknown,
  ) {
    const pod = `${caller.namespace}/${caller.name}`;
    let err = first;
    for (let attempt = 0; attempt < RECORD_RETRIES; attempt++) {
      const wait = RECORD_RETRY_MS * 2 ** attempt;
      if ((err as { code?: number }).code === 404 || this.#now().getTime() + wait >= notAfter.getTime()) break;
      this.#log.warn(
        { pod, err: errorMessage(err), retryInMs: wait },
        'could not record the workload certificate on the pod; trying again',
      );
      await delay(wait, undefined, { ref: false });
      try {
        await this.#deps.pods.recordCertificate(caller.namespace, caller.name, caller.uid, pem);
        return;
      } catch (next) {
        err = next;
      }
    }
    this.#log.warn({ pod, err: errorMessage(err) }, 'could not record the workload certificate on the pod');
  }

  async #event(
    caller: PodCaller,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    now: Date,
  ): Promise<void> {
    if (!this.#events.take(workloadSubject(caller.namespace, caller.name), now).allowed) return;
    await this.#deps.events.record(
      { apiVersion: 'v1', kind: 'Pod', name: caller.name, namespace: caller.namespace, uid: caller.uid },
      type,
      reason,
      message,
    );
  }
}

/** The request's fields are there and of the right form (400 otherwise: nothing recorded). */
function countersignedShape(request: CountersignedRequest): { ok: true } | { error: string } {
  const r = request as unknown as Record<string, unknown> | undefined;
  if (typeof r?.nonce !== 'string' || !/^[0-9a-f]{64}$/.test(r.nonce))
    return { error: 'nonce: expected 64 hex digits' };
  if (typeof r.spki !== 'string' || !/^[A-Za-z0-9_-]{16,1024}$/.test(r.spki))
    return { error: 'spki: expected base64url DER' };
  for (const field of ['proof', 'countersignature'] as const)
    if (typeof r[field] !== 'string' || (r[field] as string).length > 4096)
      return { error: `${field}: expected a compact JWS` };
  return { ok: true };
}
