/**
 * Strict PEM certificate lists, as Intel's quote generation and PCS write them: BEGIN/END lines,
 * base64 lines, LF or CRLF line ends, and nothing else except NUL or line-end padding at the very
 * end. Base64 must be canonical (re-encoding the DER gives the same text), so that no byte of a
 * certificate chain inside signed evidence can change without the chain changing or being refused.
 */
import { ParseError } from '../verdict.ts';

const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';
const BASE64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;

/** Splits concatenated PEM certificates into DER; throws ParseError with `check` when malformed. */
export function parsePemCertificates(data: Uint8Array | string, check: string): Uint8Array[] {
  const text =
    typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  const trimmed = text.replace(/[\0\r\n]+$/, '');
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
  if (certs.length === 0) throw new ParseError(check, 'no PEM certificate found');
  return certs;
}

/**
 * Decodes an issuer chain as PCS returns it in a response header (URL-encoded PEM, e.g.
 * `TCB-Info-Issuer-Chain`) or as plain PEM.
 */
export function decodeIssuerChain(text: string, check: string): Uint8Array[] {
  let pem = text.trim();
  if (pem.includes('%')) {
    try {
      pem = decodeURIComponent(pem);
    } catch {
      throw new ParseError(check, 'issuer chain is neither PEM nor URL-encoded PEM');
    }
  }
  return parsePemCertificates(pem, check);
}
