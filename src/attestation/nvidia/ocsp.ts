/**
 * OCSP answers (RFC 6960 DER OCSPResponse) for certificates of a verified chain, taken from files
 * so air-gapped clusters can check revocation. Each answer must be for a certificate of the
 * chain, signed by that certificate's issuer (or by a responder certificate the issuer signed
 * for id-kp-OCSPSigning, as NVIDIA's OCSP service does), current at the given time, and "good".
 */
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { reason, type Reason } from '../verdict.ts';
import type { ParsedCertificate } from './certificates.ts';

const OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
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

export interface OcspStatus {
  /** CN of the certificate the answer is for. */
  readonly certificate: string;
  readonly status: 'good' | 'revoked' | 'unknown';
}

/** Checks every answer against the chain path (leaf first, anchor last); never throws. */
export function checkOcsp(responses: readonly Uint8Array[], path: readonly ParsedCertificate[], at: Date, check: string): { statuses: OcspStatus[]; reasons: Reason[] } {
  const statuses: OcspStatus[] = [];
  const reasons: Reason[] = [];
  const pairs = path.slice(0, -1).map((cert, i) => ({ cert, issuer: path[i + 1]!, pk: pkijs.Certificate.fromBER(cert.der), issuerPk: pkijs.Certificate.fromBER(path[i + 1]!.der) }));
  responses.forEach((der, n) => {
    const label = `OCSP response ${n + 1}`;
    try {
      const outer = pkijs.OCSPResponse.fromBER(der);
      const status = outer.responseStatus.valueBlock.valueDec;
      if (status !== 0) return void reasons.push(reason(check, `${label}: the responder answered status ${status}, not successful`));
      if (!outer.responseBytes || outer.responseBytes.responseType !== OCSP_BASIC) return void reasons.push(reason(check, `${label}: not a basic OCSP response`));
      const basic = pkijs.BasicOCSPResponse.fromBER(outer.responseBytes.response.valueBlock.valueHexView);
      let matchedAny = false;
      for (const single of basic.tbsResponseData.responses) {
        const pair = pairs.find((p) => certIdMatches(single.certID, p.pk, p.issuerPk));
        if (!pair) continue;
        matchedAny = true;
        const name = pair.cert.name;
        if (!signedByIssuerOrDelegate(basic, pair.issuer, at)) {
          reasons.push(reason(check, `${label} for "${name}": not signed by its issuer "${pair.issuer.name}" or a responder it authorised`));
          continue;
        }
        const thisUpdate = single.thisUpdate;
        const nextUpdate = single.nextUpdate;
        if (at < thisUpdate) reasons.push(reason(check, `${label} for "${name}": issued ${thisUpdate.toISOString()}, after the check time ${at.toISOString()}`));
        if (nextUpdate && at > nextUpdate) reasons.push(reason(check, `${label} for "${name}": stale since ${nextUpdate.toISOString()} (checked at ${at.toISOString()})`));
        const tag = (single.certStatus as asn1js.BaseBlock).idBlock.tagNumber;
        const s: OcspStatus['status'] = tag === 0 ? 'good' : tag === 1 ? 'revoked' : 'unknown';
        statuses.push({ certificate: name, status: s });
        if (s !== 'good') reasons.push(reason(check, `${label}: "${name}" is ${s}`));
      }
      if (!matchedAny) reasons.push(reason(check, `${label} is for none of the chain's certificates`));
    } catch (err) {
      reasons.push(reason(check, `${label} does not parse: ${(err as Error).message}`));
    }
  });
  return { statuses, reasons };
}

function certIdMatches(id: pkijs.CertID, cert: pkijs.Certificate, issuer: pkijs.Certificate): boolean {
  const hash = HASHES[id.hashAlgorithm.algorithmId];
  if (!hash) return false;
  const nameHash = createHash(hash).update(new Uint8Array(issuer.subject.valueBeforeDecode)).digest();
  const keyHash = createHash(hash).update(issuer.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView).digest();
  return (
    nameHash.equals(id.issuerNameHash.valueBlock.valueHexView) &&
    keyHash.equals(id.issuerKeyHash.valueBlock.valueHexView) &&
    Buffer.from(id.serialNumber.valueBlock.valueHexView).equals(cert.serialNumber.valueBlock.valueHexView)
  );
}

function signedByIssuerOrDelegate(basic: pkijs.BasicOCSPResponse, issuer: ParsedCertificate, at: Date): boolean {
  const hash = SIGNATURE_HASHES[basic.signatureAlgorithm.algorithmId];
  if (!hash) return false;
  const data = basic.tbsResponseData.tbsView;
  const signature = basic.signature.valueBlock.valueHexView;
  const verifies = (key: X509Certificate['publicKey']): boolean => {
    try {
      return verifySignature(hash, data, key, signature);
    } catch {
      return false;
    }
  };
  if (verifies(issuer.x509.publicKey)) return true;
  for (const responder of basic.certs ?? []) {
    const der = new Uint8Array(responder.toSchema().toBER());
    let x: X509Certificate;
    try {
      x = new X509Certificate(der);
    } catch {
      continue;
    }
    const eku = responder.extensions?.find((e) => e.extnID === '2.5.29.37');
    const purposes = (eku?.parsedValue as pkijs.ExtKeyUsage | undefined)?.keyPurposes ?? [];
    if (!purposes.includes(OCSP_SIGNING)) continue;
    if (at < x.validFromDate || at > x.validToDate) continue;
    if (x.checkIssued(issuer.x509) && x.verify(issuer.x509.publicKey) && verifies(x.publicKey)) return true;
  }
  return false;
}
