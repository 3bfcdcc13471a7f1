/**
 * The report signature: ECDSA P-384 with SHA-384 over bytes 0x000-0x29F, r and s stored as
 * 72-byte little-endian integers. Node verifies IEEE P1363 form (48-byte big-endian r || s).
 */
import { type KeyObject, verify } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import { type Reason, reason } from '../verdict.ts';
import { SNP_SIG_ALGO_ECDSA_P384_SHA384, type SnpReport, signedBytes } from './report.ts';

const P384_BYTES = 48;

/**
 * r || s in P1363 form, or null when r or s does not fit in 48 bytes. Such a value is at least
 * 2^384 > n and can never be a valid signature; refusing it (rather than ignoring the high bytes)
 * also keeps a report from having more than one accepted encoding.
 */
export function p1363Signature(r: Uint8Array, s: Uint8Array): Uint8Array | null {
  const out = new Uint8Array(2 * P384_BYTES);
  for (const [le, at] of [
    [r, 0],
    [s, P384_BYTES],
  ] as const) {
    if (le.subarray(P384_BYTES).some((x) => x !== 0)) return null;
    for (let i = 0; i < P384_BYTES; i++) out[at + i] = le[P384_BYTES - 1 - i]!;
  }
  return out;
}

/** Checks the report signature with the endorsement key; returns the reasons it fails (or none). */
export function checkReportSignature(report: SnpReport, key: KeyObject): Reason[] {
  if (report.signatureAlgorithm !== SNP_SIG_ALGO_ECDSA_P384_SHA384) {
    return [
      reason(
        'snp.signature.algorithm',
        `SIGNATURE_ALGO is ${report.signatureAlgorithm}, expected 1 (ECDSA P-384 with SHA-384)`,
      ),
    ];
  }
  const sig = p1363Signature(report.signatureR, report.signatureS);
  if (sig === null) return [reason('snp.signature', 'signature r or s does not fit in 48 bytes (non-zero padding)')];
  let ok = false;
  try {
    ok = verify('sha384', signedBytes(report), { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch (err) {
    return [reason('snp.signature', `signature could not be checked: ${errorMessage(err)}`)];
  }
  return ok ? [] : [reason('snp.signature', 'report signature does not verify with the endorsement key')];
}
