/**
 * The Coordinator's own identity: its root CA, the mesh CA of the Manifest it follows, the
 * transition chain of every Manifest it followed, and its own CVM evidence, which it appraises
 * against that Manifest's coordinator-role entries before it claims any of it. Answers
 * `POST /v1/coordinator/attest` (server.ts) with evidence whose REPORT_DATA binds the client's
 * nonce, the latest transition and both CAs.
 *
 * One per operator process (operator.ts), kept across leadership terms; every replica follows
 * the active Manifest, only the leader serves. Everything lives in memory: the CA keys never
 * leave it, and a restart starts a new root and a new history (recovery from a peer is later work).
 */
import { randomBytes } from 'node:crypto';
import { selectActiveManifest } from '../api/active-manifest.ts';
import type { Manifest } from '../api/manifest.ts';
import { canonicalManifestJson, manifestHash } from '../api/manifest-hash.ts';
import type { NodeEvidence } from '../attestation/node-appraisal.ts';
import type { Logger } from '../observability/log.ts';
import type { CertificateAuthority } from '../pki/certificate-authority.ts';
import { CoordinatorPki } from '../pki/coordinator-pki.ts';
import { type CoordinatorAttestResponse, coordinatorReportData } from '../protocol/coordinator-attest.ts';
import { encodeCvmEvidence } from '../protocol/evidence-request.ts';
import { type HistoryEntry, latestTransition, nextTransition } from '../protocol/transition-chain.ts';
import { NodeAppraiser } from './appraisal.ts';
import type { ManifestSource } from './coordinator.ts';
import { CoordinatorError } from './coordinator-error.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { successionSteps } from './succession.ts';
import type { CoordinatorTrust } from './trust.ts';

/** Where the Coordinator's own CVM report comes from (configfs-tsm in a real pod VM, simulated in dev and tests). */
export interface OwnEvidenceSource {
  readonly kind: string;
  /** A report whose REPORT_DATA is exactly these 64 bytes. */
  collect(reportData: Uint8Array): Promise<NodeEvidence['cvm']>;
}

export interface CoordinatorIdentityDeps {
  manifests: ManifestSource;
  /** The own evidence source, or why there is none (`--coordinator-evidence none`). */
  evidence: OwnEvidenceSource | { none: string };
  trust: CoordinatorTrust;
  log: Logger;
  metrics?: CoordinatorMetrics;
  now?: () => Date;
  /** How long after a refused self-appraisal the next change of the Manifests tries again. Default 30 s. */
  retryRefusedMs?: number;
}

/** Whether this Coordinator may claim its identity under the Manifest it follows. */
export type Standing =
  | { state: 'appraising' }
  | { state: 'accepted'; simulated: boolean }
  | { state: 'refused'; reasons: string[]; at: number };

/** Everything a response needs, replaced as a whole, so that one response never mixes two Manifests. */
interface Followed {
  /** The chain's head, as the Manifest whose owners decide what may follow it. */
  readonly manifest: Manifest;
  readonly manifestName: string;
  readonly hash: string;
  readonly canonical: string;
  readonly history: readonly HistoryEntry[];
  readonly mesh: CertificateAuthority;
  standing: Standing;
}

export class CoordinatorIdentity {
  readonly #deps: CoordinatorIdentityDeps;
  readonly #pki: CoordinatorPki;
  readonly #appraiser: NodeAppraiser;
  readonly #log: Logger;
  readonly #now: () => Date;
  #followed: Followed | undefined;
  /** Whether the Manifest followed is still the active one (none may be active for a while). */
  #active = false;
  #dirty = false;
  #running: Promise<void> | undefined;

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
    return new CoordinatorIdentity(deps, await CoordinatorPki.create((deps.now ?? (() => new Date()))()));
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

  /**
   * Follows the active Manifest: call after the Manifests changed (and once their cache is
   * synced, so that a half-listed cache never becomes a transition). Calls that arrive while one
   * runs coalesce into one more run; resolves when the identity is settled.
   */
  settle(): Promise<void> {
    this.#dirty = true;
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
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
    let history = [...(followed?.history ?? [])];
    for (const step of steps) {
      // The Coordinator's own computation, not status.hash, which whoever edits status could set.
      const hash = manifestHash(step.spec);
      history = [
        ...history,
        {
          manifestHash: hash,
          transition: Buffer.from(nextTransition(hash, latestTransition(history))).toString('hex'),
        },
      ];
    }
    const manifest = steps.at(-1)!;
    const mesh = await this.#pki.newMeshCa(this.#now());
    // One assignment: the old mesh CA, and with it its key, is dropped here.
    const next: Followed = {
      manifest,
      manifestName: manifest.metadata.name ?? '',
      hash: history.at(-1)!.manifestHash,
      canonical: canonicalManifestJson(manifest.spec),
      history,
      mesh,
      standing: { state: 'appraising' },
    };
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
    const source = this.#deps.evidence;
    const at = this.#now();
    let standing: Standing;
    if ('none' in source) {
      standing = { state: 'refused', reasons: [source.none], at: at.getTime() };
    } else {
      const nonce = new Uint8Array(randomBytes(32));
      const reportData = this.#reportData(followed, nonce);
      try {
        const cvm = await source.collect(reportData);
        const { verdict, simulated } = await this.#appraiser.appraise(
          { cvm, gpus: [] },
          { reportData, nonce, gpuCount: 0 },
          manifest,
          at,
          'coordinator',
        );
        standing = verdict.verified
          ? { state: 'accepted', simulated }
          : { state: 'refused', reasons: verdict.reasons.map((r) => `[${r.check}] ${r.message}`), at: at.getTime() };
      } catch (err) {
        standing = {
          state: 'refused',
          reasons: [`could not collect the own CVM evidence (${source.kind}): ${(err as Error).message}`],
          at: at.getTime(),
        };
      }
    }
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

  #reportData(followed: Followed, nonce: Uint8Array): Uint8Array {
    return coordinatorReportData(nonce, latestTransition(followed.history), this.#pki.root.der, followed.mesh.der);
  }

  /**
   * The answer to POST /v1/coordinator/attest: fresh evidence for this nonce, with the Manifest,
   * the chain and the CAs it binds. 503 while the Coordinator cannot claim its identity, saying why.
   */
  async attest(nonce: Uint8Array): Promise<CoordinatorAttestResponse> {
    const followed = this.#followed;
    if (!followed || !this.#active)
      throw new CoordinatorError(503, 'no valid Manifest is active: the Coordinator has no identity to prove', 5);
    const source = this.#deps.evidence;
    const s = followed.standing;
    if ('none' in source) throw new CoordinatorError(503, source.none);
    if (s.state === 'appraising')
      throw new CoordinatorError(
        503,
        `the Coordinator is appraising its own evidence under Manifest ${followed.hash}`,
        1,
      );
    if (s.state === 'refused')
      throw new CoordinatorError(
        503,
        `the Coordinator's own CVM evidence does not meet Manifest ${followed.hash} (its coordinator-role entries and policies), so it claims no identity: ${s.reasons.join('; ')}`,
      );
    let cvm: NodeEvidence['cvm'];
    try {
      cvm = await source.collect(this.#reportData(followed, nonce));
    } catch (err) {
      throw new CoordinatorError(
        503,
        `could not collect the own CVM evidence (${source.kind}): ${(err as Error).message}`,
      );
    }
    return {
      evidence: encodeCvmEvidence(cvm),
      manifest: followed.canonical,
      manifestHash: followed.hash,
      history: [...followed.history],
      rootCA: this.#pki.root.pem,
      meshCA: followed.mesh.pem,
    };
  }
}
