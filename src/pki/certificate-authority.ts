/**
 * A certificate authority whose key lives only in this process's memory: generated with WebCrypto
 * as a non-extractable key, so that no code path here can serialise it (no PEM, no JWK, nothing a
 * log line, an Event or a Secret could carry). Dropping the object drops the key. The
 * Coordinator's root and mesh CAs are such CAs (coordinator-pki.ts); X.509 through @peculiar/x509.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

export type CaCurve = 'P-256' | 'P-384';

const ALGORITHMS = {
  'P-256': { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
  'P-384': { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' },
} as const;

/** How long the Coordinator's CAs are valid; they are replaced long before (the mesh CA with every Manifest). */
export const CA_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;
/** Certificates start a little in the past, for clocks that lag. */
const BACKDATE_MS = 60_000;

export interface LeafRequest {
  publicKey: CryptoKey;
  /** Subject as an X.500 name string, e.g. "CN=llama, O=default". */
  subject: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  notAfter: Date;
  now: Date;
  /** Further extensions (the workload certificate's policy hash and evidence digest). */
  extensions?: x509.Extension[];
}

export class CertificateAuthority {
  readonly certificate: x509.X509Certificate;
  /** The certificate, PEM. */
  readonly pem: string;
  /** The certificate, DER. */
  readonly der: Uint8Array;
  readonly #privateKey: CryptoKey;
  readonly #algorithm: (typeof ALGORITHMS)[CaCurve];

  private constructor(certificate: x509.X509Certificate, privateKey: CryptoKey, curve: CaCurve) {
    this.certificate = certificate;
    this.pem = `${certificate.toString('pem')}\n`;
    this.der = new Uint8Array(certificate.rawData);
    this.#privateKey = privateKey;
    this.#algorithm = ALGORITHMS[curve];
  }

  /** A self-signed root that may issue one level of CAs. */
  static async root(subject: string, curve: CaCurve, now: Date): Promise<CertificateAuthority> {
    const keys = await generate(curve);
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: subject,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
      keys,
      signingAlgorithm: ALGORITHMS[curve],
      extensions: [
        new x509.BasicConstraintsExtension(true, 1, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(certificate, keys.privateKey, curve);
  }

  /** A CA under this one, with a fresh key, that issues end-entity certificates only. */
  async intermediate(subject: string, curve: CaCurve, now: Date): Promise<CertificateAuthority> {
    const keys = await generate(curve);
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject,
      issuer: this.certificate.subject,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: this.certificate.notAfter,
      signingKey: this.#privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: this.#algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
      ],
    });
    return new CertificateAuthority(certificate, keys.privateKey, curve);
  }

  /** An end-entity certificate for a key someone else holds: ECDSA, for TLS clients and servers. */
  async issue(request: LeafRequest): Promise<x509.X509Certificate> {
    const names: x509.JsonGeneralName[] = [
      ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const notAfter = new Date(Math.min(request.notAfter.getTime(), this.certificate.notAfter.getTime()));
    return x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: request.subject,
      issuer: this.certificate.subject,
      notBefore: new Date(request.now.getTime() - BACKDATE_MS),
      notAfter,
      signingKey: this.#privateKey,
      publicKey: request.publicKey,
      signingAlgorithm: this.#algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
        ...(request.extensions ?? []),
      ],
    });
  }

  /**
   * For tests only: the private key, so that a test can search Kubernetes objects and logs for
   * its bytes. Nothing in src/ calls it.
   */
  static privateKeyForTests(ca: CertificateAuthority): CryptoKey {
    return ca.#privateKey;
  }
}

async function generate(curve: CaCurve): Promise<webcrypto.CryptoKeyPair> {
  // Non-extractable: WebCrypto refuses to export the private key, whatever asks.
  return (await webcrypto.subtle.generateKey(ALGORITHMS[curve], false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}
