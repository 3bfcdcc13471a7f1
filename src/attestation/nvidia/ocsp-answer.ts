/**
 * One OCSP answer (RFC 6960 DER OCSPResponse) judged for one certificate: read once (what it says
 * is remembered by the hash of its bytes, in a small form without ASN.1 objects), signed by the
 * certificate's issuer or a responder certificate the issuer signed for id-kp-OCSPSigning (who
 * signed is remembered by the answer's and the issuer's bytes), carrying the nonce its request
 * sent, and current at the appraisal time (judged at every appraisal). Also the CertID parts of a
 * certificate, which the collateral's requests and cache files use. Pure: the time is a
 * parameter, answers are bytes.
 */
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import type * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { errorMessage } from '../../errors.ts';
import { BoundedMemo } from '../bounded-memo.ts';
import type { ParsedCertificate } from './certificates.ts';
import { children, readTlv } from './der.ts';

const OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
export const OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2';
const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';
const HASHES: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};
/** A responder's clock may run ahead of ours: thisUpdate may be this far after the appraisal time. */
export const OCSP_CLOCK_SKEW_MS = 5 * 60_000;

/** One OCSP answer as collateral; `nonce` is the one the request carried, when it was fetched just now with one. */
export interface OcspAnswer {
  readonly der: Uint8Array;
  readonly nonce?: Uint8Array;
}

/** One SingleResponse, read once: the CertID it is about, its times and its status. */
export interface SingleAnswer {
  readonly certId: {
    /** Node's name of the CertID hash (sha1, sha256, ...); absent when the algorithm is not one we know. */
    readonly hash?: string;
    /** The serial number's INTEGER content, and the two hashes, in lower-case hex (strings keep the memo small). */
    readonly serial: string;
    readonly issuerNameHash: string;
    readonly issuerKeyHash: string;
  };
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  readonly status: 'good' | 'revoked' | 'unknown';
  readonly revokedAt?: Date;
  readonly revocationReason?: number;
}

/** What an answer says, a pure function of its DER: kept in a memo by its hash, small (no ASN.1 objects). */
export interface AnswerContent {
  readonly singles: readonly SingleAnswer[];
  readonly nonce?: Uint8Array;
}

export interface ParsedAnswer extends AnswerContent {
  readonly answer: OcspAnswer;
  /** SHA-256 of the DER, hex: the key of what is remembered about it. */
  readonly hash: string;
}

export interface Usable {
  readonly status: 'good' | 'revoked' | 'unknown';
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revokedAt?: Date;
  readonly revocationReason?: number;
}

/**
 * Answers read, by the SHA-256 of their DER. An entry is under 2 KB (one SingleResponse: its
 * CertID as hex strings, two or three Dates; measured): 8,192 answers take at most about 16 MB.
 * A fleet of 4,000 GPUs needs one per device certificate plus the few shared ones; the room
 * above that matters, since a memo smaller than the set a re-appraisal walks through in turn
 * would hit nothing (least recently used out first).
 */
export const answerMemo = new BoundedMemo<AnswerContent | { problem: string }>(8_192);

/**
 * Who signed an answer for an issuer, by the answer's hash and the issuer's DER fingerprint:
 * about 300 bytes an entry, 8,192 entries at most about 2.5 MB.
 */
export const signerMemo = new BoundedMemo<Signer>(8_192);

/** Reads an answer, or takes what it says from the memo by the hash of its bytes. */
export function parseAnswer(answer: OcspAnswer): ParsedAnswer | { problem: string } {
  const hash = createHash('sha256').update(answer.der).digest('hex');
  const content = contentOf(hash, answer.der);
  return 'problem' in content ? content : { ...content, answer, hash };
}

/** What an answer's DER says, from the memo (the verifier's read of the same bytes) or read now. */
export function answerContent(der: Uint8Array): AnswerContent | { problem: string } {
  return contentOf(createHash('sha256').update(der).digest('hex'), der);
}

function contentOf(hash: string, der: Uint8Array): AnswerContent | { problem: string } {
  return answerMemo.getOrMake(hash, () => readAnswer(der));
}

/** What an answer says (its DER read with pkijs); a problem when it is not a successful basic OCSP response. */
export function readAnswer(der: Uint8Array): AnswerContent | { problem: string } {
  try {
    const basic = basicResponse(der);
    if ('problem' in basic) return basic;
    const nonceExt = basic.tbsResponseData.responseExtensions?.find((e) => e.extnID === OCSP_NONCE);
    const nonce = nonceExt ? nonceValue(nonceExt.extnValue.valueBlock.valueHexView) : undefined;
    return { singles: basic.tbsResponseData.responses.map(singleAnswer), ...(nonce ? { nonce } : {}) };
  } catch (err) {
    return { problem: `does not parse: ${errorMessage(err)}` };
  }
}

