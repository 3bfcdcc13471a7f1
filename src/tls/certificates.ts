/**
 * A tiny certificate authority for loopback TLS: the local control plane (API server serving
 * and client certificates), webhook serving certificates and their caBundle. ECDSA P-256 keys,
 * made with @peculiar/x509 over Node's WebCrypto.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { toPem } from '../attestation/pem.ts';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface KeyAndCertificate {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly certificate: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
}

export interface CertificateRequest {
  commonName: string;
  /** Organisations (Kubernetes maps O to groups for client certificates). */
  organizations?: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  /** server, client or both. */
  usage: 'server' | 'client' | 'server+client';
  validDays?: number;
}

export async function createCertificateAuthority(commonName: string, validDays = 365): Promise<KeyAndCertificate> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${escapeDn(commonName)}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validDays * DAY_MS),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certificate,
    keys,
    certificatePem: certificate.toString('pem') + '\n',
    privateKeyPem: await privateKeyPem(keys.privateKey),
  };
}

export async function issueCertificate(ca: KeyAndCertificate, request: CertificateRequest): Promise<KeyAndCertificate> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const usages: string[] = [];
  if (request.usage.includes('server')) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (request.usage.includes('client')) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const names: x509.JsonGeneralName[] = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const subject = [
    `CN=${escapeDn(request.commonName)}`,
    ...(request.organizations ?? []).map((o) => `O=${escapeDn(o)}`),
  ].join(', ');
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: ca.certificate.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (request.validDays ?? 365) * DAY_MS),
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: algorithm,
    extensions,
  });
  return {
    certificate,
    keys,
    certificatePem: certificate.toString('pem') + '\n',
    privateKeyPem: await privateKeyPem(keys.privateKey),
  };
}

/** A key pair in PEM (PKCS#8 private, SPKI public), e.g. for service account token signing. */
export async function createSigningKeyPair(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  return { privateKeyPem: await privateKeyPem(keys.privateKey), publicKeyPem: toPem(spki, 'PUBLIC KEY') };
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem(Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)), 'PRIVATE KEY');
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}

function escapeDn(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1');
}
