/**
 * A bounded memo for results that are pure functions of bytes: a Map of at most `max` entries,
 * least recently used out first, with hit and miss counts that benches and tests read. The key
 * must name the bytes by a collision-resistant hash (or be the bytes), so that no other input
 * ever finds an entry.
 */
export class BoundedMemo<V> {
  readonly #entries = new Map<string, V>();
  readonly #max: number;
  hits = 0;
  misses = 0;
  constructor(max: number) {
    this.#max = max;
  }

  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, value);
  }

  /** The value for `key`, made by `make()` once while it stays in the memo. */
  getOrMake(key: string, make: () => V): V {
    let value = this.get(key);
    if (value === undefined) {
      value = make();
      this.set(key, value);
    }
    return value;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Forgets every entry (benches that measure a cold start). */
  clear(): void {
    this.#entries.clear();
  }
}
