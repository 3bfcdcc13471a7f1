/**
 * The shape every verifier and appraiser returns. Bad evidence is a result, not an exception:
 * functions in src/attestation never throw for malformed or forged input, they refuse it.
 */
import { CHECKS, type CheckId, type CheckKind } from './check-registry.ts';

/** One failed check. `check` is a stable identifier tests and metrics can key on. */
export interface Reason {
  /** Stable, dotted identifier of the check that failed, e.g. `snp.signature`, `gpu.nonce` (check-registry.ts). */
  readonly check: string;
  /** What the check is about: the evidence's authenticity, its binding to the request, or a comparison (check-registry.ts). */
  readonly kind: CheckKind;
  /** Human-readable explanation: what was found and what was expected. Never contains secrets. */
  readonly message: string;
}

export interface Verdict<Claims> {
  /** True only when every check passed (reasons is empty). */
  readonly verified: boolean;
  /** Every check that failed, not only the first. */
  readonly reasons: readonly Reason[];
  /** What the evidence established (or, when refused, what could be parsed of it). */
  readonly claims: Claims;
}

/** A failed registered check; its kind comes from the registry. */
export function reason(check: CheckId, message: string): Reason {
  return { check, kind: CHECKS[check].kind, message };
}

/** The same reason with `prefix` before its message (which GPU, which reference-value entry). */
export function prefixed(r: Reason, prefix: string): Reason {
  return { ...r, message: prefix + r.message };
}

/** Whether every reason compares genuine evidence with reference values (vacuously true for none). */
export function onlyComparisons(reasons: readonly Reason[]): boolean {
  return reasons.every((r) => r.kind === 'comparison');
}

/** Whether no reason doubts that the evidence is genuine under the trust anchors used (bindings and comparisons may fail). */
export function isGenuine(reasons: readonly Reason[]): boolean {
  return reasons.every((r) => r.kind === 'binding' || r.kind === 'comparison');
}

export function verdict<Claims>(claims: Claims, reasons: readonly Reason[]): Verdict<Claims> {
  return { verified: reasons.length === 0, reasons, claims };
}

/** Evidence that could not be parsed at all: a refusal with one reason. */
export class ParseError extends Error {
  readonly check: CheckId;
  constructor(check: CheckId, message: string) {
    super(message);
    this.name = 'ParseError';
    this.check = check;
  }
}

/** A parser's ParseError as a Reason; anything else is a bug, not bad evidence, and propagates. */
export function asReason(err: unknown): Reason {
  if (err instanceof ParseError) return reason(err.check, err.message);
  throw err;
}
