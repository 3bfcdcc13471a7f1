/**
 * One CVM launch and one GPU attest one holder at a time, pods included (docs/design.md D37): a
 * pod whose accepted evidence shows an SEV-SNP launch (REPORT_ID), a GPU UUID or a GPU device
 * holds them until its certificate expires or the pod is gone (a pod `podExists` does not watch,
 * such as a secret-service pod, until its certificate expires: holding longer refuses more, never
 * less), and evidence that shows an identifier another pod holds, or a node holds
 * (NodeAttestation status, identity-registry.ts), is refused with coordinator.evidence.in-use. The holds live in the leader's memory: after a
 * failover they come back as pods renew (their certificates stay valid meanwhile).
 */
import { type Reason, reason } from '../attestation/verdict.ts';
import { type EvidenceIdentifier, identifierKey } from './evidence-identity.ts';

export interface WorkloadHoldsDeps {
  /** Whether the pod (its subject, pod/<namespace>/<name>) with this UID still exists. */
  podExists: (key: string, uid: string) => boolean;
  /** The identifiers nodes hold (an IdentityRegistry): one reason per identifier another holder has. */
  nodes: { conflicts(holder: string, identifiers: readonly EvidenceIdentifier[], now: Date): Reason[] };
}

interface Hold {
  uid: string;
  /** Whether `podExists` knows the pod, so that its absence ends the hold. */
  tracked: boolean;
  identifiers: readonly EvidenceIdentifier[];
  expiresAt: number;
}

export class WorkloadHolds {
  readonly #deps: WorkloadHoldsDeps;
  readonly #holds = new Map<string, Hold>();

  constructor(deps: WorkloadHoldsDeps) {
    this.#deps = deps;
  }

  /** The pod's accepted evidence: it holds these identifiers (and no others) until `expiresAt`. */
  hold(
    pod: string,
    uid: string,
    identifiers: readonly EvidenceIdentifier[],
    expiresAt: Date,
    { tracked = true }: { tracked?: boolean } = {},
  ): void {
    this.#holds.set(pod, { uid, tracked, identifiers, expiresAt: expiresAt.getTime() });
  }

  release(pod: string): void {
    this.#holds.delete(pod);
  }

  /** One reason per identifier another pod or a node holds now, naming the holder. `pod` is the pod's subject (pod/<namespace>/<name>), which no node name can be. */
  conflicts(pod: string, identifiers: readonly EvidenceIdentifier[], now: Date): Reason[] {
    const reasons = [...this.#deps.nodes.conflicts(pod, identifiers, now)];
    const taken = new Set<string>();
    for (const [holder, hold] of this.#live(now)) {
      if (holder === pod) continue;
      const held = new Set(hold.identifiers.map(identifierKey));
      for (const id of identifiers) {
        if (!held.has(identifierKey(id)) || taken.has(identifierKey(id))) continue;
        taken.add(identifierKey(id));
        reasons.push(
          reason(
            'coordinator.evidence.in-use',
            `${id.label} is currently attested for ${holder}: one CVM launch or GPU attests one pod at a time`,
          ),
        );
      }
    }
    return reasons;
  }

  /** Pods holding something now (for tests and metrics). */
  get size(): number {
    return this.#live(new Date()).size;
  }

  #live(now: Date): Map<string, Hold> {
    for (const [pod, hold] of this.#holds)
      if (hold.expiresAt <= now.getTime() || (hold.tracked && !this.#deps.podExists(pod, hold.uid)))
        this.#holds.delete(pod);
    return this.#holds;
  }
}
