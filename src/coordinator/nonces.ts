/**
 * Nonces the Coordinator hands out: 32 random bytes, single use, short-lived, bound to the node
 * that asked. A nonce used once, used by another node, or used late is refused.
 */
import { randomBytes } from 'node:crypto';

interface Issued {
  node: string;
  expiresAt: number;
}

export type NonceCheck = { ok: true } | { ok: false; reason: string };

export class NonceStore {
  readonly #issued = new Map<string, Issued>();
  readonly #maxOutstanding: number;

  constructor(maxOutstanding = 10_000) {
    this.#maxOutstanding = maxOutstanding;
  }

  issue(node: string, ttlMs: number, now: Date): { nonce: string; expiresAt: Date } {
    this.#sweep(now);
    if (this.#issued.size >= this.#maxOutstanding) {
      // Oldest first: Map iteration order is insertion order.
      const oldest = this.#issued.keys().next().value;
      if (oldest !== undefined) this.#issued.delete(oldest);
    }
    const nonce = randomBytes(32).toString('hex');
    const expiresAt = new Date(now.getTime() + ttlMs);
    this.#issued.set(nonce, { node, expiresAt: expiresAt.getTime() });
    return { nonce, expiresAt };
  }

  /** Consumes the nonce: whatever the outcome, it cannot be used again. */
  take(nonce: string, node: string, now: Date): NonceCheck {
    const issued = this.#issued.get(nonce);
    if (!issued) return { ok: false, reason: 'unknown nonce: not issued by this Coordinator, already used, or expired' };
    this.#issued.delete(nonce);
    if (issued.node !== node) return { ok: false, reason: `the nonce was issued to node ${issued.node}, not ${node}` };
    if (issued.expiresAt <= now.getTime()) return { ok: false, reason: `the nonce expired at ${new Date(issued.expiresAt).toISOString()}` };
    return { ok: true };
  }

  get size(): number {
    return this.#issued.size;
  }

  #sweep(now: Date): void {
    for (const [nonce, issued] of this.#issued) if (issued.expiresAt <= now.getTime()) this.#issued.delete(nonce);
  }
}
