/**
 * Re-appraisal (docs/design.md D9): when the active Manifest changes, every node whose
 * NodeAttestation was made against another one is appraised again on its retained evidence
 * (accepted or refused) while that evidence is younger than the Manifest's evidenceMaxAge. Nodes
 * that meet it stay, or become, attested (those not activated get a grant through the watch);
 * the others lose their attestation. Attested nodes without such evidence lose it too and must
 * attest again. Every waiting agent is then told to attest again, spread over a window
 * (manifest-watch.ts). REAPPRAISAL_CONCURRENCY nodes are settled at once (each node's own work
 * one step after another, under its serial key): a fleet's API round trips overlap, and the
 * appraisals' CPU stays bounded.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../api/manifest.ts';
import type { NodeAttestation } from '../api/node-attestation.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import type { NodeAppraiser } from './appraisal.ts';
import type { AttestationWriter } from './attestation-writer.ts';
import type { Decisions } from './decision.ts';
import { evidenceMaxAgeMs, reattestationMs } from './manifest-timing.ts';
import type { ManifestWatch, WatchNotice } from './manifest-watch.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { KeyedSerial } from './serial.ts';
import { isAttested } from './status.ts';

/** Nodes settled at once in a re-appraisal. */
export const REAPPRAISAL_CONCURRENCY = 8;

export interface ReappraisalDeps {
  nodes: { get(name: string): k8s.V1Node | undefined };
  decisions: Decisions;
  appraiser: NodeAppraiser;
  writer: AttestationWriter;
  watch: ManifestWatch;
  serial: KeyedSerial;
  log: Logger;
  metrics?: CoordinatorMetrics;
  now: () => Date;
}

/** Which nodes to settle under `manifest`, and whose retained evidence is too old to appraise again. Pure. */
export function reappraisalTargets(
  attestations: readonly NodeAttestation[],
  manifest: Manifest,
  now: Date,
  collectedAt: (node: string) => Date | undefined,
): { targets: string[]; stale: string[] } {
  const hash = manifest.status!.hash!;
  const maxAgeMs = evidenceMaxAgeMs(manifest);
  const targets: string[] = [];
  const stale: string[] = [];
  for (const na of attestations) {
    const name = na.metadata.name!;
    if (!na.status || na.status.manifestHash === hash) continue;
    const collected = collectedAt(name);
    const young =
      collected !== undefined &&
      now.getTime() - collected.getTime() < maxAgeMs &&
      collected.getTime() + reattestationMs(manifest) > now.getTime();
    if (!young) stale.push(name);
    if (young || isAttested(na.status)) targets.push(name);
  }
  return { targets, stale };
}

export class Reappraisal {
  readonly #deps: ReappraisalDeps;

  constructor(deps: ReappraisalDeps) {
    this.#deps = deps;
  }

  /** Settles every node under `manifest` (the active one), REAPPRAISAL_CONCURRENCY at a time, and tells the waiting agents. */
  async run(manifest: Manifest, attestations: readonly NodeAttestation[]): Promise<void> {
    const { decisions, watch, serial, log } = this.#deps;
    const hash = manifest.status!.hash!;
    const { targets, stale } = reappraisalTargets(
      attestations,
      manifest,
      this.#deps.now(),
      (name) => decisions.retained(name)?.collectedAt,
    );
    for (const name of stale) decisions.dropRetained(name);
    watch.begin(hash, targets);
    let next = 0;
    const settle = async () => {
      while (next < targets.length) {
        const name = targets[next++]!;
        try {
          const notice = await serial.run(name, () => this.#node(name, manifest));
          watch.notify(name, notice ?? { manifestHash: hash });
        } catch (err) {
          watch.notify(name, { manifestHash: hash });
          log.error({ node: name, err: errorMessage(err) }, 're-appraisal failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(REAPPRAISAL_CONCURRENCY, targets.length) }, settle));
    watch.end(hash);
  }

  async #node(name: string, manifest: Manifest): Promise<WatchNotice | undefined> {
    const { decisions, writer, metrics } = this.#deps;
    const hash = manifest.status!.hash!;
    const node = this.#deps.nodes.get(name);
    const previous = await writer.get(name);
    // Settled meanwhile (the agent attested under the new Manifest), or gone.
    if (!node || !previous?.status || previous.status.manifestHash === hash) return undefined;
    const now = this.#deps.now();
    const retained = decisions.retained(name);
    if (!retained) {
      decisions.withdraw(name);
      await writer.mustAttestAgain(name, hash, previous, now);
      metrics?.reappraisals.inc({ result: 'no-evidence' });
      return { manifestHash: hash, attested: false };
    }
    const { verdict, simulated } = await this.#deps.appraiser.appraise(
      retained.evidence,
      retained.expectation,
      manifest,
      now,
    );
    const decision = await decisions.decide({
      node,
      retained,
      verdict,
      simulated,
      manifest,
      now,
      expiresAt: new Date(retained.collectedAt.getTime() + reattestationMs(manifest)),
      cause: 'reappraisal',
      previous,
    });
    metrics?.reappraisals.inc({ result: decision.accepted ? 'accepted' : 'refused' });
    if (!decision.accepted) metrics?.appraisals.refused(decision.reasons, 'reappraisal');
    return {
      manifestHash: hash,
      attested: decision.accepted,
      ...(decision.accepted && decision.grant ? { grant: decision.grant.token } : {}),
    };
  }
}
