/**
 * PEM (RFC 7468) for certificates: the one splitter every verifier and the collateral code use,
 * and the encoder. Two readings of the same format:
 *
 * - strict (TDX, whose PCK chain travels inside the quote outside any signature): BEGIN and END
 *   lines, base64 lines, LF or CRLF line ends and nothing else, except NUL or line-end padding at
 *   the very end; base64 must be canonical (re-encoding the DER gives the same text), so that no
 *   byte of the chain can change without the chain changing or being refused.
 * - lenient (everything else: NVML chains, KDS bundles, files an operator wrote): text around and
 *   between the blocks is ignored, whitespace inside a block too; a block must still be base64.
 */
import type { CheckId } from './check-registry.ts';
import { ParseError } from './verdict.ts';

const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;

/** The DER certificates of PEM text, in text order; ParseError(`check`) when malformed or empty. */
export function pemCertificates(
  data: Uint8Array | string,
  check: CheckId,
  options: { readonly strict?: boolean } = {},
): Uint8Array[] {
  const text =
    typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  const ders = options.strict ? strictBlocks(text, check) : lenientBlocks(text, check);
  if (ders.length === 0) throw new ParseError(check, 'no PEM certificate found');
  return ders;
}

function lenientBlocks(text: string, check: CheckId): Uint8Array[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) => {
    const body = m[1]!.replace(/\s+/g, '');
    if (!BASE64.test(body)) throw new ParseError(check, 'PEM certificate is not base64');
    return new Uint8Array(Buffer.from(body, 'base64'));
  });
}

function strictBlocks(text: string, check: CheckId): Uint8Array[] {
  const trimmed = text.replace(/[\0\r\n]+$/, '');
  if (trimmed === '') return [];
  const lines = trimmed.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const certs: Uint8Array[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i] !== BEGIN) throw new ParseError(check, `PEM line ${i + 1}: expected "${BEGIN}"`);
    i++;
    let b64 = '';
    while (i < lines.length && lines[i] !== END) {
      const line = lines[i] as string;
      if (!BASE64_LINE.test(line)) throw new ParseError(check, `PEM line ${i + 1}: not base64`);
      b64 += line;
      i++;
    }
    if (i >= lines.length) throw new ParseError(check, `PEM certificate ${certs.length + 1} has no "${END}" line`);
    i++;
    const der = Buffer.from(b64, 'base64');
    if (der.length === 0 || der.toString('base64') !== b64)
      throw new ParseError(check, `PEM certificate ${certs.length + 1}: base64 is not canonical`);
    certs.push(new Uint8Array(der.buffer, der.byteOffset, der.byteLength));
  }
  return certs;
}

/** PEM encoding (RFC 7468): base64 in 64-character lines between BEGIN and END lines. */
export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const body = Buffer.from(der.buffer, der.byteOffset, der.byteLength)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}
