/**
 * The leader's side of peer recovery (`/v1/coordinator/peer/...`, src/protocol/peer-recovery.ts):
 * it hands its identity (root CA, current mesh CA, history, the Manifest it follows) to a replica
 * whose own CVM evidence meets that Manifest's coordinator entries and carries the leader's own
 * policy (peer-policy.ts), with the CA keys sealed to the replica's ephemeral key, which its
 * REPORT_DATA binds with a nonce the leader issued. The server (server.ts) has authenticated the
 * caller as the operator's service account and charged its rate before anything here runs.
 *
 * Mesh CAs of earlier Manifests are never handed over: the identity holds only the current one
 * (the others were dropped with their keys when the Manifest changed).
 */
import type { Logger } from '../observability/log.ts';
import { TransferKeyPair } from '../pki/key-transfer.ts';
import { encodeCvmEvidence } from '../protocol/evidence-request.ts';
import {
  decodePeerRecoverRequest,
  PEER_NONCE_TTL_MS,
  type PeerBundle,
  type PeerNonceResponse,
  type PeerRecoverResponse,
  peerRequestReportData,
  peerResponseReportData,
  transferredManifest,
} from '../protocol/peer-recovery.ts';
import { NodeAppraiser } from './appraisal.ts';
import { CoordinatorError } from './coordinator-error.ts';
import {
  appraiseCoordinatorEvidence,
  collectionFailure,
  type OwnEvidenceSource,
  reasonText,
} from './coordinator-evidence.ts';
import type { CoordinatorIdentity } from './identity.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { NonceStore } from './nonces.ts';
import { peerPolicyReasons } from './peer-policy.ts';
import type { CoordinatorTrust } from './trust.ts';

/** Outstanding nonces per peer service account. */
const PEER_NONCES = 8;

export interface PeerLeaderDeps {
  identity: CoordinatorIdentity;
  evidence: OwnEvidenceSource;
  trust: CoordinatorTrust;
  log: Logger;
  metrics?: CoordinatorMetrics;
  now?: () => Date;
}

export class PeerLeader {
  readonly #deps: PeerLeaderDeps;
  readonly #appraiser: NodeAppraiser;
  readonly #nonces = new NonceStore(PEER_NONCES);
  readonly #log: Logger;
  readonly #now: () => Date;

  constructor(deps: PeerLeaderDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'peer-recovery', side: 'leader' });
    this.#appraiser = new NodeAppraiser(deps.trust, this.#log);
    this.#now = deps.now ?? (() => new Date());
  }

  /** A nonce for `caller` (the authenticated service account), and which identity it would receive. */
  issueNonce(caller: string): PeerNonceResponse {
    const { nonce } = this.#nonces.issue(caller, PEER_NONCE_TTL_MS, this.#now());
    const claimed = this.#deps.identity.claim();
    if (claimed instanceof CoordinatorError) return { nonce, identity: null, reason: claimed.message };
    return { nonce, identity: this.#deps.identity.state! };
  }

  /**
   * The identity for a replica that proved itself, or a CoordinatorError: 400 for a malformed
   * request, 403 for a nonce or evidence that does not do, 503 while this Coordinator has no
   * identity to give.
   */
  async recover(caller: string, body: unknown): Promise<PeerRecoverResponse> {
    const request = decodePeerRecoverRequest(body);
    if ('error' in request) throw new CoordinatorError(400, `[coordinator.request] ${request.error}`);
    const at = this.#now();
    const nonce = this.#nonces.take(request.nonce, caller, at);
    if (!nonce.ok) throw this.#refused(caller, [`nonce: ${nonce.reason}`]);
    const claimed = this.#deps.identity.claim();
    if (claimed instanceof CoordinatorError) throw claimed;
    const reportData = peerRequestReportData(request.nonceBytes, request.peerKeySpki);
    const peer = await appraiseCoordinatorEvidence(this.#appraiser, request.evidence, reportData, claimed.manifest, at);
    const policy = peer.verified
      ? peerPolicyReasons({
          own: claimed.policyHash,
          peer: peer.policyHash,
          manifest: claimed.manifest,
          predecessor: claimed.predecessor,
        })
      : [];
    const reasons = [...peer.reasons, ...policy].map(reasonText);
    if (reasons.length > 0) throw this.#refused(caller, reasons, peer.policyHash);

    const pair = await TransferKeyPair.generate();
    const transferKey = await pair.transferKey(request.peerKey, 'responder');
    const bundle: PeerBundle = {
      leaderKey: pair.publicJwk,
      manifest: transferredManifest(claimed.manifest),
      ...(claimed.predecessor ? { predecessor: transferredManifest(claimed.predecessor) } : {}),
      history: [...claimed.history],
      rootCA: await claimed.root.seal(transferKey, 'root'),
      meshCA: await claimed.mesh.seal(transferKey, 'mesh'),
    };
    const source = this.#deps.evidence;
    let evidence: PeerRecoverResponse['evidence'];
    try {
      evidence = encodeCvmEvidence(await source.collect(peerResponseReportData(request.peerKeySpki, bundle)));
    } catch (err) {
      throw new CoordinatorError(503, collectionFailure(source, err));
    }
    this.#deps.metrics?.peerRecoveries.inc({ side: 'leader', result: 'handed-over' });
    this.#log.info(
      { caller, peerPolicy: peer.policyHash, peerMeasurement: peer.measurement, manifest: claimed.hash },
      'handed the Coordinator identity (root CA, mesh CA, history) to a peer replica whose evidence met the Manifest',
    );
    return { evidence, bundle };
  }

  #refused(caller: string, reasons: string[], peerPolicy?: string): CoordinatorError {
    this.#deps.metrics?.peerRecoveries.inc({ side: 'leader', result: 'refused' });
    this.#log.warn({ caller, peerPolicy, reasons }, 'refused to hand the Coordinator identity to a peer replica');
    return new CoordinatorError(403, `the peer replica receives no keys: ${reasons.join('; ')}`);
  }
}
