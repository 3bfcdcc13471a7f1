/**
 * How a Manifest change is coming along across the fleet: the last time the number of GPU nodes
 * current for the active Manifest rose. Every node is closed when a new Manifest becomes active and
 * opens again once the Coordinator has appraised it under that Manifest (and, where its evidence is
 * too old, once its agent has attested again and activated its GPUs). On a large fleet the
 * Coordinator settles nodes one after another, so the last nodes wait through no fault of theirs;
 * eviction gives them time while the fleet keeps settling (eviction.ts, `rollout`).
 *
 * Progress starts at the Manifest's activation. In memory only: a leader that started after the
 * activation cannot know what came before, so it counts its first look as progress, which gives
 * nodes at most one more pending grace than the old leader would have.
 */
export class RolloutProgress {
  #hash: string | undefined;
  #count = 0;
  #progressAt = 0;
  #countedAt = Number.NEGATIVE_INFINITY;
  readonly #recountMs: number;
  readonly #startedAt: number;

  /**
   * @param startedAt when this leader started looking
   * @param recountMs how often the fleet is counted at most (counting reads every NodeAttestation)
   */
  constructor(startedAt: Date, recountMs = 1000) {
    this.#startedAt = startedAt.getTime();
    this.#recountMs = recountMs;
  }

  /** The Manifest hash last observed and its last progress; undefined before the first observe (metrics). */
  get last(): { hash: string; progressAt: Date } | undefined {
    return this.#hash === undefined ? undefined : { hash: this.#hash, progressAt: new Date(this.#progressAt) };
  }

  /**
   * The last time the count of current nodes rose under `hash` (activated at `activatedAt`), or
   * its activation. `count` counts the nodes current for `hash` now; it is called at most once per
   * `recountMs`.
   */
  observe(hash: string, activatedAt: Date, now: Date, count: () => number): Date {
    const at = now.getTime();
    if (hash !== this.#hash) {
      this.#hash = hash;
      this.#count = count();
      this.#countedAt = at;
      this.#progressAt = activatedAt.getTime() < this.#startedAt ? at : activatedAt.getTime();
    } else if (at - this.#countedAt >= this.#recountMs) {
      const counted = count();
      if (counted > this.#count) this.#progressAt = at;
      // A node re-attesting leaves the count for a moment: its return is progress again.
      this.#count = counted;
      this.#countedAt = at;
    }
    return new Date(this.#progressAt);
  }
}
