/**
 * Certificate revocation lists from Intel PCS: the PCK CRL (issued by the PCK Platform or
 * Processor CA) and the root CA CRL (issued by the Intel SGX Root CA, revoking intermediates).
 * Decoded with pkijs; the ECDSA signature over the TBS bytes is checked with Node's crypto.
 */
import { verify as cryptoVerify, type X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { ParseError } from '../verdict.ts';
import { hex } from './hex.ts';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export interface Crl {
  readonly issuer: pkijs.RelativeDistinguishedNames;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** Revoked serial numbers, upper-case hex without leading zero bytes (Node's X509Certificate format). */
  readonly revokedSerials: ReadonlySet<string>;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  /** DER ECDSA-Sig-Value. */
  readonly signature: Uint8Array;
}

/** Parses a CRL given as DER, PEM or hex text; throws ParseError with `check`. */
export function parseCrl(data: Uint8Array, check: string): Crl {
  const der = crlDer(data, check);
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = pkijs.CertificateRevocationList.fromBER(der);
  } catch (err) {
    throw new ParseError(check, `CRL does not decode: ${(err as Error).message}`);
  }
  const revokedSerials = new Set<string>();
  for (const entry of crl.revokedCertificates ?? []) revokedSerials.add(serialHex(entry.userCertificate.valueBlock.valueHexView));
  return {
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate.value,
    ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate.value } : {}),
    revokedSerials,
    tbs: crl.tbsView,
    signatureAlgorithm: crl.signatureAlgorithm.algorithmId,
    signature: crl.signatureValue.valueBlock.valueHexView,
  };
}

/** Whether `issuer` issued and signed the CRL; a message when not. */
export function crlSignatureProblem(crl: Crl, issuer: X509Certificate): string | undefined {
  if (crl.signatureAlgorithm !== ECDSA_WITH_SHA256) return `CRL signature algorithm ${crl.signatureAlgorithm} is not ecdsa-with-SHA256`;
  let issuerName: pkijs.RelativeDistinguishedNames;
  try {
    issuerName = pkijs.Certificate.fromBER(issuer.raw).subject;
  } catch {
    return 'issuer certificate does not decode';
  }
  if (!crl.issuer.isEqual(issuerName)) return 'CRL issuer name is not the expected issuer certificate subject';
  let ok = false;
  try {
    ok = cryptoVerify('sha256', crl.tbs, issuer.publicKey, crl.signature);
  } catch {
    ok = false;
  }
  return ok ? undefined : 'CRL signature does not verify with the issuer key';
}

/** Whether the CRL is current at `at` (thisUpdate <= at <= nextUpdate); a message when not. */
export function crlValidityProblem(crl: Crl, at: Date): string | undefined {
  if (at.getTime() < crl.thisUpdate.getTime()) return `CRL is not valid before ${crl.thisUpdate.toISOString()} (time ${at.toISOString()})`;
  if (crl.nextUpdate === undefined) return 'CRL has no nextUpdate';
  if (at.getTime() > crl.nextUpdate.getTime()) return `CRL expired at ${crl.nextUpdate.toISOString()} (time ${at.toISOString()})`;
  return undefined;
}

/** Normalises a serial number (Node's upper-case hex or raw INTEGER bytes) for comparison. */
export function serialHex(serial: string | Uint8Array): string {
  const s = typeof serial === 'string' ? serial : hex(serial);
  return s.toUpperCase().replace(/^(00)+(?=.)/, '');
}

function crlDer(data: Uint8Array, check: string): Uint8Array {
  if (data[0] === 0x30) return data;
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1').trim();
  const pem = /^-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----$/.exec(text);
  if (pem) return new Uint8Array(Buffer.from((pem[1] as string).replace(/\s+/g, ''), 'base64'));
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) return new Uint8Array(Buffer.from(text, 'hex'));
  throw new ParseError(check, 'CRL is neither DER, PEM nor hex');
}
