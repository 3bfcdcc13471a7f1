/**
 * AMD's X.509 certificates as the Key Distribution Service issues them (AMD KDS spec 57230):
 * reading certificate input (DER or PEM bundles) and the VCEK/VLEK extensions under
 * 1.3.6.1.4.1.3704.1 (OIDs and encodings as in go-sev-guest kds.go). The ASN.1 is decoded by
 * asn1js, the X.509 structure by Node (OpenSSL); nothing here verifies a signature.
 */
import { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { errorMessage } from '../../errors.ts';
import { pemCertificates } from '../pem.ts';
import { ParseError } from '../verdict.ts';

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

type IntField =
  | 'structVersion'
  | 'blSpl'
  | 'teeSpl'
  | 'snpSpl'
  | 'ucodeSpl'
  | 'fmcSpl'
  | 'spl4'
  | 'spl5'
  | 'spl6'
  | 'spl7';
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

/**
 * asn1js options: do not try to decode OCTET/BIT STRING contents as ASN.1 (we decode extension
 * values ourselves), do not copy the input, and bound depth and size against hostile input.
 */
const BER_OPTIONS = { parseEmbedded: false, copyInput: false, maxDepth: 32, maxNodes: 4096 } as const;

function extError(message: string): ParseError {
  return new ParseError('snp.certificate.extensions', message);
}

/** Decodes exactly one DER element of the given class, or throws. */
function single<T extends asn1js.BaseBlock>(value: Uint8Array, type: new (...args: never[]) => T, what: string): T {
  const parsed = asn1js.fromBER(value, BER_OPTIONS);
  if (parsed.offset !== value.length || !(parsed.result instanceof type))
    throw extError(`${what}: not a single DER ${type.name}`);
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
  if (octets.length !== 64 && octets.length !== 8)
    throw extError(`hwID is ${octets.length} bytes, expected 64 (or 8 on Turin)`);
  return octets.slice();
}

/** What this module needs of a certificate's ASN.1: its signature algorithm and extensions. */
export interface CertificateAsn1 {
  signatureAlgorithm: string;
  extensions: Array<{ oid: string; critical: boolean; value: Uint8Array }>;
}

function certError(message: string): ParseError {
  return new ParseError('snp.certificate', message);
}

function sequenceItems(block: asn1js.BaseBlock | undefined, what: string): asn1js.BaseBlock[] {
  if (!(block instanceof asn1js.Sequence)) throw certError(`${what} is not a SEQUENCE`);
  return block.valueBlock.value;
}

/**
 * Decodes a certificate with asn1js (one pass; pkijs' schema matching costs several times more)
 * and picks out the signature algorithm and the extensions. Throws ParseError.
 */
export function readCertificateAsn1(der: Uint8Array): CertificateAsn1 {
  const parsed = asn1js.fromBER(der, BER_OPTIONS);
  if (parsed.offset !== der.length) throw certError('certificate is not a single DER element');
  const [tbs, sigAlg] = sequenceItems(parsed.result, 'certificate');
  const algOid = sequenceItems(sigAlg, 'signatureAlgorithm')[0];
  if (!(algOid instanceof asn1js.ObjectIdentifier)) throw certError('signatureAlgorithm has no OID');
  const extensions: CertificateAsn1['extensions'] = [];
  // TBSCertificate fields are positional up to the optional context-specific [1], [2], [3]; [3] holds the extensions.
  const wrapper = sequenceItems(tbs, 'tbsCertificate').find(
    (b) => b.idBlock.tagClass === 3 && b.idBlock.tagNumber === 3,
  );
  if (wrapper !== undefined) {
    if (!(wrapper instanceof asn1js.Constructed)) throw certError('extensions are not constructed');
    for (const ext of sequenceItems(wrapper.valueBlock.value[0], 'extensions')) {
      const fields = sequenceItems(ext, 'extension');
      const [oid, second, third] = fields;
      const critical = second instanceof asn1js.Boolean ? second.valueBlock.value : false;
      const value = second instanceof asn1js.Boolean ? third : second;
      if (!(oid instanceof asn1js.ObjectIdentifier) || !(value instanceof asn1js.OctetString) || fields.length > 3)
        throw certError('malformed extension');
      extensions.push({ oid: oid.valueBlock.toString(), critical, value: value.valueBlock.valueHexView });
    }
  }
  return { signatureAlgorithm: algOid.valueBlock.toString(), extensions };
}

/** Reads the AMD extensions of a certificate; throws ParseError on malformed or repeated ones. */
export function parseAmdExtensions(der: Uint8Array | CertificateAsn1): AmdExtensions {
  const cert = der instanceof Uint8Array ? readCertificateAsn1(der) : der;
  const out: AmdExtensions = {
    structVersion: null,
    productName: null,
    blSpl: null,
    teeSpl: null,
    snpSpl: null,
    ucodeSpl: null,
    fmcSpl: null,
    spl4: null,
    spl5: null,
    spl6: null,
    spl7: null,
    hwId: null,
    cspId: null,
  };
  const seen = new Set<string>();
  for (const { oid, value } of cert.extensions) {
    if (!oid.startsWith('1.3.6.1.4.1.3704.1.')) continue;
    if (seen.has(oid)) throw extError(`extension ${oid} appears twice`);
    seen.add(oid);
    const int = INT_FIELDS.find(([o]) => o === oid);
    if (int) out[int[1]] = u8(value, int[1]);
    else if (oid === AMD_OID.productName) out.productName = ia5(value, 'productName');
    else if (oid === AMD_OID.cspId) out.cspId = ia5(value, 'cspId');
    else if (oid === AMD_OID.hwId) out.hwId = hwId(value);
    // Other AMD OIDs are not defined for endorsement certificates; ignoring them keeps newer
    // certificates usable, and they cannot change any field we check.
  }
  return out;
}

/**
 * Splits certificate input into DER blobs: PEM text with one or more certificates, or one DER
 * certificate. Throws ParseError when there is none.
 */
export function splitCertificates(input: Uint8Array | string): Uint8Array[] {
  const text =
    typeof input === 'string'
      ? input
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('latin1');
  if (text.includes('-----BEGIN')) return pemCertificates(text, 'snp.certificate');
  if (typeof input === 'string') throw new ParseError('snp.certificate', 'certificate text is not PEM');
  if (input.length === 0) throw new ParseError('snp.certificate', 'no certificate given');
  return [input.slice()];
}

/** Parses one DER certificate with Node's (OpenSSL's) parser; throws ParseError. */
export function parseX509(der: Uint8Array, what: string): X509Certificate {
  try {
    const cert = new X509Certificate(der);
    // Node decodes some parts lazily; touch the ones used later so malformed input fails here.
    void [cert.ca, cert.subject, cert.issuer, cert.serialNumber, cert.validFrom, cert.validTo, cert.publicKey];
    return cert;
  } catch (err) {
    throw new ParseError('snp.certificate', `${what} is not an X.509 certificate: ${errorMessage(err)}`);
  }
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
    throw new ParseError(
      'snp.certificate',
      `expected exactly one VCEK/VLEK (non-CA) certificate, found ${leaves.length}`,
    );
  }
  const intermediates = certs.filter((c) => c.x509.ca && c.x509.subject !== c.x509.issuer).map((c) => c.x509);
  return { leaf: leaves[0]!, intermediates };
}
