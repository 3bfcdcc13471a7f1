/**
 * Certificate revocation lists from Intel PCS: the PCK CRL (issued by the PCK Platform or
 * Processor CA) and the root CA CRL (issued by the Intel SGX Root CA, revoking intermediates).
 * Decoded with asn1js (walked directly: pkijs' CRL model is slow and rejects entries with an empty
 * extension list); the ECDSA signature over the TBS bytes is checked with Node's crypto.
 */
import { verify as cryptoVerify, type X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { bytesEqual, hex } from '../bytes.ts';
import type { CheckId } from '../check-registry.ts';
import { ParseError } from '../verdict.ts';
import { decodeDer } from './der.ts';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

export interface Crl {
  /** DER of the issuer Name. */
  readonly issuer: Uint8Array;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** Revoked serial numbers, upper-case hex without leading zero bytes (Node's X509Certificate format). */
  readonly revokedSerials: ReadonlySet<string>;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  /** DER ECDSA-Sig-Value. */
  readonly signature: Uint8Array;
}

/** Parses a CRL given as DER, PEM or hex; throws ParseError with `check`. */
export function parseCrl(data: Uint8Array, check: CheckId): Crl {
  const der = crlDer(data, check);
  const fail = (what: string): never => {
    throw new ParseError(check, `CRL does not decode: ${what}`);
  };
  const [tbs, algorithm, signature] = children(decodeDer(der, check, 'CRL'), 3);
  if (!(tbs instanceof asn1js.Sequence) || !(signature instanceof asn1js.BitString))
    return fail('not a CertificateList');
  const fields = tbs.valueBlock.value;
  let i = fields[0] instanceof asn1js.Integer ? 1 : 0; // version is optional
  i++; // signature algorithm inside the TBS (must match the outer one; the signature covers it)
  const issuer = fields[i++];
  if (!(issuer instanceof asn1js.Sequence)) return fail('no issuer Name');
  const thisUpdate = time(fields[i++]) ?? fail('no thisUpdate');
  const nextUpdate = time(fields[i]);
  if (nextUpdate !== undefined) i++;
  const revokedSerials = new Set<string>();
  const revoked = fields[i];
  if (revoked instanceof asn1js.Sequence) {
    for (const entry of revoked.valueBlock.value) {
      const serial = entry instanceof asn1js.Sequence ? entry.valueBlock.value[0] : undefined;
      if (!(serial instanceof asn1js.Integer)) fail('revoked entry without a serial number');
      revokedSerials.add(serialHex((serial as asn1js.Integer).valueBlock.valueHexView));
    }
  }
  return {
    issuer: issuer.valueBeforeDecodeView,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    revokedSerials,
    tbs: tbs.valueBeforeDecodeView,
    signatureAlgorithm: algorithmOid(algorithm) ?? fail('no signature algorithm'),
    signature: signature.valueBlock.valueHexView,
  };
}

/** Whether `issuer` issued and signed the CRL; a message when not. */
export function crlSignatureProblem(crl: Crl, issuer: X509Certificate): string | undefined {
  if (crl.signatureAlgorithm !== ECDSA_WITH_SHA256)
    return `CRL signature algorithm ${crl.signatureAlgorithm} is not ecdsa-with-SHA256`;
  const subject = subjectDer(issuer.raw);
  if (subject === undefined || !bytesEqual(subject, crl.issuer))
    return 'CRL issuer name is not the expected issuer certificate subject';
  let ok = false;
  try {
    ok = cryptoVerify('sha256', crl.tbs, issuer.publicKey, crl.signature);
  } catch {
    ok = false;
  }
  return ok ? undefined : 'CRL signature does not verify with the issuer key';
}

function children(node: asn1js.AsnType, count: number): asn1js.AsnType[] {
  const list = node instanceof asn1js.Sequence ? node.valueBlock.value : [];
  return list.length === count ? list : [];
}

function time(node: asn1js.AsnType | undefined): Date | undefined {
  if (node instanceof asn1js.UTCTime || node instanceof asn1js.GeneralizedTime) {
    let d: Date;
    try {
      d = node.toDate();
    } catch {
      return undefined;
    }
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

function algorithmOid(node: asn1js.AsnType | undefined): string | undefined {
  const oid = node instanceof asn1js.Sequence ? node.valueBlock.value[0] : undefined;
  return oid instanceof asn1js.ObjectIdentifier ? oid.valueBlock.toString() : undefined;
}

/** DER of a certificate's subject Name (TBSCertificate field after issuer and validity). */
function subjectDer(cert: Uint8Array): Uint8Array | undefined {
  let root: asn1js.AsnType;
  try {
    root = decodeDer(cert, 'tdx.pck-chain', 'certificate');
  } catch {
    return undefined;
  }
  const tbs = root instanceof asn1js.Sequence ? root.valueBlock.value[0] : undefined;
  if (!(tbs instanceof asn1js.Sequence)) return undefined;
  const f = tbs.valueBlock.value;
  const base = f[0]?.idBlock.tagClass === 3 ? 1 : 0; // [0] version
  const subject = f[base + 4];
  return subject instanceof asn1js.Sequence ? subject.valueBeforeDecodeView : undefined;
}

/** Whether the CRL is current at `at` (thisUpdate <= at <= nextUpdate); a message when not. */
export function crlValidityProblem(crl: Crl, at: Date): string | undefined {
  if (at.getTime() < crl.thisUpdate.getTime())
    return `CRL is not valid before ${crl.thisUpdate.toISOString()} (time ${at.toISOString()})`;
  if (crl.nextUpdate === undefined) return 'CRL has no nextUpdate';
  if (at.getTime() > crl.nextUpdate.getTime())
    return `CRL expired at ${crl.nextUpdate.toISOString()} (time ${at.toISOString()})`;
  return undefined;
}

/** Normalises a serial number (Node's upper-case hex or raw INTEGER bytes) for comparison. */
export function serialHex(serial: string | Uint8Array): string {
  const s = typeof serial === 'string' ? serial : hex(serial);
  return s.toUpperCase().replace(/^(00)+(?=.)/, '');
}

function crlDer(data: Uint8Array, check: CheckId): Uint8Array {
  if (data[0] === 0x30) return data;
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1').trim();
  const pem = /^-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----$/.exec(text);
  if (pem) return new Uint8Array(Buffer.from((pem[1] as string).replace(/\s+/g, ''), 'base64'));
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) return new Uint8Array(Buffer.from(text, 'hex'));
  throw new ParseError(check, 'CRL is neither DER, PEM nor hex');
}
