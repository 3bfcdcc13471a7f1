/**
 * Grants from issue to redemption (docs/design.md D38). An accepted verdict gets a grant, which
 * waits here, pending, until the agent redeems it with its signed read-back. It is spent only by
 * the key the evidence binds (the report's signature is checked before the grant is spent, so a
 * forged report burns nothing), once, and only while the node's standing verdict is still the
 * acceptance it was issued for (same evidence, same Manifest): a later verdict withdraws it.
 */
import type * as jose from 'jose';
import { errorMessage } from '../errors.ts';
import { verifyActivationReport } from '../protocol/activation-report.ts';
import type { GrantClaims } from '../protocol/grant.ts';
import type { ActivationReport } from '../protocol/messages.ts';
import { GrantSigner } from './grant-signer.ts';

/** The node's standing verdict, as far as activation is concerned: accepted, for this evidence, under this Manifest. */
export interface StandingVerdict {
  /** evidenceDigest() of the accepted evidence. */
  digest: string;
  manifestHash: string;
  /** Until when the acceptance stands: a redeemed grant extends the node's attestation to it (D250). */
  expiresAt?: Date;
}

export interface GrantIssue {
  node: string;
  gpus: string[];
  /** The accepted evidence: its digest, and the agent key it binds. */
  evidence: { digest: string; agentKey: jose.JWK; agentKeyThumbprint: string };
  manifestHash: string;
  now: Date;
}

export type Redemption =
  | { redeemed: true; grant: GrantClaims; standing: StandingVerdict }
  | { redeemed: false; reason: string };

interface PendingGrant {
  claims: GrantClaims;
  agentKey: jose.JWK;
}

/** Default lifetime of a grant. */
export const DEFAULT_GRANT_TTL_SECONDS = 120;

export class Grants {
  readonly #signer: GrantSigner;
  readonly #ttlSeconds: number;
  readonly #pending = new Map<string, PendingGrant>();
  readonly #standing = new Map<string, StandingVerdict>();

  private constructor(signer: GrantSigner, ttlSeconds: number) {
    this.#signer = signer;
    this.#ttlSeconds = ttlSeconds;
  }

  static async create(ttlSeconds = DEFAULT_GRANT_TTL_SECONDS): Promise<Grants> {
    return new Grants(await GrantSigner.create(), ttlSeconds);
  }

  /** The public keys grants are signed with (GET /v1/jwks). */
  get jwks(): { keys: jose.JWK[] } {
    return this.#signer.jwks;
  }

  /** Pending grants, all nodes together. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Nodes with a standing acceptance. */
  nodes(): Iterable<string> {
    return this.#standing.keys();
  }

  /** The node's standing acceptance, if any. */
  standing(node: string): StandingVerdict | undefined {
    return this.#standing.get(node);
  }

  /**
   * A new verdict on the node: its pending grants are withdrawn, and an acceptance (or nothing,
   * for a refusal) becomes what a grant must have been issued for.
   */
  settle(node: string, standing: StandingVerdict | undefined): void {
    this.#withdraw(node);
    if (standing) this.#standing.set(node, standing);
    else this.#standing.delete(node);
  }

  /** The node went away. */
  forget(node: string): void {
    this.settle(node, undefined);
  }

  async issue(request: GrantIssue): Promise<{ token: string; expiresAt: Date }> {
    const { token, claims } = await this.#signer.sign({
      node: request.node,
      gpus: request.gpus,
      evidence: request.evidence.digest,
      manifest: request.manifestHash,
      agentKeyThumbprint: request.evidence.agentKeyThumbprint,
      ttlSeconds: this.#ttlSeconds,
      now: request.now,
    });
    this.#pending.set(claims.jti, { claims, agentKey: request.evidence.agentKey });
    this.#sweep(request.now);
    return { token, expiresAt: new Date(claims.exp * 1000) };
  }

  /**
   * Spends the grant the activation report names, if the report (its signature unchecked by the
   * caller: `jws`) may spend it. `activeManifest` is asked only once the grant is spent.
   */
  async redeem(
    node: string,
    jws: string,
    report: ActivationReport,
    activeManifest: () => string,
    now: Date,
  ): Promise<Redemption> {
    let grant: GrantClaims;
    try {
      grant = await this.#signer.verify(report.grant, now);
    } catch (err) {
      return refused(`invalid grant: ${errorMessage(err)}`);
    }
    if (grant.sub !== node) return refused(`the grant is for node ${grant.sub}`);
    const pending = this.#pending.get(grant.jti);
    if (!pending)
      return refused('the grant was already used, was withdrawn by a later verdict, or is unknown to this Coordinator');
    if (!(await verifyActivationReport(jws, pending.agentKey)))
      return refused('the activation report is not signed by the key bound to the evidence');
    this.#pending.delete(grant.jti);
    const gpus = report.gpus;
    if (gpus.length !== grant.gpus.length || !grant.gpus.every((g) => gpus.includes(g)))
      return refused(`the report covers GPUs ${gpus.join(',')} but the grant ${grant.gpus.join(',')}`);
    if (activeManifest() !== grant.manifest) return refused('the active Manifest changed since the grant was issued');
    const standing = this.#standing.get(node);
    if (standing?.digest !== grant.evidence || standing.manifestHash !== grant.manifest)
      return refused("the node's current verdict is not the acceptance of the evidence this grant was issued for");
    return { redeemed: true, grant, standing };
  }

  #withdraw(node: string): void {
    for (const [jti, p] of this.#pending) if (p.claims.sub === node) this.#pending.delete(jti);
  }

  #sweep(now: Date): void {
    const seconds = now.getTime() / 1000;
    for (const [jti, p] of this.#pending) if (p.claims.exp < seconds) this.#pending.delete(jti);
  }
}

function refused(reason: string): Redemption {
  return { redeemed: false, reason };
}
