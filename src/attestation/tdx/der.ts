/**
 * asn1js decoding that fails only with ParseError: asn1js reports most malformed input through
 * `offset === -1`, but throws plain Errors for some (a UTCTime that is not a time, for one).
 */
import * as asn1js from 'asn1js';
import { errorMessage } from '../../errors.ts';
import type { CheckId } from '../check-registry.ts';
import { ParseError } from '../verdict.ts';

/** Decodes exactly one DER value spanning all of `der`; ParseError(`check`) otherwise. */
export function decodeDer(der: Uint8Array, check: CheckId, what: string): asn1js.AsnType {
  let parsed: ReturnType<typeof asn1js.fromBER>;
  try {
    parsed = asn1js.fromBER(der);
  } catch (err) {
    throw new ParseError(check, `${what} does not decode: ${errorMessage(err)}`);
  }
  if (parsed.offset === -1 || parsed.offset !== der.byteLength)
    throw new ParseError(check, `${what} is not one DER value`);
  return parsed.result;
}
