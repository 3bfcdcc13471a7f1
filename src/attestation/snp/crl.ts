/**
 * AMD KDS certificate revocation lists (https://kdsintf.amd.com/{vcek,vlek}/v1/{product}/crl):
 * DER, signed by the product's ARK with RSASSA-PSS/SHA-384, listing revoked ASKs/ASVKs. The CRL
 * comes from a file or cache the caller supplies; this module never fetches.
 */
import { constants, verify, type X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { errorMessage } from '../../errors.ts';
import { commonName } from '../certificate-chain.ts';
import { type Reason, reason } from '../verdict.ts';

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const SHA384 = '2.16.840.1.101.3.4.2.2';

function serialOf(cert: X509Certificate): bigint {
  return BigInt('0x' + (cert.serialNumber || '0'));
}

/**
 * Checks that the CRL is signed by the ARK, current at `at`, and does not revoke the intermediate
 * (ASK/ASVK) of the chain. VCEKs are not listed: the ARK's CRL covers what the ARK signed, and a
 * newer TCB is how AMD supersedes a VCEK. Returns the reasons it fails.
 */
export function checkCrl(
  crlDer: Uint8Array,
  ark: X509Certificate,
  revocable: readonly X509Certificate[],
  at: Date,
): Reason[] {
  let crl: pkijs.CertificateRevocationList;
  let arkSubject: pkijs.RelativeDistinguishedNames;
  try {
    crl = pkijs.CertificateRevocationList.fromBER(crlDer);
    arkSubject = pkijs.Certificate.fromBER(ark.raw).subject;
  } catch (err) {
    return [reason('snp.crl', `CRL is not valid DER: ${errorMessage(err)}`)];
  }
  const alg = crl.signatureAlgorithm;
  let hashOid: string | undefined;
  let saltLength = 20;
  if (alg.algorithmId === RSASSA_PSS && alg.algorithmParams) {
    try {
      const params = new pkijs.RSASSAPSSParams({ schema: alg.algorithmParams });
      hashOid = params.hashAlgorithm.algorithmId;
      saltLength = params.saltLength;
    } catch {
      hashOid = undefined;
    }
  }
  if (hashOid !== SHA384)
    return [reason('snp.crl', `CRL signature algorithm ${alg.algorithmId} is not RSASSA-PSS with SHA-384`)];
  if (!crl.issuer.isEqual(arkSubject)) return [reason('snp.crl', `CRL is not issued by ${commonName(ark.subject)}`)];
  let ok = false;
  try {
    ok = verify(
      'sha384',
      crl.tbsView,
      { key: ark.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
      crl.signatureValue.valueBlock.valueHexView,
    );
  } catch {
    ok = false;
  }
  if (!ok) return [reason('snp.crl', `CRL signature does not verify with ${commonName(ark.subject)}`)];

  const out: Reason[] = [];
  const thisUpdate = crl.thisUpdate.value;
  const nextUpdate = crl.nextUpdate?.value;
  if (at < thisUpdate)
    out.push(reason('snp.crl', `CRL is issued at ${thisUpdate.toISOString()}, after ${at.toISOString()}`));
  if (nextUpdate !== undefined && at > nextUpdate)
    out.push(reason('snp.crl', `CRL expired at ${nextUpdate.toISOString()} (checked at ${at.toISOString()})`));
  const revoked = new Set((crl.revokedCertificates ?? []).map((r) => r.userCertificate.toBigInt()));
  for (const cert of revocable) {
    const serial = serialOf(cert);
    if (revoked.has(serial))
      out.push(
        reason(
          'snp.crl.revoked',
          `${commonName(cert.subject)} (serial 0x${serial.toString(16)}) is revoked by the CRL`,
        ),
      );
  }
  return out;
}
