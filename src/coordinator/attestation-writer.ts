/**
 * The status and event writer: puts what the Coordinator decided about a node where people and
 * the other components look. Status goes to the node's NodeAttestation (replaced whole, through
 * the store), Events go out rate-limited per node (node-events.ts), and each gets a log line.
 * The decisions are made elsewhere (decision.ts, reappraisal.ts, coordinator.ts); their wording
 * is here.
 */
import type * as k8s from '@kubernetes/client-node';
import { API_VERSION } from '../api/common.ts';
import { NODE_ATTESTATION_KIND, type NodeAttestation, type NodeAttestationStatus } from '../api/node-attestation.ts';
import type { Reason } from '../attestation/verdict.ts';
import type { Logger } from '../observability/log.ts';
import type { EventType, NodeEvents } from './node-events.ts';
import {
  activatedStatus,
  activationRefusedStatus,
  isActivated,
  isAttestedUnder,
  manifestChangedStatus,
  summarise,
  type VerdictFacts,
  verdictStatus,
} from './status.ts';

/** What the Coordinator needs of NodeAttestation storage (the API server: node-attestation-store.ts; memory in unit tests). */
export interface AttestationStore {
  get(name: string): Promise<NodeAttestation | undefined>;
  ensure(node: k8s.V1Node): Promise<NodeAttestation>;
  updateStatus(
    name: string,
    update: (current: NodeAttestationStatus | undefined) => NodeAttestationStatus | undefined,
    known?: NodeAttestation,
  ): Promise<NodeAttestation | undefined>;
}

/** What a verdict was reached on: evidence the agent just submitted, or retained evidence after a Manifest change. */
export type VerdictCause = 'attest' | 'reappraisal';

export class AttestationWriter {
  readonly #store: AttestationStore;
  readonly #events: NodeEvents;
  readonly #log: Logger;
  /** The UID of each node's NodeAttestation as last seen, for the Events about it. */
  readonly #uids = new Map<string, string>();

  constructor(store: AttestationStore, events: NodeEvents, log: Logger) {
    this.#store = store;
    this.#events = events;
    this.#log = log;
  }

  async get(name: string): Promise<NodeAttestation | undefined> {
    return this.#seen(await this.#store.get(name));
  }

  /** The node's NodeAttestation, created if missing. */
  async ensure(node: k8s.V1Node): Promise<NodeAttestation> {
    return this.#seen(await this.#store.ensure(node))!;
  }

