/**
 * The Coordinator's own identity: its root CA, the mesh CA of the Manifest it follows, the
 * transition chain of every Manifest it followed, and its own CVM evidence, which it appraises
 * against that Manifest's coordinator-role entries before it claims any of it. Answers
 * `POST /v1/coordinator/attest` (server.ts) with evidence whose REPORT_DATA binds the client's
 * nonce, the latest transition and both CAs.
 *
 * One per operator process (operator.ts), kept across leadership terms; only the leader serves.
 * Everything lives in memory. A replica follows the active Manifest itself until it holds its
 * leader's identity: with peer recovery (peer-sync.ts, peer-leader.ts) it then mirrors the
 * leader (`adopt`: the same root CA, mesh CA and history) and follows nothing itself until it
 * leads (`lead`), so that a failover keeps the identity. Without a peer, a restart starts a new
 * root and a new history. The CA keys never leave memory, except sealed for an attested peer.
 */
import { randomBytes } from 'node:crypto';
import { selectActiveManifest } from '../api/active-manifest.ts';
import type { Manifest } from '../api/manifest.ts';
import { manifestHash } from '../api/manifest-hash.ts';
import type { NodeEvidence } from '../attestation/node-appraisal.ts';
import type { Logger } from '../observability/log.ts';
import type { CertificateAuthority } from '../pki/certificate-authority.ts';
import { CoordinatorPki } from '../pki/coordinator-pki.ts';
import { type CoordinatorAttestResponse, coordinatorReportData } from '../protocol/coordinator-attest.ts';
import { encodeCvmEvidence } from '../protocol/evidence-request.ts';
import type { PeerIdentityState } from '../protocol/peer-recovery.ts';
import { extendHistory, type HistoryEntry, latestTransition } from '../protocol/transition-chain.ts';
import { NodeAppraiser } from './appraisal.ts';
import type { ManifestSource } from './coordinator.ts';
import { CoordinatorError } from './coordinator-error.ts';
import {
  collectionFailure,
  type OwnEvidence,
  type OwnEvidenceSource,
  ownStanding,
  type Standing,
} from './coordinator-evidence.ts';
import {
  type ClaimedIdentity,
  type Followed,
  followedState,
  identityState,
  type RecoveredIdentity,
} from './identity-state.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { successionSteps } from './succession.ts';
import type { CoordinatorTrust } from './trust.ts';

export type { ClaimedIdentity, OwnEvidenceSource, RecoveredIdentity, Standing };

export interface CoordinatorIdentityDeps {
  manifests: ManifestSource;
  /** The own evidence source, or why there is none (`--coordinator-evidence none`). */
  evidence: OwnEvidence;
  trust: CoordinatorTrust;
  /** Peer recovery is on: CA keys are made transferable (sealed only for an attested peer). Default false: non-extractable. */
  transferable?: boolean;
  log: Logger;
  metrics?: CoordinatorMetrics;
  now?: () => Date;
  /** How long after a refused self-appraisal the next change of the Manifests tries again. Default 30 s. */
  retryRefusedMs?: number;
}

export class CoordinatorIdentity {
  readonly #deps: CoordinatorIdentityDeps;
  #pki: CoordinatorPki;
  readonly #appraiser: NodeAppraiser;
  readonly #log: Logger;
  readonly #now: () => Date;
  #followed: Followed | undefined;
  /** Whether the Manifest followed is still the active one (none may be active for a while). */
  #active = false;
  #dirty = false;
  #running: Promise<void> | undefined;
  /** Following passes and adoptions, one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Holds the leader's identity and follows nothing itself (until it leads). */
  #replica = false;
  #leading = false;

  private constructor(deps: CoordinatorIdentityDeps, pki: CoordinatorPki) {
    this.#deps = deps;
    this.#pki = pki;
    this.#log = deps.log.child({ component: 'coordinator-identity' });
    this.#appraiser = new NodeAppraiser(deps.trust, this.#log);
    this.#now = deps.now ?? (() => new Date());
    deps.metrics?.identityReady.set(0);
  }

  /** A new root CA; the first mesh CA comes with the first Manifest (settle). */
  static async create(deps: CoordinatorIdentityDeps): Promise<CoordinatorIdentity> {
    const root = await CoordinatorPki.create((deps.now ?? (() => new Date()))(), { transferable: deps.transferable });
    return new CoordinatorIdentity(deps, root);
  }

