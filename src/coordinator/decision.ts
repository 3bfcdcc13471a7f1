/**
 * The verdict on a node's appraised evidence, and everything that follows from it (docs/design.md
 * D36-D38): the identifiers the node holds (one CVM launch or GPU attests one node at a time), the
 * evidence retained for re-appraisal, the grants it may redeem, its status and an Event, and a
 * new grant. Only the leader decides; it keeps these in memory.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../api/manifest.ts';
import type { NodeAttestation } from '../api/node-attestation.ts';
import type { NodeClaims } from '../attestation/node-appraisal.ts';
import type { Reason, Verdict } from '../attestation/verdict.ts';
import type { AttestationWriter, VerdictCause } from './attestation-writer.ts';
import { evidenceIdentity } from './evidence-identity.ts';
import type { Grants } from './grants.ts';
import type { IdentityRegistry } from './identity-registry.ts';
import { type RetainedEvidence, retainable } from './retained-evidence.ts';
import { isActivated, isAttested, type VerdictFacts } from './status.ts';

export interface DecisionInput {
  node: k8s.V1Node;
  /** The evidence appraised (what is retained of it if it is authentic). */
  retained: RetainedEvidence;
  verdict: Verdict<NodeClaims>;
  /** Reached under the simulated roots. */
  simulated: boolean;
  manifest: Manifest;
  now: Date;
  /** Until when an acceptance stands. */
  expiresAt: Date;
  cause: VerdictCause;
  /** The node's NodeAttestation as read before the appraisal. */
  previous?: NodeAttestation;
}

export type Decision =
  | { accepted: true; grant?: { token: string; expiresAt: Date } }
  | { accepted: false; reasons: readonly Reason[] };

export class Decisions {
  readonly #identities: IdentityRegistry;
  readonly #grants: Grants;
  readonly #writer: AttestationWriter;
  /** The last evidence per node worth appraising again when the active Manifest changes. */
  readonly #retained = new Map<string, RetainedEvidence>();

  constructor(identities: IdentityRegistry, grants: Grants, writer: AttestationWriter) {
    this.#identities = identities;
    this.#grants = grants;
    this.#writer = writer;
  }

  /**
   * The verdict on appraised evidence, with everything that follows from it. Between the
   * identity check and the hold nothing awaits, so two nodes cannot both take one GPU.
   */
  async decide(input: DecisionInput): Promise<Decision> {
    const { node, retained, verdict, simulated, manifest, now, expiresAt, cause, previous } = input;
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
    this.#grants.settle(name, accepted ? { digest: retained.digest, manifestHash, expiresAt } : undefined);
    if (authentic) this.#retained.set(name, retained);
    else this.#retained.delete(name);

    // A node still activated under the previous Manifest keeps its activation when its evidence
    // meets the new one (its GPUs are still ready); any other acceptance needs a redeemed grant.
    const keepsActivation = cause === 'reappraisal' && accepted && isActivated(previous?.status);
    const facts: VerdictFacts = {
      accepted,
      claims: verdict.claims,
      reasons,
      manifestHash,
      simulated,
      now,
      expiresAt,
      identity,
    };
    try {
      await this.#writer.verdict(node, facts, cause, keepsActivation, previous);
    } catch (err) {
      // Nothing was recorded: hold nothing on the strength of it.
      this.#identities.release(name);
      this.#grants.settle(name, undefined);
      throw err;
    }

    if (!accepted) {
      await this.#writer.refused(name, reasons, manifestHash, cause, isAttested(previous?.status), now);
      return { accepted: false, reasons };
    }
    if (keepsActivation) {
      this.#writer.kept(name, manifestHash);
      return { accepted: true };
    }
    const gpus = retained.evidence.gpus.map((g) => g.uuid);
    const grant = await this.#grants.issue({ node: name, gpus, evidence: retained, manifestHash, now });
    await this.#writer.accepted(name, gpus.length, manifestHash, simulated, cause, now);
    return { accepted: true, grant };
  }

  /** The node's verdict no longer stands (a new Manifest, and no evidence to appraise against it). */
  withdraw(name: string): void {
    this.#identities.release(name);
    this.#grants.settle(name, undefined);
  }

  /** The node's retained evidence, if any. */
  retained(name: string): RetainedEvidence | undefined {
    return this.#retained.get(name);
  }

  /** Its retained evidence is too old to appraise again. */
  dropRetained(name: string): void {
    this.#retained.delete(name);
  }

  /** Nodes this leader keeps something about (retained evidence or a standing acceptance). */
  nodes(): Set<string> {
    return new Set([...this.#retained.keys(), ...this.#grants.nodes()]);
  }

  /** The node went away: forget its retained evidence, standing verdict and pending grants. */
  forget(name: string): void {
    this.#retained.delete(name);
    this.#grants.forget(name);
  }
}
