/**
 * Compare before writing: whether an object the API server holds already has every field a
 * desired object (what a controller would server-side apply) sets, so that a reconcile that
 * changes nothing writes nothing. Fields the desired object leaves out (defaults the API server
 * fills in, other managers' fields, status) are ignored; lists must have the same length and match
 * element by element; resource quantities compare by value ("1000m" is "1"). A desired object
 * also carries the hash of itself (`APPLIED_HASH_ANNOTATION`), so that a field an older operator
 * set and this one no longer sets still differs: server-side apply then removes it. Pure.
 */
import { createHash } from 'node:crypto';

export const APPLIED_HASH_ANNOTATION = 'attestor.dev/applied-hash';

interface WithMetadata {
  metadata?: { annotations?: Record<string, string> };
}

/** The desired object with the hash of its own content as an annotation. */
export function withAppliedHash<T extends WithMetadata>(desired: T): T {
  const hash = createHash('sha256').update(JSON.stringify(desired)).digest('hex').slice(0, 32);
  return {
    ...desired,
    metadata: {
      ...desired.metadata,
      annotations: { ...desired.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hash },
    },
  };
}

/** Whether `current` holds every field `desired` sets, with the same value. */
export function hasOwnedFields(current: unknown, desired: unknown): boolean {
  return covers(plain(current), plain(desired), false);
}

/** The JSON form (the informer's objects mix model classes with Dates and plain wire JSON). */
function plain(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function covers(current: unknown, desired: unknown, quantities: boolean): boolean {
  if (desired === undefined || desired === null) return true;
  if (Array.isArray(desired)) {
    if (!Array.isArray(current) || current.length !== desired.length) return false;
    return desired.every((item, i) => covers(current[i], item, false));
  }
  if (typeof desired === 'object') {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return false;
    const held = current as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) =>
      covers(held[k], v, quantities || QUANTITY_MAPS.has(k)),
    );
  }
  if (current === desired) return true;
  return quantities && typeof current === 'string' && typeof desired === 'string' && sameQuantity(current, desired);
}

// Maps of resource name to quantity (a container's resources): the API server rewrites these in canonical form.
const QUANTITY_MAPS = new Set(['requests', 'limits']);

const SUFFIXES: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Whether two strings are the same Kubernetes quantity written differently ("1000m" and "1", "1Gi" and "1024Mi"). */
export function sameQuantity(a: string, b: string): boolean {
  const x = quantityValue(a);
  const y = quantityValue(b);
  return x !== undefined && y !== undefined && Math.abs(x - y) <= Math.abs(x) * 1e-12;
}

function quantityValue(text: string): number | undefined {
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(text);
  if (!match) return undefined;
  const suffix = SUFFIXES[match[2] ?? ''];
  return suffix === undefined ? undefined : Number(match[1]) * suffix;
}
