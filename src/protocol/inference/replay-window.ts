/**
 * The worker proxy's replay window, one per replica (replicas share no state, and a request
 * reaches one of them): a request is accepted once, and only while its timestamp is within the
 * clock skew of the replica's time. It remembers the (secret ID, nonce) pairs it accepted with their
 * timestamps, forgets those that have aged out of the skew (the timestamp check refuses them then),
 * and never holds more than `maxEntries`: when full, it forgets the oldest and from then on
 * refuses every timestamp at or before it, so a bounded memory never reopens a replay.
 * Pure: time is a parameter. Record a request only after it decrypted, so that forged requests
 * cannot fill the window.
 */

export const DEFAULT_MAX_SKEW_MS = 5 * 60_000;
export const DEFAULT_MAX_ENTRIES = 100_000;

export type ReplayVerdict = { accepted: true } | { accepted: false; reason: 'replayed' | 'stale' | 'future' };

export class ReplayWindow {
  readonly maxSkewMs: number;
  readonly maxEntries: number;
  readonly #seen = new Set<string>();
  /** The same entries, a min-heap on the timestamp: the oldest is forgotten first, in O(log n). */
  readonly #heap: Array<{ timestamp: number; key: string }> = [];
  /** Timestamps at or before this are refused (what the window forgot while still in the skew). */
  #floor = Number.NEGATIVE_INFINITY;

  constructor(options: { maxSkewMs?: number; maxEntries?: number } = {}) {
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!(this.maxEntries >= 1) || !(this.maxSkewMs >= 0)) throw new Error('a replay window needs room and a skew');
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Checks a decrypted request at `now` (ms) and, when accepted, remembers it. */
  accept(secretId: string, nonce: string, timestamp: number, now: number): ReplayVerdict {
    while (this.#heap.length > 0 && this.#heap[0]!.timestamp < now - this.maxSkewMs) this.#pop();
    if (timestamp > now + this.maxSkewMs) return { accepted: false, reason: 'future' };
    if (timestamp < now - this.maxSkewMs || timestamp <= this.#floor) return { accepted: false, reason: 'stale' };
    const key = `${secretId}\u0000${nonce}`;
    if (this.#seen.has(key)) return { accepted: false, reason: 'replayed' };
    while (this.#seen.size >= this.maxEntries) this.#floor = Math.max(this.#floor, this.#pop());
    this.#seen.add(key);
    this.#push({ timestamp, key });
    return { accepted: true };
  }

  /** Forgets the oldest entry; returns its timestamp. */
  #pop(): number {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.timestamp < heap[m]!.timestamp) m = l;
        if (r < heap.length && heap[r]!.timestamp < heap[m]!.timestamp) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    this.#seen.delete(top.key);
    return top.timestamp;
  }

  #push(entry: { timestamp: number; key: string }): void {
    const heap = this.#heap;
    heap.push(entry);
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.timestamp <= heap[i]!.timestamp) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }
}