  get rootCa(): CertificateAuthority {
    return this.#pki.root;
  }

  /** The mesh CA of the Manifest followed (undefined before the first). */
  get meshCa(): CertificateAuthority | undefined {
    return this.#followed?.mesh;
  }

  get history(): readonly HistoryEntry[] {
    return this.#followed?.history ?? [];
  }

  get standing(): Standing | undefined {
    return this.#followed?.standing;
  }

  /** Whether it mirrors the leader's identity (and follows no Manifest itself). */
  get replica(): boolean {
    return this.#replica;
  }

  /** Which identity it holds: its CAs' fingerprints and latest transition (undefined before the first Manifest). */
  get state(): PeerIdentityState | undefined {
    return this.#followed && identityState(this.#pki.root, this.#followed);
  }

  /**
   * The identity as it can be claimed now (its own evidence met the Manifest it follows, which is
   * still active), or why not: the answer to clients and peers (peer-leader.ts) alike.
   */
  claim(): ClaimedIdentity | CoordinatorError {
    const f = this.#followed;
    const source = this.#deps.evidence;
    if (!f || !this.#active)
      return new CoordinatorError(503, 'no valid Manifest is active: the Coordinator has no identity to prove', 5);
    if ('none' in source) return new CoordinatorError(503, source.none);
    const s = f.standing;
    if (s.state === 'appraising')
      return new CoordinatorError(503, `the Coordinator is appraising its own evidence under Manifest ${f.hash}`, 1);
    if (s.state === 'refused')
      return new CoordinatorError(
        503,
        `the Coordinator's own CVM evidence does not meet Manifest ${f.hash} (its coordinator-role entries and policies), so it claims no identity: ${s.reasons.join('; ')}`,
      );
    const { manifest, predecessor, hash, canonical, history, mesh } = f;
    return { root: this.#pki.root, mesh, manifest, predecessor, hash, canonical, history, policyHash: s.policyHash };
  }

  /**
   * Takes the leader's identity (peer recovery): its root CA, mesh CA, history and Manifest
   * replace this replica's own in one step, and it follows nothing itself until it leads. False
   * (nothing changed) once it leads: then its own chain is the one that counts.
   */
  adopt(recovered: RecoveredIdentity): Promise<boolean> {
    return this.#serial(async () => {
      if (this.#leading) return false;
      const { root, manifest, predecessor, history, mesh, standing } = recovered;
      // Two assignments, no await between: this replica's own root and mesh CA, and their keys, are dropped here.
      this.#pki = CoordinatorPki.of(root);
      this.#followed = followedState(manifest, predecessor, history, mesh, standing);
      this.#replica = true;
      this.#setActive(true);
      this.#log.info(
        { manifest: this.#followed.manifestName, hash: this.#followed.hash, transitions: history.length },
        "holds the leader's identity (root CA, mesh CA, history): it mirrors the leader until it leads",
      );
      return true;
    });
  }

  /** This replica leads: it follows the active Manifest from the chain it holds (its leader's, if it mirrored one). */
  lead(): Promise<void> {
    this.#leading = true;
    this.#replica = false;
    return this.settle();
  }

  /**
   * Follows the active Manifest: call after the Manifests changed (and once their cache is
   * synced, so that a half-listed cache never becomes a transition). Calls that arrive while one
   * runs coalesce into one more run; resolves when the identity is settled.
   */
  settle(): Promise<void> {
    this.#dirty = true;
    this.#running ??= this.#serial(() => this.#run()).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #run(): Promise<void> {
    while (this.#dirty) {
      this.#dirty = false;
      try {
        await this.#follow();
      } catch (err) {
        // A bug or broken infrastructure (key generation); the identity stays as it was.
        this.#log.error({ err: (err as Error).message }, 'could not follow the active Manifest');
      }
    }
  }

  async #follow(): Promise<void> {
    if (this.#replica) return; // the leader's chain is the one it holds
    const manifests = this.#deps.manifests.list();
    const followed = this.#followed;
    // From the chain's head, only the steps its owners allow (succession.ts), whatever status says.
    const steps = successionSteps(followed?.manifest, manifests);
    if (steps.length === 0) {
      if (!followed) {
        this.#setActive(false);
        return;
      }
      this.#setActive(true);
      this.#warnIfBehind(followed, manifests);
      const s = followed.standing;
      if (s.state === 'refused' && this.#now().getTime() - s.at >= (this.#deps.retryRefusedMs ?? 30_000))
        await this.#appraiseOwn(followed, followed.manifest);
      return;
    }
    // The Coordinator's own computation of each hash, not status.hash, which whoever edits status could set.
    const history = extendHistory(
      followed?.history ?? [],
      steps.map((step) => manifestHash(step.spec)),
    );
    const manifest = steps.at(-1)!;
    const mesh = await this.#pki.newMeshCa(this.#now());
    // One assignment: the old mesh CA, and with it its key, is dropped here.
    const predecessor = steps.length >= 2 ? steps.at(-2) : followed?.manifest;
    const next = followedState(manifest, predecessor, history, mesh, { state: 'appraising' });
    this.#followed = next;
    this.#setActive(true);
    this.#log.info(
      { manifest: next.manifestName, hash: next.hash, steps: steps.length, transitions: history.length },
      'following a new Manifest: new mesh CA, new transition',
    );
    this.#warnIfBehind(next, manifests);
    await this.#appraiseOwn(next, manifest);
  }

  /** The cluster shows another Manifest active than the chain may reach: say so (the chain stays). */
  #warnIfBehind(followed: Followed, manifests: readonly Manifest[]): void {
    const shown = selectActiveManifest(manifests);
    if (!shown || manifestHash(shown.spec) === followed.hash) return;
    this.#log.warn(
      { following: followed.hash, shown: shown.metadata.name },
      'the cluster shows another active Manifest than its owners allow the Coordinator to follow: keeping the one it follows',
    );
  }

  /** Collects the own evidence for a random nonce and appraises it against the coordinator-role entries. */
  async #appraiseOwn(followed: Followed, manifest: Manifest): Promise<void> {
    const nonce = new Uint8Array(randomBytes(32));
    const reportData = coordinatorReportData(
      nonce,
      latestTransition(followed.history),
      this.#pki.root.der,
      followed.mesh.der,
    );
    const standing = await ownStanding(this.#deps.evidence, this.#appraiser, reportData, manifest, this.#now());
    followed.standing = standing;
    this.#deps.metrics?.ownAppraisals.inc({ result: standing.state });
    if (standing.state === 'accepted')
      this.#log.info(
        { manifest: followed.manifestName, hash: followed.hash, simulated: standing.simulated },
        "the Coordinator's own CVM evidence meets the Manifest's coordinator entries: it claims its identity",
      );
    else if (standing.state === 'refused')
      this.#log.error(
        { manifest: followed.manifestName, hash: followed.hash, reasons: standing.reasons },
        "the Coordinator's own CVM evidence does not meet the Manifest's coordinator entries: it claims no identity",
      );
    this.#setActive(this.#active);
  }

  #setActive(active: boolean): void {
    this.#active = active;
    this.#deps.metrics?.identityReady.set(active && this.#followed?.standing.state === 'accepted' ? 1 : 0);
  }

  /**
   * The answer to POST /v1/coordinator/attest: fresh evidence for this nonce, with the Manifest,
   * the chain and the CAs it binds. 503 while the Coordinator cannot claim its identity, saying why.
   */
  async attest(nonce: Uint8Array): Promise<CoordinatorAttestResponse> {
    const claimed = this.claim();
    if (claimed instanceof CoordinatorError) throw claimed;
    const source = this.#deps.evidence as OwnEvidenceSource; // claim() refuses without one
    let cvm: NodeEvidence['cvm'];
    try {
      cvm = await source.collect(
        coordinatorReportData(nonce, latestTransition(claimed.history), claimed.root.der, claimed.mesh.der),
      );
    } catch (err) {
      throw new CoordinatorError(503, collectionFailure(source, err));
    }
    return {
      evidence: encodeCvmEvidence(cvm),
      manifest: claimed.canonical,
      manifestHash: claimed.hash,
      history: [...claimed.history],
      rootCA: claimed.root.pem,
      meshCA: claimed.mesh.pem,
    };
  }
}
