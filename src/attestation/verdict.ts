/**
 * The shape every verifier and appraiser returns. Bad evidence is a result, not an exception:
 * functions in src/attestation never throw for malformed or forged input, they refuse it.
 */

/** One failed check. `check` is a stable identifier tests and metrics can key on. */
export interface Reason {
  /** Stable, dotted identifier of the check that failed, e.g. `snp.signature`, `gpu.nonce`. */
  readonly check: string;
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

export function reason(check: string, message: string): Reason {
  return { check, message };
}

export function verdict<Claims>(claims: Claims, reasons: readonly Reason[]): Verdict<Claims> {
  return { verified: reasons.length === 0, reasons, claims };
}

/** Evidence that could not be parsed at all: a refusal with one reason. */
export class ParseError extends Error {
  readonly check: string;
  constructor(check: string, message: string) {
    super(message);
    this.name = 'ParseError';
    this.check = check;
  }
}
