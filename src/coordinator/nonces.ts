/**
 * Nonces the Coordinator hands out: 32 random bytes, single use, short-lived, bound to the node
 * that asked. A nonce used once, used by another node, or used late is refused.
 *
 * Each node has its own small table: asking for more than `perNode` outstanding nonces drops that
 * node's own oldest, never another node's, so no agent can push other nodes' nonces out. The total
 * is bounded by `perNode` times the number of nodes (only existing nodes get nonces).
 */
import { randomBytes } from 'node:crypto';

export const DEFAULT_NONCES_PER_NODE = 4;

interface Issued {
  node: string;
  issuedAt: number;
  expiresAt: number;
}

export type NonceCheck = { ok: true; issuedAt: Date } | { ok: false; reason: string };

export class NonceStore {
  readonly #issued = new Map<string, Issued>();
  /** Outstanding nonces per node, oldest first. */
  readonly #byNode = new Map<string, string[]>();
  readonly #perNode: number;
  #sweptAt = 0;

  constructor(perNode = DEFAULT_NONCES_PER_NODE) {
    this.#perNode = perNode;
  }

  issue(node: string, ttlMs: number, now: Date): { nonce: string; expiresAt: Date } {
    this.#sweep(now);
    const own = this.#live(node, now);
    while (own.length >= this.#perNode) this.#issued.delete(own.shift()!);
    const nonce = randomBytes(32).toString('hex');
    const expiresAt = new Date(now.getTime() + ttlMs);
    this.#issued.set(nonce, { node, issuedAt: now.getTime(), expiresAt: expiresAt.getTime() });
    own.push(nonce);
    this.#byNode.set(node, own);
    return { nonce, expiresAt };
  }

  /**
   * Consumes the nonce if it is this node's: whatever the outcome, the node cannot use it again.
   * A nonce presented by another node stays with its owner (it cannot be burnt by others).
   */
  take(nonce: string, node: string, now: Date): NonceCheck {
    const issued = this.#issued.get(nonce);
    if (!issued)
      return { ok: false, reason: 'unknown nonce: not issued by this Coordinator, already used, or expired' };
    if (issued.node !== node) return { ok: false, reason: `the nonce was issued to node ${issued.node}, not ${node}` };
    this.#issued.delete(nonce);
    const own = this.#byNode.get(node) ?? [];
    own.splice(own.indexOf(nonce), 1);
    if (own.length === 0) this.#byNode.delete(node);
    if (issued.expiresAt <= now.getTime())
      return { ok: false, reason: `the nonce expired at ${new Date(issued.expiresAt).toISOString()}` };
    return { ok: true, issuedAt: new Date(issued.issuedAt) };
  }

  get size(): number {
    return this.#issued.size;
  }

  /** Outstanding nonces of one node. */
  outstanding(node: string, now: Date): number {
    return this.#live(node, now).length;
  }

  /** Forgets every nonce of a node (it was deleted). */
  forget(node: string): void {
    for (const nonce of this.#byNode.get(node) ?? []) this.#issued.delete(nonce);
    this.#byNode.delete(node);
  }

  /** At most once a minute, drops the expired nonces of every node (also of nodes that went away). */
  #sweep(now: Date): void {
    if (now.getTime() - this.#sweptAt < 60_000) return;
    this.#sweptAt = now.getTime();
    for (const node of [...this.#byNode.keys()]) this.#live(node, now);
  }

  /** The node's outstanding nonces with the expired ones dropped. */
  #live(node: string, now: Date): string[] {
    const own = (this.#byNode.get(node) ?? []).filter((nonce) => {
      const issued = this.#issued.get(nonce);
      if (issued && issued.expiresAt > now.getTime()) return true;
      this.#issued.delete(nonce);
      return false;
    });
    if (own.length === 0) this.#byNode.delete(node);
    return own;
  }
}