  #seen<T extends NodeAttestation | undefined>(na: T): T {
    if (na?.metadata.name && na.metadata.uid) this.#uids.set(na.metadata.name, na.metadata.uid);
    return na;
  }

  /**
   * The verdict in status. `keepsActivation`: an activated node whose evidence meets the new
   * Manifest keeps its conditions, only the Manifest changes. Throws when nothing was written.
   */
  async verdict(
    node: k8s.V1Node,
    facts: VerdictFacts,
    cause: VerdictCause,
    keepsActivation: boolean,
    previous?: NodeAttestation,
  ): Promise<void> {
    const { manifestHash, accepted, reasons, now } = facts;
    const known = this.#seen(previous ?? (await this.#store.ensure(node)));
    await this.#store.updateStatus(
      node.metadata!.name!,
      (current) => {
        if (keepsActivation && current) return manifestChangedStatus(current, manifestHash, [], now);
        if (cause === 'reappraisal' && !accepted && current)
          return manifestChangedStatus(verdictStatus(current, facts), manifestHash, reasons, now);
        return verdictStatus(current, facts);
      },
      known,
    );
  }

  /** A refusal: a Warning, on re-appraisal only for a node that was attested. */
  async refused(
    name: string,
    reasons: readonly Reason[],
    manifestHash: string,
    cause: VerdictCause,
    wasAttested: boolean,
    now: Date,
  ): Promise<void> {
    const message =
      cause === 'attest'
        ? `evidence refused: ${summarise(reasons)}`
        : `the node no longer meets Manifest ${manifestHash}: ${summarise(reasons)}`;
    this.#log.warn(
      { node: name, reasons: reasons.map((r) => r.check), manifest: manifestHash, cause },
      cause === 'attest' ? 'node evidence refused' : 'node evidence refused on re-appraisal',
    );
    if (cause === 'attest' || wasAttested)
      await this.#event(name, 'Warning', cause === 'attest' ? 'AttestationRefused' : 'ManifestChanged', message, now);
  }

  /** An activated node still meets the new Manifest. */
  kept(name: string, manifestHash: string): void {
    this.#log.info({ node: name, manifest: manifestHash }, 'node still meets the new Manifest');
  }

  /** An acceptance, with a grant issued for it. */
  async accepted(
    name: string,
    gpus: number,
    manifestHash: string,
    simulated: boolean,
    cause: VerdictCause,
    now: Date,
  ): Promise<void> {
    this.#log.info(
      { node: name, gpus, manifest: manifestHash, simulated, cause },
      'node evidence accepted; grant issued',
    );
    const how = cause === 'attest' ? '' : ' on re-appraisal of its last evidence';
    await this.#event(
      name,
      simulated ? 'Warning' : 'Normal',
      'Attested',
      `CVM and ${gpus} GPUs verified against Manifest ${manifestHash}${how}${simulated ? ' with SIMULATED evidence (development only)' : ''}; activation grant issued`,
      now,
    );
  }

  /** A new Manifest is active and there is no recent evidence of the node to appraise against it. */
  async mustAttestAgain(name: string, manifestHash: string, previous: NodeAttestation, now: Date): Promise<void> {
    this.#seen(previous);
    await this.#store.updateStatus(
      name,
      (current) =>
        current && current.manifestHash !== manifestHash
          ? manifestChangedStatus(current, manifestHash, undefined, now)
          : undefined,
      previous,
    );
    this.#log.warn({ node: name, manifest: manifestHash }, 'node must attest again: no recent evidence to appraise');
    await this.#event(
      name,
      'Warning',
      'ManifestChanged',
      `Manifest ${manifestHash} is now active: the node must attest again`,
      now,
    );
  }

  /**
   * The agent's read-back after it activated `gpus` with a grant issued under `manifestHash`.
   * Returns false, writing nothing, when the status does not record an acceptance under it.
   */
  async activation(
    name: string,
    gpus: readonly string[],
    manifestHash: string,
    ready: boolean,
    now: Date,
    verdictExpiresAt?: Date,
  ): Promise<boolean> {
    let recorded = false;
    await this.#store.updateStatus(name, (status) => {
      recorded = isAttestedUnder(status, manifestHash);
      return recorded ? activatedStatus(status!, gpus, ready, now, verdictExpiresAt) : undefined;
    });
    return recorded;
  }

  async activationFailed(name: string, now: Date): Promise<void> {
    await this.#event(name, 'Warning', 'ActivationFailed', 'the agent read back GPUs not ready after activation', now);
  }

  async activated(name: string, gpus: number, now: Date): Promise<void> {
    this.#log.info({ node: name, gpus }, 'GPUs activated');
    await this.#event(name, 'Normal', 'GPUsActivated', `${gpus} GPUs activated for confidential work`, now);
  }

  /** A refused activation report; an activated node is marked not activated (the agent sets its GPUs not ready). */
  async activationRefused(name: string, message: string, now: Date): Promise<void> {
    this.#log.warn({ node: name, reason: message }, 'activation refused');
    await this.#store.updateStatus(name, (status) =>
      status && isActivated(status) ? activationRefusedStatus(status, message, now) : undefined,
    );
    await this.#event(name, 'Warning', 'ActivationRefused', message, now);
  }

  async #event(name: string, type: EventType, reason: string, message: string, now: Date): Promise<void> {
    // Without the UID `kubectl describe nodeattestation` shows no Events; one read where it is not known yet.
    const uid = this.#uids.get(name) ?? (await this.get(name).catch(() => undefined))?.metadata.uid;
    await this.#events.record(
      name,
      { apiVersion: API_VERSION, kind: NODE_ATTESTATION_KIND, name, ...(uid ? { uid } : {}) },
      type,
      reason,
      message,
      now,
    );
  }
}
