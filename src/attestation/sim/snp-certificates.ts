/**
 * The simulated AMD certificates: ARK and ASK/ASVK (RSA, RSASSA-PSS/SHA-384) and the VCEK/VLEK
 * with AMD's KDS extensions (TCB SPLs, hwID or CSP ID), as KDS issues them.
 */
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads.
import type { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import type { SnpProduct, SnpTcb } from '../reference-values.ts';
import { AMD_OID } from '../snp/certificates.ts';
import type { SnpSigningKey } from '../snp/key-info.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const NAME = (cn: string): string =>
  `CN=${cn}, OU=Engineering, O=attestor simulated AMD, L=Santa Clara, ST=CA, C=US`;
export const RSA_PSS: webcrypto.RsaHashedKeyGenParams = {
  name: 'RSA-PSS',
  hash: 'SHA-384',
  modulusLength: 4096,
  publicExponent: new Uint8Array([1, 0, 1]),
};
export const PSS_SIGN: webcrypto.RsaPssParams = { name: 'RSA-PSS', saltLength: 48 };
const ROOT_FROM = new Date('2020-01-01T00:00:00Z');
const ROOT_TO = new Date('2045-01-01T00:00:00Z');

const der = (block: asn1js.BaseBlock): ArrayBuffer => block.toBER();

export async function caCert(
  cn: string,
  keys: CryptoKeyPair,
  issuer: { cert: x509.X509Certificate; key: CryptoKey } | null,
  serial: string,
  crl: string,
): Promise<x509.X509Certificate> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, issuer ? 0 : 1, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    new x509.CRLDistributionPointsExtension([crl]),
  ];
  if (issuer) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey));
  return x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: NAME(cn),
    issuer: issuer ? issuer.cert.subject : NAME(cn),
    notBefore: ROOT_FROM,
    notAfter: ROOT_TO,
    publicKey: keys.publicKey,
    signingKey: issuer ? issuer.key : keys.privateKey,
    signingAlgorithm: PSS_SIGN,
    extensions,
  });
}

/** The VCEK (hwID from CHIP_ID) or VLEK (CSP ID) for a TCB, signed by `issuer` (the ASK or ASVK). */
export async function endorsementCertificate(o: {
  readonly kind: SnpSigningKey;
  readonly product: SnpProduct;
  readonly tcb: SnpTcb;
  readonly hwId: Uint8Array;
  readonly productName: string;
  readonly issuer: { readonly cert: x509.X509Certificate; readonly key: CryptoKey };
  readonly publicKey: CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
}): Promise<x509.X509Certificate> {
  const t = o.tcb;
  const int = (oid: string, n: number): x509.Extension =>
    new x509.Extension(oid, false, der(new asn1js.Integer({ value: n })));
  const extensions: x509.Extension[] = [
    int(AMD_OID.structVersion, 0),
    new x509.Extension(AMD_OID.productName, false, der(new asn1js.IA5String({ value: o.productName }))),
    int(AMD_OID.blSpl, t.bootloader),
    int(AMD_OID.teeSpl, t.tee),
    int(AMD_OID.snpSpl, t.snp),
    int(AMD_OID.spl4, 0),
    int(AMD_OID.spl5, 0),
    int(AMD_OID.spl6, 0),
    int(AMD_OID.spl7, 0),
    int(AMD_OID.ucodeSpl, t.microcode),
  ];
  if (o.product === 'Turin') extensions.push(int(AMD_OID.fmcSpl, t.fmc ?? 0));
  if (o.kind === 'vcek') {
    // KDS puts the raw hwID bytes in the extension value, without an OCTET STRING header.
    extensions.push(new x509.Extension(AMD_OID.hwId, false, o.hwId.slice()));
  } else {
    extensions.push(
      new x509.Extension(AMD_OID.cspId, false, der(new asn1js.IA5String({ value: 'attestor-simulated-csp' }))),
    );
  }
  return x509.X509CertificateGenerator.create({
    serialNumber: '00',
    subject: NAME(o.kind === 'vcek' ? 'SEV-VCEK' : 'SEV-VLEK'),
    issuer: o.issuer.cert.subject,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    publicKey: o.publicKey,
    signingKey: o.issuer.key,
    signingAlgorithm: PSS_SIGN,
    extensions,
  });
}

export function pemOf(cert: x509.X509Certificate): string {
  return cert.toString('pem').replace(/\r\n/g, '\n').trim() + '\n';
}
