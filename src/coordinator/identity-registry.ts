/**
 * Which node currently holds which evidence identifiers (evidence-identity.ts), so that one
 * genuine CVM launch or GPU cannot attest two nodes at once.
 *
 * A node holds the identifiers of its accepted evidence while that verdict stands: its
 * NodeAttestation says Attested=True, the attestation has not expired, and the Node exists. A
 * refusal (of its own evidence, on re-appraisal, or a Manifest it no longer meets) releases them.
 * The identifiers are recorded in NodeAttestation status, so a new leader rebuilds every hold from
 * its informer cache; the leader's own decisions, which the cache may not show yet, take
 * precedence over it.
 */
import type { NodeAttestation } from '../api/node-attestation.ts';
import { type Reason, reason } from '../attestation/verdict.ts';
import { type EvidenceIdentifier, identifierKey, identifiersFromStatus } from './evidence-identity.ts';

export interface IdentityRegistryDeps {
  /** The NodeAttestations as the informer sees them. */
  nodeAttestations: { list(): readonly NodeAttestation[] };
  /** Whether the Node still exists (a deleted node holds nothing). */
  nodeExists: (name: string) => boolean;
}

interface Hold {
  identifiers: readonly EvidenceIdentifier[];
  expiresAt: number;
}

export class IdentityRegistry {
  readonly #deps: IdentityRegistryDeps;
  /** This leader's decisions: a hold, or null for "released". */
  readonly #decided = new Map<string, Hold | null>();

  constructor(deps: IdentityRegistryDeps) {
    this.#deps = deps;
  }

  /** The node's accepted evidence: it holds these identifiers (and no others) until `expiresAt`. */
  hold(node: string, identifiers: readonly EvidenceIdentifier[], expiresAt: Date): void {
    this.#decided.set(node, { identifiers, expiresAt: expiresAt.getTime() });
  }

  /** The node is no longer attested: it holds nothing. */
  release(node: string): void {
    this.#decided.set(node, null);
  }

  /** One reason per identifier that another node currently holds, naming that node. */
  conflicts(node: string, identifiers: readonly EvidenceIdentifier[], now: Date): Reason[] {
    const wanted = new Map(identifiers.map((id) => [identifierKey(id), id]));
    const reasons: Reason[] = [];
    for (const [holder, held] of this.#holds(now)) {
      if (holder === node) continue;
      for (const id of held) {
        const mine = wanted.get(identifierKey(id));
        if (!mine) continue;
        wanted.delete(identifierKey(id));
        reasons.push(
          reason(
            'coordinator.evidence.in-use',
            `${mine.label} is currently attested for node ${holder}: one CVM launch or GPU attests one node at a time`,
          ),
        );
      }
    }
    return reasons;
  }

  /** Current holds: this leader's decisions over what NodeAttestation status records. */
  #holds(now: Date): Map<string, readonly EvidenceIdentifier[]> {
    const t = now.getTime();
    const holds = new Map<string, readonly EvidenceIdentifier[]>();
    for (const na of this.#deps.nodeAttestations.list()) {
      const name = na.metadata.name;
      if (!name || this.#decided.has(name) || !na.status) continue;
      const attested = na.status.conditions?.find((c) => c.type === 'Attested')?.status === 'True';
      const expires = na.status.expiresAt ? new Date(na.status.expiresAt).getTime() : NaN;
      if (attested && expires > t) holds.set(name, identifiersFromStatus(na.status));
    }
    for (const [name, hold] of this.#decided) {
      if (hold && hold.expiresAt > t) holds.set(name, hold.identifiers);
    }
    for (const name of new Set([...holds.keys(), ...this.#decided.keys()])) {
      if (this.#deps.nodeExists(name)) continue;
      holds.delete(name);
      this.#decided.delete(name);
    }
    return holds;
  }
}
