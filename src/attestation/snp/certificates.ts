/**
 * AMD's X.509 certificates as the Key Distribution Service issues them (AMD KDS spec 57230):
 * reading certificate input (DER or PEM bundles) and the VCEK/VLEK extensions under
 * 1.3.6.1.4.1.3704.1 (OIDs and encodings as in go-sev-guest kds.go). The ASN.1 is read with
 * asn1js/pkijs; nothing here verifies a signature.
 */
import { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { ParseError } from '../verdict.ts';
import { SNP_CHECKS } from './checks.ts';

export const AMD_OID = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  spl4: '1.3.6.1.4.1.3704.1.3.4',
  spl5: '1.3.6.1.4.1.3704.1.3.5',
  spl6: '1.3.6.1.4.1.3704.1.3.6',
  spl7: '1.3.6.1.4.1.3704.1.3.7',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  fmcSpl: '1.3.6.1.4.1.3704.1.3.9',
  hwId: '1.3.6.1.4.1.3704.1.4',
  cspId: '1.3.6.1.4.1.3704.1.5',
} as const;

/** The AMD extensions of a VCEK or VLEK certificate; absent ones are null. */
export interface AmdExtensions {
  structVersion: number | null;
  productName: string | null;
  blSpl: number | null;
  teeSpl: number | null;
  snpSpl: number | null;
  ucodeSpl: number | null;
  /** Turin only. */
  fmcSpl: number | null;
  /** Reserved SPLs spl4-spl7 (some older VCEKs omit them; absent counts as 0). */
  spl4: number | null;
  spl5: number | null;
  spl6: number | null;
  spl7: number | null;
  /** VCEK only: the chip's hardware ID (64 bytes; 8 bytes on Turin). */
  hwId: Uint8Array | null;
  /** VLEK only: the cloud service provider's ID. */
  cspId: string | null;
}

type IntField = 'structVersion' | 'blSpl' | 'teeSpl' | 'snpSpl' | 'ucodeSpl' | 'fmcSpl' | 'spl4' | 'spl5' | 'spl6' | 'spl7';
const INT_FIELDS: ReadonlyArray<[string, IntField]> = [
  [AMD_OID.structVersion, 'structVersion'],
  [AMD_OID.blSpl, 'blSpl'],
  [AMD_OID.teeSpl, 'teeSpl'],
  [AMD_OID.snpSpl, 'snpSpl'],
  [AMD_OID.ucodeSpl, 'ucodeSpl'],
  [AMD_OID.fmcSpl, 'fmcSpl'],
  [AMD_OID.spl4, 'spl4'],
  [AMD_OID.spl5, 'spl5'],
  [AMD_OID.spl6, 'spl6'],
  [AMD_OID.spl7, 'spl7'],
];

function extError(message: string): ParseError {
  return new ParseError(SNP_CHECKS.certificateExtensions, message);
}

/** Decodes exactly one DER element of the given class, or throws. */
function single<T extends asn1js.BaseBlock>(value: Uint8Array, type: new (...args: never[]) => T, what: string): T {
  const parsed = asn1js.fromBER(value);
  if (parsed.offset !== value.length || !(parsed.result instanceof type)) throw extError(`${what}: not a single DER ${type.name}`);
  return parsed.result;
}

function u8(value: Uint8Array, what: string): number {
  const int = single(value, asn1js.Integer, what);
  const n = int.toBigInt();
  if (n < 0n || n > 255n) throw extError(`${what}: ${n} is not a byte value`);
  return Number(n);
}

function ia5(value: Uint8Array, what: string): string {
  return single(value, asn1js.IA5String, what).valueBlock.value;
}

/**
 * The hwID as KDS encodes it: the raw bytes without an OCTET STRING header (go-sev-guest notes the
 * same oddity). A proper OCTET STRING is accepted too in case AMD fixes that.
 */
function hwId(value: Uint8Array): Uint8Array {
  if (value.length === 64 || value.length === 8) return value.slice();
  const octets = single(value, asn1js.OctetString, 'hwID').valueBlock.valueHexView;
  if (octets.length !== 64 && octets.length !== 8) throw extError(`hwID is ${octets.length} bytes, expected 64 (or 8 on Turin)`);
  return octets.slice();
}

