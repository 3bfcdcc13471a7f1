/**
 * A replica's side of peer recovery: while it does not lead, it keeps the leader's identity. At
 * start, on every change of the Manifests and every interval it asks the leader for a nonce and
 * which identity it holds; when that is not the one this replica holds, it attests to the leader
 * with its own CVM evidence (REPORT_DATA binding the nonce and a fresh ECDH key) and receives the
 * identity. It accepts it only from a genuine Coordinator: the leader's evidence binds this
 * replica's key and every byte of the bundle, meets the coordinator entries of the Manifest the
 * bundle's chain ends at, and carries this replica's own policy (peer-policy.ts); its own evidence
 * must meet that Manifest too; the chain must hold together and the CA keys open as their
 * certificates' keys. Then the identity mirrors the leader (identity.ts `adopt`).
 */
import type { NodeEvidence } from '../attestation/node-appraisal.ts';
import { type Reason, reason } from '../attestation/verdict.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { CertificateAuthority, UnsealError } from '../pki/certificate-authority.ts';
import { MESH_CA_CURVE, ROOT_CA_CURVE } from '../pki/coordinator-pki.ts';
import { TransferKeyPair } from '../pki/key-transfer.ts';
import { encodeCvmEvidence } from '../protocol/evidence-request.ts';
import {
  type DecodedPeerRecoverResponse,
  decodePeerNonceResponse,
  decodePeerRecoverResponse,
  PEER_NONCE_PATH,
  PEER_RECOVER_PATH,
  type PeerIdentityState,
  peerBundleProblems,
  peerRequestReportData,
  peerResponseReportData,
  receivedManifest,
} from '../protocol/peer-recovery.ts';
import { NodeAppraiser } from './appraisal.ts';
import { appraiseCoordinatorEvidence, type OwnEvidenceSource, reasonText } from './coordinator-evidence.ts';
import type { CoordinatorIdentity, RecoveredIdentity } from './identity.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { PeerAnswer, PeerTransport } from './peer-client.ts';
import { peerPolicyReasons } from './peer-policy.ts';
import type { CoordinatorTrust } from './trust.ts';

/** Default time between two checks of the leader's identity. */
export const DEFAULT_PEER_SYNC_INTERVAL_MS = 10_000;

export type PeerSyncState =
  | { state: 'starting' }
  | { state: 'leading' }
  /** Holds the identity the leader holds. */
  | { state: 'synced' }
  /** The leader has no identity to give (its own evidence is not accepted, or no Manifest is active). */
  | { state: 'leader-has-none'; reason: string }
  | { state: 'failed'; reason: string };

export interface PeerSyncDeps {
  identity: CoordinatorIdentity;
  transport: PeerTransport;
  evidence: OwnEvidenceSource;
  trust: CoordinatorTrust;
  /** Whether this replica leads now. */
  leading: () => boolean;
  log: Logger;
  metrics?: CoordinatorMetrics;
  intervalMs?: number;
  now?: () => Date;
}

export class PeerSync {
  readonly #deps: PeerSyncDeps;
  readonly #appraiser: NodeAppraiser;
  readonly #log: Logger;
  #state: PeerSyncState = { state: 'starting' };
  #wake: (() => void) | undefined;
  #pending = false;