function basicResponse(der: Uint8Array): pkijs.BasicOCSPResponse | { problem: string } {
  const outer = pkijs.OCSPResponse.fromBER(der);
  const status = outer.responseStatus.valueBlock.valueDec;
  if (status !== 0) return { problem: `is not successful (responseStatus ${status})` };
  if (!outer.responseBytes || outer.responseBytes.responseType !== OCSP_BASIC)
    return { problem: 'is not a basic OCSP response' };
  return pkijs.BasicOCSPResponse.fromBER(outer.responseBytes.response.valueBlock.valueHexView);
}

function singleAnswer(single: pkijs.SingleResponse): SingleAnswer {
  const id = single.certID;
  const hash = HASHES[id.hashAlgorithm.algorithmId];
  const certId = {
    ...(hash ? { hash } : {}),
    serial: Buffer.from(id.serialNumber.valueBlock.valueHexView).toString('hex'),
    issuerNameHash: Buffer.from(id.issuerNameHash.valueBlock.valueHexView).toString('hex'),
    issuerKeyHash: Buffer.from(id.issuerKeyHash.valueBlock.valueHexView).toString('hex'),
  };
  const times = { thisUpdate: single.thisUpdate, ...(single.nextUpdate ? { nextUpdate: single.nextUpdate } : {}) };
  const block = single.certStatus as asn1js.BaseBlock & { valueBlock: { value?: asn1js.BaseBlock[] } };
  const tag = block.idBlock.tagNumber;
  if (tag === 0) return { certId, ...times, status: 'good' };
  if (tag === 2) return { certId, ...times, status: 'unknown' };
  const inner = block.valueBlock.value ?? [];
  const time = inner[0] as (asn1js.BaseBlock & { toDate?: () => Date }) | undefined;
  const revokedAt = time && typeof time.toDate === 'function' ? time.toDate() : undefined;
  const reasonBlock = (
    inner[1] as { valueBlock?: { value?: Array<{ valueBlock?: { valueDec?: number } }> } } | undefined
  )?.valueBlock?.value?.[0]?.valueBlock?.valueDec;
  return {
    certId,
    ...times,
    status: 'revoked',
    ...(revokedAt && !Number.isNaN(revokedAt.getTime()) ? { revokedAt } : {}),
    ...(reasonBlock !== undefined ? { revocationReason: reasonBlock } : {}),
  };
}

/** RFC 8954: the extension holds an OCTET STRING; some responders put the bare bytes. Both are read. */
function nonceValue(extnValue: Uint8Array): Uint8Array {
  try {
    const t = readTlv(extnValue, 0);
    if (t.tag === 0x04 && t.end === extnValue.length) return extnValue.slice(t.start, t.end);
  } catch {
    // not DER: the bare nonce
  }
  return new Uint8Array(extnValue);
}

/** An answer's verdict for one certificate: usable, stale (counts as no answer), or invalid (refused whatever the policy). */
export function evaluate(
  p: ParsedAnswer,
  single: SingleAnswer,
  issuer: ParsedCertificate,
  at: Date,
): Usable | { stale: string } | { invalid: string } {
  // Who signed is a pure function of the answer's and the issuer's bytes (remembered); a delegate's validity is checked at `at`.
  const signer = signerMemo.getOrMake(`${p.hash}:${issuer.x509.fingerprint256}`, () => signerOf(p.answer.der, issuer));
  const signed =
    signer.by === 'issuer' || (signer.by === 'delegate' && at >= signer.notBefore && at <= signer.notAfter);
  if (!signed)
    return {
      invalid: `is not signed by the issuer "${issuer.name}" or a responder it authorised${signer.by === 'delegate' ? ' and valid at the appraisal time' : ''}`,
    };
  if (p.answer.nonce) {
    if (!p.nonce) return { invalid: 'carries no nonce, but the request sent one' };
    if (!Buffer.from(p.nonce).equals(p.answer.nonce))
      return { invalid: 'carries another nonce than the request sent (a replayed answer)' };
  }
  const { thisUpdate, nextUpdate } = single;
  if (!nextUpdate) return { invalid: 'has no nextUpdate, so its freshness cannot be judged' };
  if (at.getTime() + OCSP_CLOCK_SKEW_MS < thisUpdate.getTime())
    return { stale: `issued ${thisUpdate.toISOString()}, after the appraisal time ${at.toISOString()}` };
  if (at > nextUpdate)
    return { stale: `stale since its nextUpdate ${nextUpdate.toISOString()} (appraisal time ${at.toISOString()})` };
  return {
    status: single.status,
    thisUpdate,
    nextUpdate,
    ...(single.revokedAt ? { revokedAt: single.revokedAt } : {}),
    ...(single.revocationReason !== undefined ? { revocationReason: single.revocationReason } : {}),
  };
}

