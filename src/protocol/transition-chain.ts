/**
 * The Coordinator's Manifest history as a hash chain: one transition per change of the active
 * Manifest, transition = SHA-256(manifest hash ‖ previous transition), the first from 32 zero
 * bytes. The latest transition names the whole history, so REPORT_DATA binding it binds every
 * Manifest the Coordinator followed, in order. Both the Coordinator and its clients compute it
 * here. Pure.
 */
import { createHash } from 'node:crypto';

/** The transition before the first: 32 zero bytes. */
export const GENESIS_TRANSITION = new Uint8Array(32);

export interface HistoryEntry {
  /** The Manifest's canonical hash (hex). */
  manifestHash: string;
  /** SHA-256(manifestHash bytes ‖ previous transition), hex. */
  transition: string;
}

/** The transition after `previous` for a Manifest with this hash (64 hex characters). */
export function nextTransition(manifestHash: string, previous: Uint8Array): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(manifestHash)) throw new Error(`not a manifest hash: "${manifestHash}"`);
  if (previous.length !== 32) throw new Error(`a transition is 32 bytes, got ${previous.length}`);
  return new Uint8Array(createHash('sha256').update(Buffer.from(manifestHash, 'hex')).update(previous).digest());
}

/** The chain over these Manifest hashes, oldest first. */
export function transitionChain(manifestHashes: readonly string[]): HistoryEntry[] {
  let previous: Uint8Array = GENESIS_TRANSITION;
  return manifestHashes.map((manifestHash) => {
    previous = nextTransition(manifestHash, previous);
    return { manifestHash, transition: Buffer.from(previous).toString('hex') };
  });
}

/** `history` with one entry more per Manifest hash, in order. */
export function extendHistory(history: readonly HistoryEntry[], manifestHashes: readonly string[]): HistoryEntry[] {
  const extended = [...history];
  for (const manifestHash of manifestHashes) {
    const transition = nextTransition(manifestHash, latestTransition(extended));
    extended.push({ manifestHash, transition: Buffer.from(transition).toString('hex') });
  }
  return extended;
}

/** The latest transition of a history (the genesis value for an empty one). */
export function latestTransition(history: readonly HistoryEntry[]): Uint8Array {
  const last = history.at(-1);
  return last ? new Uint8Array(Buffer.from(last.transition, 'hex')) : GENESIS_TRANSITION;
}
