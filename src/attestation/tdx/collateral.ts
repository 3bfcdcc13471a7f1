/**
 * Intel PCS collateral as the verifier receives it (files or cache; this package never fetches):
 * TCB info and QE identity responses (signed JSON, signed-json.ts), the PCK CRL with its issuer
 * chain and the root CA CRL; and which of them a TCB verdict needs (all four).
 */
import { type Reason, reason } from '../verdict.ts';

/**
 * Collateral for one quote. The verifier requires TCB info, QE identity, PCK CRL and root CA CRL
 * together (`tdx.collateral.missing` names what is absent) unless the caller lets missing pieces
 * pass; every piece given is checked either way.
 */
export interface TdxCollateral {
  /** PCS TCB info response body: `{"tcbInfo":{...},"signature":"<hex r||s>"}`. */
  readonly tcbInfo?: string | Uint8Array;
  /** PEM (or URL-encoded PEM, as in the response header): TCB Signing certificate, then root. */
  readonly tcbInfoIssuerChain?: string;
  /** PCS QE identity response body: `{"enclaveIdentity":{...},"signature":"..."}`. */
  readonly qeIdentity?: string | Uint8Array;
  /** Defaults to tcbInfoIssuerChain: Intel signs both with the TCB Signing key. */
  readonly qeIdentityIssuerChain?: string;
  /** DER, PEM or hex. */
  readonly pckCrl?: Uint8Array;
  /**
   * Optional: the CRL is always checked with the PCK's issuer from the quote's verified chain; a
   * chain given here must verify and name that same CA.
   */
  readonly pckCrlIssuerChain?: string;
  /** DER, PEM or hex; issued by the root CA. */
  readonly rootCrl?: Uint8Array;
}

/** Check id of the refusal when collateral is missing. */
export const COLLATERAL_MISSING = 'tdx.collateral.missing';

const COLLATERAL_PIECES = [
  ['tcbInfo', 'TCB info'],
  ['qeIdentity', 'QE identity'],
  ['pckCrl', 'PCK CRL'],
  ['rootCrl', 'root CA CRL'],
] as const;

/** The pieces of collateral a TCB verdict needs that `collateral` lacks, by name. */
export function missingCollateral(collateral: TdxCollateral | undefined): string[] {
  return COLLATERAL_PIECES.filter(([key]) => collateral?.[key] === undefined).map(([, name]) => name);
}

/** `tdx.collateral.missing`, naming the missing pieces. */
export function missingCollateralReason(missing: readonly string[]): Reason {
  return reason(
    COLLATERAL_MISSING,
    `Intel collateral missing: ${missing.join(', ')}; without it nothing shows that the quoting enclave is Intel's, that the platform's TCB is current or that the PCK is not revoked`,
  );
}