  constructor(deps: PeerSyncDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'peer-recovery', side: 'replica' });
    this.#appraiser = new NodeAppraiser(deps.trust, this.#log);
  }

  get state(): PeerSyncState {
    return this.#state;
  }

  /**
   * Why this replica is not ready, if it is not: it never held the leader's identity though the
   * leader has one (so that a rolling upgrade waits for it before it stops an older replica).
   */
  readiness(): string | undefined {
    const s = this.#state;
    if (this.#deps.identity.replica || s.state === 'leading' || s.state === 'synced' || s.state === 'leader-has-none')
      return undefined;
    return s.state === 'starting'
      ? "has not received the leader's Coordinator identity yet"
      : `does not hold the leader's Coordinator identity: ${s.reason}`;
  }

  /** Checks again soon (the Manifests changed). */
  trigger(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Checks now and every interval (or when triggered) until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const interval = this.#deps.intervalMs ?? DEFAULT_PEER_SYNC_INTERVAL_MS;
    while (!signal.aborted) {
      this.#pending = false;
      await this.sync();
      if (this.#pending) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, interval);
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.#wake = undefined;
          resolve();
        };
        this.#wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** One check (and recovery, if the identity differs); resolves with the state it left. */
  async sync(): Promise<PeerSyncState> {
    let next: PeerSyncState;
    try {
      next = await this.#sync();
    } catch (err) {
      next = { state: 'failed', reason: `could not reach the leader: ${errorMessage(err)}` };
    }
    if (next.state === 'failed') this.#deps.metrics?.peerRecoveries.inc({ side: 'replica', result: 'failed' });
    const before = this.#state;
    this.#state = next;
    if (next.state === 'failed' && (before.state !== 'failed' || before.reason !== next.reason))
      this.#log.warn({ reason: next.reason }, "this replica does not hold the leader's Coordinator identity");
    return next;
  }

  async #sync(): Promise<PeerSyncState> {
    if (this.#deps.leading()) return { state: 'leading' };
    const asked = await this.#deps.transport.post(PEER_NONCE_PATH, {});
    if (asked.status !== 200) return failed(asked);
    const offer = decodePeerNonceResponse(asked.body);
    if ('error' in offer) return { state: 'failed', reason: `the leader's nonce answer: ${offer.error}` };
    if (!offer.identity) return { state: 'leader-has-none', reason: offer.reason ?? '' };
    if (sameIdentity(this.#deps.identity.state, offer.identity)) return { state: 'synced' };

    const pair = await TransferKeyPair.generate();
    const nonce = new Uint8Array(Buffer.from(offer.nonce, 'hex'));
    const reportData = peerRequestReportData(nonce, pair.spki);
    const own = await this.#deps.evidence.collect(reportData);
    const answer = await this.#deps.transport.post(
      PEER_RECOVER_PATH,
      { nonce: offer.nonce, peerKey: pair.publicJwk, evidence: encodeCvmEvidence(own) },
      asked.via,
    );
    if (answer.status !== 200) return failed(answer);
    const response = decodePeerRecoverResponse(answer.body);
    if ('error' in response) return { state: 'failed', reason: `the leader's answer: ${response.error}` };
    const recovered = await this.#verify(response, pair, own, reportData);
    if (!('root' in recovered)) {
      const reasons = recovered.map(reasonText);
      this.#log.error(
        { reasons },
        'refused the identity the leader sent: it does not prove it comes from this Coordinator',
      );
      this.#deps.metrics?.peerRecoveries.inc({ side: 'replica', result: 'refused' });
      return { state: 'failed', reason: `refused the leader's identity: ${reasons.join('; ')}` };
    }
    if (!(await this.#deps.identity.adopt(recovered))) return { state: 'leading' };
    this.#deps.metrics?.peerRecoveries.inc({ side: 'replica', result: 'recovered' });
    return { state: 'synced' };
  }

  /** The leader's answer checked as the module comment says; the identity, or every reason it is refused. */
  async #verify(
    response: DecodedPeerRecoverResponse,
    pair: TransferKeyPair,
    own: NodeEvidence['cvm'],
    ownReportData: Uint8Array,
  ): Promise<RecoveredIdentity | Reason[]> {
    const { bundle } = response;
    const reasons = peerBundleProblems(bundle).map((p) => reason('coordinator.peer.bundle', p));
    if (reasons.length > 0) return reasons;
    const manifest = receivedManifest(bundle.manifest);
    const predecessor = bundle.predecessor && receivedManifest(bundle.predecessor);
    const at = (this.#deps.now ?? (() => new Date()))();
    const expected = peerResponseReportData(pair.spki, bundle);
    const leader = await appraiseCoordinatorEvidence(this.#appraiser, response.evidence, expected, manifest, at);
    const mine = await appraiseCoordinatorEvidence(this.#appraiser, own, ownReportData, manifest, at);
    reasons.push(
      ...leader.reasons.map((r) => ({ ...r, message: `the leader's evidence: ${r.message}` })),
      ...mine.reasons.map((r) => ({ ...r, message: `this replica's own evidence: ${r.message}` })),
    );
    if (leader.verified && mine.verified)
      reasons.push(...peerPolicyReasons({ own: mine.policyHash, peer: leader.policyHash, manifest, predecessor }));
    if (reasons.length > 0) return reasons;
    try {
      const transferKey = await pair.transferKey(bundle.leaderKey, 'requester');
      const root = await CertificateAuthority.unseal(bundle.rootCA, transferKey, 'root', ROOT_CA_CURVE);
      const mesh = await CertificateAuthority.unseal(bundle.meshCA, transferKey, 'mesh', MESH_CA_CURVE);
      if (!(await root.issued(mesh)))
        return [reason('coordinator.peer.bundle', 'the mesh CA is not issued by the root CA')];
      return {
        root,
        mesh,
        manifest,
        predecessor,
        history: bundle.history,
        standing: { state: 'accepted', simulated: mine.simulated, policyHash: mine.policyHash! },
      };
    } catch (err) {
      if (err instanceof UnsealError) return [reason('coordinator.peer.bundle', err.message)];
      throw err;
    }
  }
}

function sameIdentity(held: PeerIdentityState | undefined, offered: PeerIdentityState): boolean {
  return (
    held !== undefined &&
    held.rootCA === offered.rootCA &&
    held.meshCA === offered.meshCA &&
    held.transition === offered.transition
  );
}

function failed(answer: PeerAnswer): PeerSyncState {
  const error = (answer.body as { error?: unknown } | undefined)?.error;
  return { state: 'failed', reason: `${answer.via} answered ${answer.status}: ${String(error ?? answer.body)}` };
}