function parsePkijs(der: Uint8Array): pkijs.Certificate {
  try {
    return pkijs.Certificate.fromBER(der);
  } catch (err) {
    throw new ParseError(SNP_CHECKS.certificate, `certificate is not valid DER: ${(err as Error).message}`);
  }
}

/** Reads the AMD extensions of a certificate (DER); throws ParseError on malformed or repeated ones. */
export function parseAmdExtensions(der: Uint8Array): AmdExtensions {
  const cert = parsePkijs(der);
  const out: AmdExtensions = {
    structVersion: null, productName: null, blSpl: null, teeSpl: null, snpSpl: null, ucodeSpl: null,
    fmcSpl: null, spl4: null, spl5: null, spl6: null, spl7: null, hwId: null, cspId: null,
  };
  const seen = new Set<string>();
  for (const ext of cert.extensions ?? []) {
    if (!ext.extnID.startsWith('1.3.6.1.4.1.3704.1.')) continue;
    if (seen.has(ext.extnID)) throw extError(`extension ${ext.extnID} appears twice`);
    seen.add(ext.extnID);
    const value = ext.extnValue.valueBlock.valueHexView;
    const int = INT_FIELDS.find(([oid]) => oid === ext.extnID);
    if (int) out[int[1]] = u8(value, int[1]);
    else if (ext.extnID === AMD_OID.productName) out.productName = ia5(value, 'productName');
    else if (ext.extnID === AMD_OID.cspId) out.cspId = ia5(value, 'cspId');
    else if (ext.extnID === AMD_OID.hwId) out.hwId = hwId(value);
    // Other AMD OIDs are not defined for endorsement certificates; ignoring them keeps newer
    // certificates usable, and they cannot change any field we check.
  }
  return out;
}

/** The signature algorithm OID of a certificate (AMD KDS uses RSASSA-PSS, 1.2.840.113549.1.1.10). */
export function signatureAlgorithmOid(der: Uint8Array): string {
  return parsePkijs(der).signatureAlgorithm.algorithmId;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;

/**
 * Splits certificate input into DER blobs: PEM text with one or more certificates, or one DER
 * certificate. Throws ParseError when there is none.
 */
export function splitCertificates(input: Uint8Array | string): Uint8Array[] {
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
  if (text.includes('-----BEGIN')) {
    const ders = [...text.matchAll(PEM_CERT)].map((m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
    if (ders.length === 0) throw new ParseError(SNP_CHECKS.certificate, 'PEM input holds no CERTIFICATE block');
    return ders;
  }
  if (typeof input === 'string') throw new ParseError(SNP_CHECKS.certificate, 'certificate text is not PEM');
  if (input.length === 0) throw new ParseError(SNP_CHECKS.certificate, 'no certificate given');
  return [input.slice()];
}

/** Parses one DER certificate with Node's (OpenSSL's) parser; throws ParseError. */
export function parseX509(der: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new ParseError(SNP_CHECKS.certificate, `${what} is not an X.509 certificate: ${(err as Error).message}`);
  }
}

/** The subject common name, e.g. "SEV-VCEK", "SEV-Milan", "ARK-Milan". */
export function commonName(cert: X509Certificate): string {
  const m = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return m ? m[1]! : '';
}

/** Which certificates of a bundle are which, before any signature is checked. */
export interface SortedCertificates {
  leaf: { der: Uint8Array; x509: X509Certificate };
  /** Non-self-issued CA certificates (ASK/ASVK candidates). Self-issued ones (ARKs) are dropped: roots are pinned. */
  intermediates: X509Certificate[];
}

/** Sorts a bundle: exactly one non-CA certificate (the VCEK/VLEK) plus CA certificates. */
export function sortCertificates(input: Uint8Array | string): SortedCertificates {
  const ders = splitCertificates(input);
  const certs = ders.map((der, i) => ({ der, x509: parseX509(der, `certificate ${i + 1}`) }));
  const leaves = certs.filter((c) => !c.x509.ca);
  if (leaves.length !== 1) {
    throw new ParseError(SNP_CHECKS.certificate, `expected exactly one VCEK/VLEK (non-CA) certificate, found ${leaves.length}`);
  }
  const intermediates = certs.filter((c) => c.x509.ca && c.x509.subject !== c.x509.issuer).map((c) => c.x509);
  return { leaf: leaves[0]!, intermediates };
}
