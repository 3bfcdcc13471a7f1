/**
 * The node agent: asks the Coordinator for a nonce, collects CVM evidence whose REPORT_DATA
 * binds that nonce and the agent's own key, and one report per GPU with the same nonce, submits
 * them, and activates the GPUs through NVML only with a grant it verified: signed by the
 * Coordinator, for this node, these GPUs, this evidence and this key. It reports the ready state
 * it read back, signed with its key. A refusal deactivates the GPUs (fail closed).
 *
 * Between rounds it holds a long poll on the Coordinator (GET /v1/watch) that answers when the
 * active Manifest changes: a refusal under the new Manifest sets the GPUs not ready at once, a
 * grant for its last evidence (it meets the new Manifest again) activates them, and in any case
 * the agent attests again at a random point of the window the Coordinator names.
 */
import { errorMessage } from '../errors.ts';
import type { Logger } from '../observability/log.ts';
import { signActivationReport } from '../protocol/activation-report.ts';
import { type CountersignatureClaims, signCountersignature } from '../protocol/countersignature.ts';
import { encodeEvidenceRequest, evidenceDigest, reportDataFor } from '../protocol/evidence-request.ts';
import {
  ACTIVATE_PATH,
  type ActivationReport,
  type ActivationResponse,
  ATTEST_PATH,
  type AttestResponse,
  MAX_WATCH_SECONDS,
  NONCE_PATH,
  type NonceResponse,
  WATCH_PATH,
  type WatchResponse,
} from '../protocol/messages.ts';
import { type AgentKey, createAgentKey } from './agent-key.ts';
import type { CoordinatorClient, CoordinatorHttpError } from './coordinator-client.ts';
import type { CvmEvidenceSource, GpuControl } from './evidence/source.ts';
import { checkGrant } from './grant-check.ts';
import { sleep } from './sleep.ts';

export interface AgentOptions {
  nodeName: string;
  client: CoordinatorClient;
  cvm: CvmEvidenceSource;
  gpus: GpuControl;
  log: Logger;
  now?: () => Date;
  /** [0, 1): where in the Coordinator's window to attest again after a Manifest change. */
  random?: () => number;
}

export type AttestOutcome =
  | { accepted: true; activated: boolean; gpus: string[]; reattestAfterMs: number; reason?: string }
  | { accepted: false; reasons: string[]; reattestAfterMs: number };

/** What the agent last submitted: a grant for it names this digest and these GPUs. */
interface Submission {
  digest: string;
  uuids: string[];
  reattestAfterMs: number;
}

const RETRY_AFTER_REFUSAL_MS = 60_000;
/** A Coordinator without /v1/watch (older version): ask again this much later. */
const WATCH_UNSUPPORTED_RETRY_MS = 300_000;

