/**
 * OCSP for NVIDIA certificates, as collateral: the CertID of a certificate (SHA-384, as nvtrust
 * and go-nvattest-tools ask NVIDIA's responder), the DER OCSPRequest with a nonce (built with
 * pkijs), where to POST it (the certificate's Authority Information Access, else NVIDIA's
 * responder), its cache file, and the check that a stored or fetched answer is an OCSP answer for
 * that certificate at all. Whether the answer is signed, current and good is the verifier's
 * business (src/attestation/nvidia/ocsp.ts).
 */
import { createHash, randomBytes, type X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { ParsedCertificate } from '../attestation/nvidia/certificates.ts';
import { OCSP_NONCE, serialBytes, subjectBytes, subjectKeyBits } from '../attestation/nvidia/ocsp-answer.ts';
import { errorMessage } from '../errors.ts';

const SHA384 = '2.16.840.1.101.3.4.2.2';
const OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
export const OCSP_REQUEST_CONTENT_TYPE = 'application/ocsp-request';
/** Nonces as nvtrust sends them (BaseSettings.SIZE_OF_NONCE_IN_BYTES). */
const NONCE_BYTES = 32;

/** One certificate to ask about, with the certificate that issued it. */
export interface OcspQuery {
  readonly certificate: ParsedCertificate;
  readonly issuer: ParsedCertificate;
}

/** The parts of a SHA-384 CertID, hex. */
export interface CertIdParts {
  readonly issuerNameHash: string;
  readonly issuerKeyHash: string;
  readonly serial: string;
}

export function certIdParts(query: OcspQuery): CertIdParts {
  return {
    issuerNameHash: createHash('sha384').update(subjectBytes(query.issuer.der)).digest('hex'),
    issuerKeyHash: createHash('sha384').update(subjectKeyBits(query.issuer)).digest('hex'),
    serial: serialBytes(query.certificate.der).toString('hex'),
  };
}

/**
 * The cache file: one directory per issuing key, one answer per serial number, written as
 * `openssl x509 -noout -serial` prints it (lower case, without DER's leading zero byte).
 */
export function ocspFile(parts: CertIdParts): string {
  return `nvidia/ocsp/${parts.issuerKeyHash}/${parts.serial.replace(/^00(?=[89a-f])/, '')}.der`;
}

/** The responder named in the certificate's Authority Information Access (http or https only). */
export function ocspUrlOf(certificate: ParsedCertificate): string | undefined {
  const access = (certificate.x509 as X509Certificate).infoAccess ?? '';
  for (const m of access.matchAll(/OCSP - URI:(\S+)/g)) {
    const url = m[1]!;
    if (/^https?:\/\/[^\s/]+/i.test(url)) return url;
  }
  return undefined;
}

/** A DER OCSPRequest for one certificate, carrying `nonce` (RFC 8954). */
export function ocspRequest(query: OcspQuery, nonce: Uint8Array): Uint8Array {
  const parts = certIdParts(query);
  const certID = new pkijs.CertID({
    hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: SHA384, algorithmParams: new asn1js.Null() }),
    issuerNameHash: new asn1js.OctetString({ valueHex: Buffer.from(parts.issuerNameHash, 'hex') }),
    issuerKeyHash: new asn1js.OctetString({ valueHex: Buffer.from(parts.issuerKeyHash, 'hex') }),
    serialNumber: new asn1js.Integer({ valueHex: Buffer.from(parts.serial, 'hex') }),
  });
  const request = new pkijs.OCSPRequest();
  request.tbsRequest.requestList = [new pkijs.Request({ reqCert: certID })];
  request.tbsRequest.requestExtensions = [
    new pkijs.Extension({ extnID: OCSP_NONCE, extnValue: new asn1js.OctetString({ valueHex: nonce }).toBER() }),
  ];
  return new Uint8Array(request.toSchema(true).toBER());
}

export function ocspNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/**
 * Whether bytes are a successful basic OCSP answer with a response for this certificate, and its
 * nextUpdate; anything else (an error page, another certificate's answer) is never cached.
 */
export function readOcspAnswer(
  bytes: Uint8Array,
  parts: CertIdParts,
): { value: { nextUpdate?: Date } } | { invalid: string } {
  try {
    const outer = pkijs.OCSPResponse.fromBER(bytes);
    const status = outer.responseStatus.valueBlock.valueDec;
    if (status !== 0) return { invalid: `the OCSP responder answered status ${status}, not successful` };
    if (!outer.responseBytes || outer.responseBytes.responseType !== OCSP_BASIC)
      return { invalid: 'not a basic OCSP response' };
    const basic = pkijs.BasicOCSPResponse.fromBER(outer.responseBytes.response.valueBlock.valueHexView);
    const single = basic.tbsResponseData.responses.find(
      (r) =>
        r.certID.hashAlgorithm.algorithmId === SHA384 &&
        Buffer.from(r.certID.serialNumber.valueBlock.valueHexView).toString('hex') === parts.serial &&
        Buffer.from(r.certID.issuerNameHash.valueBlock.valueHexView).toString('hex') === parts.issuerNameHash &&
        Buffer.from(r.certID.issuerKeyHash.valueBlock.valueHexView).toString('hex') === parts.issuerKeyHash,
    );
    if (!single) return { invalid: 'the OCSP answer is for another certificate' };
    return { value: single.nextUpdate ? { nextUpdate: single.nextUpdate } : {} };
  } catch (err) {
    return { invalid: `not an OCSP response: ${errorMessage(err)}` };
  }
}
