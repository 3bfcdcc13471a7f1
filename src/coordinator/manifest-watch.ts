/**
 * The agents' long poll on the active Manifest (GET /v1/watch): an agent names the Manifest hash
 * it last attested under and is answered as soon as another one is active, or after a timeout.
 *
 * When the active Manifest changes the Coordinator first appraises the nodes' retained evidence
 * again; a node in that list is answered with its own outcome (refused: set the GPUs not ready;
 * accepted again: a grant to activate them), the others at once. Every answer says within how
 * long to attest again: each agent picks a random point in that window, so that hundreds of
 * agents do not submit evidence in the same second. One waiting request per node; a new one
 * replaces it.
 */
import type { WatchResponse } from '../protocol/messages.ts';

export interface WatchNotice {
  manifestHash: string;
  attested?: boolean;
  grant?: string;
}

interface Waiter {
  known: string;
  answer: (response: WatchResponse) => void;
  fail: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface ManifestWatchOptions {
  /** The active Manifest's hash now (undefined: none). */
  active: () => string | undefined;
  /** The window in which agents attest again (ms), e.g. defaultSpreadMs(number of GPU nodes). */
  spreadMs: () => number;
}

/** 50 ms per node, at least 1 s and at most 60 s: about 20 appraisals a second at the top. */
export function defaultSpreadMs(agents: number): number {
  return Math.min(60_000, Math.max(1000, agents * 50));
}

export class ManifestWatch {
  readonly #options: ManifestWatchOptions;
  readonly #waiters = new Map<string, Waiter>();
  /** The latest notice per node (for agents that reconnect after it was sent). */
  readonly #notices = new Map<string, WatchNotice>();
  /** The hash the Coordinator is settling (re-appraising for), and the nodes still waiting for their outcome. */
  #settling: { hash: string; nodes: Set<string> } | undefined;
  #settled: string | undefined;
  #closed: Error | undefined;

  constructor(options: ManifestWatchOptions) {
    this.#options = options;
    // What is active when the Coordinator starts counts as settled: a later switch is waited for.
    this.#settled = options.active();
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Resolves when the node should act: at once if a Manifest other than `known` is active and the
   * node's outcome under it is settled, else when it is, else after `timeoutMs` (changed: false).
   */
  wait(node: string, known: string, timeoutMs: number, signal?: AbortSignal): Promise<WatchResponse> {
    if (this.#closed) return Promise.reject(this.#closed);
    const ready = this.#ready(node, known);
    if (ready) return Promise.resolve(ready);
    this.#waiters.get(node)?.answer(this.#unchanged(known));
    return new Promise<WatchResponse>((resolve, reject) => {
      const done = () => {
        clearTimeout(waiter.timer);
        if (this.#waiters.get(node) === waiter) this.#waiters.delete(node);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        known,
        answer: (response) => {
          done();
          resolve(response);
        },
        fail: (err) => {
          done();
          reject(err);
        },
        timer: setTimeout(() => waiter.answer(this.#unchanged(known)), timeoutMs),
      };
      const onAbort = () => waiter.answer(this.#unchanged(known));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.set(node, waiter);
    });
  }

  /**
   * The Coordinator starts settling `hash`: `nodes` will each get a notice (their retained evidence
   * is appraised again); every other waiting agent is told now.
   */
  begin(hash: string, nodes: Iterable<string>): void {
    this.#settling = { hash, nodes: new Set(nodes) };
    for (const node of [...this.#waiters.keys()]) this.#answerIfReady(node);
  }

  /** A node's outcome under the Manifest being settled. */
  notify(node: string, notice: WatchNotice): void {
    this.#notices.set(node, notice);
    this.#settling?.nodes.delete(node);
    this.#answerIfReady(node);
  }

  /** Every node's outcome under `hash` is settled. */
  end(hash: string): void {
    if (this.#settling?.hash === hash) this.#settling = undefined;
    this.#settled = hash;
    for (const node of [...this.#waiters.keys()]) this.#answerIfReady(node);
  }

  /** The node went away. */
  forget(node: string): void {
    this.#notices.delete(node);
    this.#waiters.get(node)?.answer(this.#unchanged(this.#waiters.get(node)!.known));
  }

  /** The Coordinator stops (leadership lost): waiting agents get `err` and ask another replica. */
  close(err: Error): void {
    this.#closed = err;
    for (const waiter of [...this.#waiters.values()]) waiter.fail(err);
  }

  #answerIfReady(node: string): void {
    const waiter = this.#waiters.get(node);
    if (!waiter) return;
    const ready = this.#ready(node, waiter.known);
    if (ready) waiter.answer(ready);
  }

  /** The answer for an agent that knows `known`, or undefined while it should keep waiting. */
  #ready(node: string, known: string): WatchResponse | undefined {
    const active = this.#options.active();
    const target = this.#settling?.hash ?? this.#settled;
    if (known === active || known === target) return undefined;
    if (active === undefined) return { manifestHash: null, changed: true, reattestWithinMs: this.#options.spreadMs() };
    // The Coordinator is about to settle the newly active Manifest (begin/end): wait for it.
    if (active !== target) return undefined;
    if (this.#settling?.nodes.has(node)) return undefined;
    const notice = this.#notices.get(node);
    const own = notice?.manifestHash === active ? notice : undefined;
    return {
      manifestHash: active,
      changed: true,
      reattestWithinMs: this.#options.spreadMs(),
      ...(own?.attested !== undefined ? { attested: own.attested } : {}),
      ...(own?.grant ? { grant: own.grant } : {}),
    };
  }

  #unchanged(known: string): WatchResponse {
    return { manifestHash: known, changed: false };
  }
}