export class NodeAgent {
  readonly #options: AgentOptions;
  readonly #log: Logger;
  readonly #random: () => number;
  #key: AgentKey | undefined;
  #last: AttestOutcome | undefined;
  /** The Manifest the Coordinator last appraised this node under (what the watch names). */
  #manifestHash: string | undefined;
  #submitted: Submission | undefined;
  /** GPU work (a round, an activation) runs one at a time. */
  #exclusive: Promise<unknown> = Promise.resolve();
  #nextAttestAt = 0;
  /** Whether the Coordinator's last word on this node was an acceptance with GPUs activated (it may countersign). */
  #vouches = false;
  #wake: (() => void) | undefined;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'agent', node: options.nodeName });
    this.#random = options.random ?? Math.random;
  }

  get lastOutcome(): AttestOutcome | undefined {
    return this.#last;
  }

  /** The public half of the agent key (the one its node's evidence binds), once it has one. */
  get publicJwk(): Readonly<Record<string, unknown>> | undefined {
    return this.#key?.publicJwk;
  }

  /**
   * Countersigns a pod's key with the agent key (the one this node's evidence bound), naming this
   * node and the Manifest the Coordinator last appraised it under; only while the Coordinator's
   * last word on this node was an acceptance with its GPUs activated (fail closed: an agent that is
   * not attested vouches for nobody). `final`: the Coordinator refused this node (the pod's renewal
   * drops its certificate); otherwise it has not been answered yet (the pod waits).
   */
  async countersign(
    pod: Omit<CountersignatureClaims, 'node' | 'manifestHash' | 'iat'>,
    now: Date,
  ): Promise<{ ok: true; countersignature: string } | { ok: false; final: boolean; reason: string }> {
    if (!this.#vouches || !this.#key || !this.#manifestHash) {
      const refused = this.#last !== undefined;
      return {
        ok: false,
        final: refused,
        reason: refused
          ? `node ${this.#options.nodeName} is not attested: its evidence was refused or its GPUs are not activated`
          : `node ${this.#options.nodeName} is not attested yet`,
      };
    }
    const countersignature = await signCountersignature(
      { ...pod, node: this.#options.nodeName, manifestHash: this.#manifestHash, iat: Math.floor(now.getTime() / 1000) },
      this.#key.privateKey,
    );
    return { ok: true, countersignature };
  }

  /** One round: nonce, evidence, grant, activation. Throws on transport or device errors. */
  attestOnce(): Promise<AttestOutcome> {
    return this.#alone(() => this.#round());
  }

  async #round(): Promise<AttestOutcome> {
    const { client, cvm, gpus } = this.#options;
    const key = await this.#agentKey();
    const { nonce } = (await client.post<NonceResponse>(NONCE_PATH, {})).body;
    const nonceBytes = new Uint8Array(Buffer.from(nonce, 'hex'));
    const cvmEvidence = await cvm.collect(reportDataFor(nonceBytes, key.spkiDer));
    const gpuEvidence = await gpus.collect(nonceBytes);
    const request = encodeEvidenceRequest(nonce, key.publicJwk as Record<string, unknown>, {
      cvm: cvmEvidence,
      gpus: gpuEvidence.map((g) => ({ uuid: g.uuid, report: g.report, certificateChain: g.certificateChainPem })),
    });
    const { body: answer } = await client.post<AttestResponse>(ATTEST_PATH, request, [403]);
    if (answer.manifestHash) this.#manifestHash = answer.manifestHash;
    const uuids = gpuEvidence.map((g) => g.uuid);
    if (!answer.accepted) {
      this.#submitted = { digest: evidenceDigest(request), uuids, reattestAfterMs: RETRY_AFTER_REFUSAL_MS };
      this.#log.warn({ reasons: answer.reasons }, 'the Coordinator refused the evidence');
      await this.#deactivate();
      this.#last = { accepted: false, reasons: answer.reasons, reattestAfterMs: RETRY_AFTER_REFUSAL_MS };
      return this.#last;
    }
    const reattestAfterMs = answer.reattestAfterSeconds * 1000;
    this.#submitted = { digest: evidenceDigest(request), uuids, reattestAfterMs };
    this.#last = await this.#activate(answer.grant, this.#submitted, key);
    this.#vouches = this.#last.accepted && this.#last.activated;
    if (this.#vouches)
      this.#log.info({ gpus: uuids.length, manifest: answer.manifestHash }, 'attested; GPUs activated');
    return this.#last;
  }

  /** Verifies the grant, sets the GPUs ready, reads the state back and reports it, signed. */
  async #activate(grant: string, submission: Submission, key: AgentKey): Promise<AttestOutcome> {
    const { client, gpus } = this.#options;
    const now = (this.#options.now ?? (() => new Date()))();
    const { uuids, reattestAfterMs } = submission;
    const problem = await checkGrant(this.#options.client, grant, {
      node: this.#options.nodeName,
      gpus: uuids,
      evidence: submission.digest,
      agentKeyThumbprint: key.thumbprint,
      now,
    });
    if (problem) {
      // A grant we cannot verify is no grant: do not touch the GPUs.
      this.#log.error({ problem }, 'refusing to activate: the grant is not valid');
      return {
        accepted: true,
        activated: false,
        gpus: uuids,
        reattestAfterMs: RETRY_AFTER_REFUSAL_MS,
        reason: problem,
      };
    }
    await gpus.setGpusReady(true);
    const ready = await gpus.gpusReady();
    const report: ActivationReport = { grant, gpusReady: ready, gpus: uuids };
    const jws = await signActivationReport(report, key.privateKey);
    const { body: activation } = await client.post<ActivationResponse>(ACTIVATE_PATH, { report: jws }, [403]);
    if (!activation.activated) {
      // The Coordinator's word decides (its clock, its grants): GPUs it did not record as activated go back to not ready.
      this.#log.error({ reason: activation.reason }, 'the Coordinator did not record the activation');
      await this.#deactivate();
      return {
        accepted: true,
        activated: false,
        gpus: uuids,
        reattestAfterMs: Math.min(reattestAfterMs, RETRY_AFTER_REFUSAL_MS),
        reason: activation.reason,
      };
    }
    return { accepted: true, activated: true, gpus: uuids, reattestAfterMs };
  }

  async #deactivate(): Promise<void> {
    this.#vouches = false;
    const { gpus } = this.#options;
    if (await gpus.gpusReady()) {
      await gpus.setGpusReady(false);
      this.#log.warn('GPUs set not ready: this node is no longer attested');
    }
  }

  /**
   * Attests until the signal aborts: again after the interval the Coordinator asks for, with
   * backoff on errors, and soon after the active Manifest changes (the watch).
   */
  async run(signal: AbortSignal): Promise<void> {
    const watching = this.#watch(signal);
    let failures = 0;
    while (!signal.aborted) {
      let wait: number;
      try {
        wait = (await this.attestOnce()).reattestAfterMs;
        failures = 0;
      } catch (err) {
        wait = Math.max((err as CoordinatorHttpError).retryAfterMs ?? 0, Math.min(1000 * 2 ** failures, 60_000));
        failures++;
        this.#log.warn({ err: errorMessage(err), retryInMs: wait }, 'attestation round failed');
      }
      this.#nextAttestAt = Date.now() + wait;
      await this.#sleepUntilNextRound(signal);
    }
    await watching;
  }

  /** Long polls the Coordinator for a change of the active Manifest while the agent runs. */
  async #watch(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const known = this.#manifestHash;
      if (!known) {
        // Nothing to watch before the first answer from the Coordinator.
        await sleep(1000, signal);
        continue;
      }
      try {
        const path = `${WATCH_PATH}?manifest=${known}&timeoutSeconds=${MAX_WATCH_SECONDS}`;
        const answer = await this.#options.client.get<WatchResponse>(path, {
          signal,
          timeoutMs: (MAX_WATCH_SECONDS + 20) * 1000,
        });
        failures = 0;
        if (answer.changed) await this.#onManifestChange(answer);
      } catch (err) {
        if (signal.aborted) break;
        const status = (err as CoordinatorHttpError).status;
        const wait =
          status === 404
            ? WATCH_UNSUPPORTED_RETRY_MS
            : Math.max((err as CoordinatorHttpError).retryAfterMs ?? 0, Math.min(1000 * 2 ** failures, 30_000));
        failures++;
        this.#log.debug({ err: errorMessage(err), retryInMs: wait }, 'watch failed');
        await sleep(wait, signal);
      }
    }
  }

  async #onManifestChange(answer: WatchResponse): Promise<void> {
    this.#log.info(
      { manifest: answer.manifestHash, attested: answer.attested, grant: answer.grant !== undefined },
      'the active Manifest changed',
    );
    // No Manifest active: nothing to watch until a round is answered under one.
    this.#manifestHash = answer.manifestHash ?? undefined;
    if (answer.attested === false) {
      await this.#alone(() => this.#deactivate());
    } else if (answer.grant) {
      const grant = answer.grant;
      const submission = this.#submitted;
      const key = this.#key;
      try {
        // Only for the evidence it was issued for: a round since then superseded it.
        const outcome = await this.#alone(async () =>
          submission && key && this.#submitted === submission ? this.#activate(grant, submission, key) : undefined,
        );
        if (outcome?.accepted && outcome.activated) {
          this.#last = outcome;
          this.#vouches = true;
          this.#log.info({ manifest: answer.manifestHash }, 'the last evidence meets the new Manifest; GPUs activated');
        }
      } catch (err) {
        this.#log.warn({ err: errorMessage(err) }, 'activation with the re-appraisal grant failed');
      }
    }
    // Attest again at a random point of the window, so that all nodes do not come at once.
    const at = Date.now() + Math.floor(this.#random() * (answer.reattestWithinMs ?? 0));
    if (at < this.#nextAttestAt) {
      this.#nextAttestAt = at;
      this.#wake?.();
    }
  }

  async #sleepUntilNextRound(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const remaining = this.#nextAttestAt - Date.now();
      if (remaining <= 0) return;
      await new Promise<void>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', finish);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(finish, remaining);
        signal.addEventListener('abort', finish, { once: true });
        this.#wake = finish;
      });
    }
  }

  /** Runs GPU work one piece at a time. */
  #alone<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#exclusive.then(work, work);
    this.#exclusive = run.catch(() => undefined);
    return run;
  }

  async #agentKey(): Promise<AgentKey> {
    this.#key ??= await createAgentKey();
    return this.#key;
  }
}