/** A certificate's CertID parts, computed for any hash a responder may use. */
export function certIdOf(
  cert: ParsedCertificate,
  issuer: ParsedCertificate,
): { matches: (id: SingleAnswer['certId']) => boolean } {
  const serial = serialBytes(cert.der).toString('hex');
  const name = subjectBytes(issuer.der);
  const key = subjectKeyBits(issuer);
  return {
    matches: (id) =>
      id.hash !== undefined &&
      id.serial === serial &&
      createHash(id.hash).update(name).digest('hex') === id.issuerNameHash &&
      createHash(id.hash).update(key).digest('hex') === id.issuerKeyHash,
  };
}

/** TBSCertificate fields by position: [0] version, serial, signature, issuer, validity, subject, SPKI. */
function tbsFields(der: Uint8Array): ReturnType<typeof children> {
  const cert = readTlv(der, 0);
  const tbs = children(der, cert)[0]!;
  const fields = children(der, tbs);
  return fields[0]!.tag === 0xa0 ? fields.slice(1) : fields;
}

export function serialBytes(der: Uint8Array): Buffer {
  const serial = tbsFields(der)[0]!;
  return Buffer.from(der.subarray(serial.start, serial.end));
}

/** The DER of the subject Name (what issuerNameHash covers). */
export function subjectBytes(der: Uint8Array): Buffer {
  const subject = tbsFields(der)[4]!;
  return Buffer.from(der.subarray(subject.at, subject.end));
}

/** The subjectPublicKey BIT STRING's bytes without the unused-bits octet (what issuerKeyHash covers). */
export function subjectKeyBits(cert: ParsedCertificate): Buffer {
  let bits = keyBits.get(cert.x509);
  if (!bits) {
    bits = readKeyBits(cert);
    keyBits.set(cert.x509, bits);
  }
  return bits;
}

/** Each parsed certificate's key bits, exported once (exporting the SPKI is the costly part of a CertID). */
const keyBits = new WeakMap<X509Certificate, Buffer>();

function readKeyBits(cert: ParsedCertificate): Buffer {
  const spki = cert.x509.publicKey.export({ type: 'spki', format: 'der' });
  const top = readTlv(spki, 0);
  const bits = children(spki, top)[1]!;
  return Buffer.from(spki.subarray(bits.start + 1, bits.end));
}

type Signer = { by: 'issuer' } | { by: 'delegate'; notBefore: Date; notAfter: Date } | { by: 'nobody' };

/** Whether the issuer signed the answer, or a responder certificate the issuer signed for OCSP signing (RFC 6960 4.2.2.2). */
function signerOf(der: Uint8Array, issuer: ParsedCertificate): Signer {
  let basic: pkijs.BasicOCSPResponse;
  try {
    const read = basicResponse(der);
    if ('problem' in read) return { by: 'nobody' };
    basic = read;
  } catch {
    return { by: 'nobody' };
  }
  const hash = SIGNATURE_HASHES[basic.signatureAlgorithm.algorithmId];
  if (!hash) return { by: 'nobody' };
  const data = basic.tbsResponseData.tbsView;
  const signature = basic.signature.valueBlock.valueHexView;
  const verifies = (key: X509Certificate['publicKey']): boolean => {
    try {
      return verifySignature(hash, data, key, signature);
    } catch {
      return false;
    }
  };
  if (verifies(issuer.x509.publicKey)) return { by: 'issuer' };
  for (const responder of basic.certs ?? []) {
    let x: X509Certificate;
    try {
      x = new X509Certificate(new Uint8Array(responder.toSchema().toBER()));
    } catch {
      continue;
    }
    const eku = responder.extensions?.find((e) => e.extnID === '2.5.29.37');
    const purposes = (eku?.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? [];
    if (!purposes.includes(OCSP_SIGNING)) continue;
    try {
      if (x.checkIssued(issuer.x509) && x.verify(issuer.x509.publicKey) && verifies(x.publicKey))
        return { by: 'delegate', notBefore: x.validFromDate, notAfter: x.validToDate };
    } catch {}
  }
  return { by: 'nobody' };
}
