/**
 * OCSP answers of the simulated NVIDIA CAs: DER OCSPResponses (SHA-384 CertID, signed by the
 * issuer's key), the responder that signs a fresh "good" one for anything the CAs issued (so that
 * `attestor dev`, which runs for hours, always has current ones), and which certificates an answer
 * speaks about.
 */
import { createHash, KeyObject, sign, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { OcspAnswer } from '../nvidia/ocsp-answer.ts';
import type { Ca } from './gpu-ca.ts';

/** Makes an answer for a certificate on demand; undefined when it knows nothing of it. */
export type OcspResponder = (certificate: Uint8Array, issuer: Uint8Array, at: Date) => OcspAnswer | undefined;

export type OcspStatusChoice = 'good' | 'revoked' | 'unknown';

export interface OcspTimes {
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** Revocation time of a revoked answer; default thisUpdate. */
  revokedAt?: Date;
  /** The nonce to echo (an answer to a request that carried one). */
  nonce?: Uint8Array;
}

const DAY = 86_400_000;
const MINUTE = 60_000;
/** Answers of the responder are current for this long; it signs a new one when half of it has passed. */
const RESPONDER_VALIDITY_MS = 60 * MINUTE;

/** The CAs' OCSP: answers signed on request, and the responder. */
export interface CaOcsp {
  /** Lets the responder answer for what this CA issued. */
  remember(ca: Ca): void;
  /** The CA whose certificate these DER bytes are, if it is one of the remembered ones. */
  caOf(certificate: Uint8Array): Ca | undefined;
  /** An answer for `certificate`, signed by `ca`; times default to the CAs' validity start and ten years. */
  answer(certificate: Uint8Array, ca: Ca, status: OcspStatusChoice, times: OcspTimes): Uint8Array;
  readonly responder: OcspResponder;
}

export function caOcsp(notBefore: Date): CaOcsp {
  const keyOf = new Map<Ca, KeyObject>();
  const signingKey = (ca: Ca): KeyObject => {
    let k = keyOf.get(ca);
    if (!k) {
      k = KeyObject.from(ca.keys.privateKey);
      keyOf.set(ca, k);
    }
    return k;
  };
  // The responder finds the CA by the issuer certificate it is asked about.
  const caByDer = new Map<string, Ca>();
  const answered = new Map<string, { answer: OcspAnswer; renewAt: number }>();
  const answer = (certificate: Uint8Array, ca: Ca, status: OcspStatusChoice, times: OcspTimes): Uint8Array => {
    const thisUpdate = times.thisUpdate ?? notBefore;
    return ocspResponse(
      pkijs.Certificate.fromBER(certificate),
      pkijs.Certificate.fromBER(new Uint8Array(ca.cert.rawData)),
      signingKey(ca),
      status,
      thisUpdate,
      times.nextUpdate ?? new Date(notBefore.getTime() + 3650 * DAY),
      times.revokedAt ?? thisUpdate,
      times.nonce,
    );
  };
  const caOf = (certificate: Uint8Array): Ca | undefined => caByDer.get(Buffer.from(certificate).toString('base64'));
  return {
    remember: (ca) => void caByDer.set(Buffer.from(ca.cert.rawData).toString('base64'), ca),
    caOf,
    answer,
    responder(certificate, issuer, at) {
      const ca = caOf(issuer);
      if (!ca) return undefined;
      const key = `${Buffer.from(issuer).toString('base64')}/${new X509Certificate(certificate).serialNumber}`;
      const cached = answered.get(key);
      if (cached && at.getTime() < cached.renewAt && at.getTime() >= cached.renewAt - RESPONDER_VALIDITY_MS / 2)
        return cached.answer;
      const thisUpdate = new Date(at.getTime() - MINUTE);
      const fresh = {
        der: answer(certificate, ca, 'good', {
          thisUpdate,
          nextUpdate: new Date(thisUpdate.getTime() + RESPONDER_VALIDITY_MS),
        }),
      };
      answered.set(key, { answer: fresh, renewAt: thisUpdate.getTime() + RESPONDER_VALIDITY_MS / 2 });
      return fresh;
    },
  };
}

export function ocspResponse(
  cert: pkijs.Certificate,
  issuer: pkijs.Certificate,
  issuerKey: KeyObject,
  status: OcspStatusChoice,
  thisUpdate: Date,
  nextUpdate: Date,
  revokedAt: Date,
  nonce: Uint8Array | undefined,
): Uint8Array {
  const sha384 = (b: Uint8Array | ArrayBuffer): Uint8Array =>
    new Uint8Array(createHash('sha384').update(new Uint8Array(b)).digest());
  const certID = new pkijs.CertID({
    hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '2.16.840.1.101.3.4.2.2' }),
    issuerNameHash: new asn1js.OctetString({ valueHex: sha384(issuer.subject.toSchema().toBER()) }),
    issuerKeyHash: new asn1js.OctetString({
      valueHex: sha384(issuer.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView),
    }),
    serialNumber: new asn1js.Integer({ valueHex: cert.serialNumber.valueBlock.valueHexView }),
  });
  const certStatus =
    status === 'good'
      ? new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 } })
      : status === 'revoked'
        ? new asn1js.Constructed({
            idBlock: { tagClass: 3, tagNumber: 1 },
            value: [new asn1js.GeneralizedTime({ valueDate: revokedAt })],
          })
        : new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 } });
  const responseData = new pkijs.ResponseData({
    responderID: issuer.subject,
    producedAt: thisUpdate,
    responses: [new pkijs.SingleResponse({ certID, certStatus, thisUpdate, nextUpdate })],
    ...(nonce
      ? {
          responseExtensions: [
            new pkijs.Extension({
              extnID: '1.3.6.1.5.5.7.48.1.2',
              extnValue: new asn1js.OctetString({ valueHex: nonce }).toBER(),
            }),
          ],
        }
      : {}),
  });
  const tbs = new Uint8Array(responseData.toSchema(true).toBER());
  // pkijs encodes a ResponseData inside a BasicOCSPResponse from these bytes only.
  responseData.tbsView = tbs;
  const signature = sign('sha384', tbs, issuerKey);
  const basic = new pkijs.BasicOCSPResponse({
    tbsResponseData: responseData,
    signatureAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '1.2.840.10045.4.3.3' }),
    signature: new asn1js.BitString({ valueHex: signature }),
  });
  const response = new pkijs.OCSPResponse({
    responseStatus: new asn1js.Enumerated({ value: 0 }),
    responseBytes: new pkijs.ResponseBytes({
      responseType: '1.3.6.1.5.5.7.48.1.1',
      response: new asn1js.OctetString({ valueHex: basic.toSchema().toBER() }),
    }),
  });
  return new Uint8Array(response.toSchema().toBER());
}

/** The serial numbers (lower-case hex) an OCSP answer speaks about; none when it is not one. */
export function answeredSerials(der: Uint8Array): string[] {
  try {
    const outer = pkijs.OCSPResponse.fromBER(der);
    if (!outer.responseBytes) return [];
    const basic = pkijs.BasicOCSPResponse.fromBER(outer.responseBytes.response.valueBlock.valueHexView);
    return basic.tbsResponseData.responses.map((r) =>
      Buffer.from(r.certID.serialNumber.valueBlock.valueHexView)
        .toString('hex')
        .replace(/^(00)+(?=.)/, ''),
    );
  } catch {
    return [];
  }
}
