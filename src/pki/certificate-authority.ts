/**
 * A certificate authority whose key lives only in this process's memory, in a WebCrypto key held
 * in a private field: no code path serialises it (no PEM, no JWK, nothing a log line, an Event or
 * a Secret could carry). Dropping the object drops the key. The Coordinator's root and mesh CAs
 * are such CAs (coordinator-pki.ts); X.509 through @peculiar/x509.
 *
 * A CA is made non-extractable (WebCrypto refuses to export it at all) unless it is
 * transferable, for peer recovery between the Coordinator's replicas: then its one way out is
 * `seal`, WebCrypto's wrapKey under an AES-GCM key agreed with an attested peer (key-transfer.ts),
 * so that the key's bytes exist in clear only inside the crypto library, never as a JS value;
 * `unseal` is the peer's way in (design: docs/pending/recovery.md).
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import { createHash, webcrypto } from 'node:crypto';
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

/** A CA's certificate and its private key wrapped for one peer (AES-GCM), as the peer protocol carries it. */
export interface SealedCa {
  /** PEM. */
  certificate: string;
  /** The AES-GCM IV, base64 (12 bytes). */
  iv: string;
  /** The PKCS#8 private key encrypted under the transfer key, with its tag, base64. */
  key: string;
}

/** A sealed CA that does not open: the wrong transfer key, a changed label or certificate, or a key for another certificate. */
export class UnsealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsealError';
  }
}

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
  readonly curve: CaCurve;
  readonly #privateKey: CryptoKey;
  readonly #algorithm: (typeof ALGORITHMS)[CaCurve];

  private constructor(certificate: x509.X509Certificate, privateKey: CryptoKey, curve: CaCurve) {
    this.certificate = certificate;
    this.pem = `${certificate.toString('pem')}\n`;
    this.der = new Uint8Array(certificate.rawData);
    this.curve = curve;
    this.#privateKey = privateKey;
    this.#algorithm = ALGORITHMS[curve];
  }

  /** Whether `seal` can hand the key to a peer (else the key is non-extractable). CAs it issues inherit it. */
  get transferable(): boolean {
    return this.#privateKey.extractable;
  }

  /**
   * A self-signed root that may issue one level of CAs. Transferable only when asked (peer
   * recovery on): otherwise its key is non-extractable.
   */
  static async root(
    subject: string,
    curve: CaCurve,
    now: Date,
    options: { transferable?: boolean } = {},
  ): Promise<CertificateAuthority> {
    const keys = await generate(curve, options.transferable ?? false);
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
    const keys = await generate(curve, this.transferable);
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

  /** Whether `ca`'s certificate was issued by this CA: its issuer is this CA's subject, and this CA's key signed it. */
  async issued(ca: CertificateAuthority): Promise<boolean> {
    if (ca.certificate.issuer !== this.certificate.subject) return false;
    return ca.certificate.verify({ publicKey: this.certificate.publicKey, signatureOnly: true });
  }

  /**
   * The certificate and the private key wrapped under `transferKey` (AES-GCM, a fresh IV), with
   * `label` and the certificate's SHA-256 as additional data, so that the key opens only as the CA
   * it was sealed as. The only way this key leaves the object.
   */
  async seal(transferKey: CryptoKey, label: string): Promise<SealedCa> {
    if (!this.transferable) throw new Error(`the ${label} CA was made non-extractable: peer recovery is off`);
    const iv = webcrypto.getRandomValues(new Uint8Array(12));
    const wrapped = await webcrypto.subtle.wrapKey('pkcs8', this.#privateKey, transferKey, {
      name: 'AES-GCM',
      iv,
      additionalData: sealContext(label, this.der),
    });
    return {
      certificate: this.pem,
      iv: Buffer.from(iv).toString('base64'),
      key: Buffer.from(wrapped).toString('base64'),
    };
  }

  /**
   * A CA from what a peer sealed: the key opens under `transferKey` with the same label and
   * certificate, is of `curve`, and belongs to the certificate (it signs what the certificate's
   * key verifies); the certificate is a CA. The key stays transferable, so that this replica can
   * hand it on when it leads. Throws UnsealError saying which of these failed.
   */
  static async unseal(
    sealed: SealedCa,
    transferKey: CryptoKey,
    label: string,
    curve: CaCurve,
  ): Promise<CertificateAuthority> {
    let certificate: x509.X509Certificate;
    try {
      certificate = new x509.X509Certificate(sealed.certificate);
    } catch (err) {
      throw new UnsealError(`the ${label} CA certificate does not parse: ${(err as Error).message}`);
    }
    const constraints = certificate.getExtension(x509.BasicConstraintsExtension);
    if (!constraints?.ca) throw new UnsealError(`the ${label} CA certificate is not a CA certificate`);
    const der = new Uint8Array(certificate.rawData);
    let privateKey: CryptoKey;
    try {
      privateKey = await webcrypto.subtle.unwrapKey(
        'pkcs8',
        Buffer.from(sealed.key, 'base64'),
        transferKey,
        { name: 'AES-GCM', iv: Buffer.from(sealed.iv, 'base64'), additionalData: sealContext(label, der) },
        { name: 'ECDSA', namedCurve: curve },
        true,
        ['sign'],
      );
    } catch {
      // AES-GCM says nothing more: another transfer key, another label or certificate, or changed bytes.
      throw new UnsealError(
        `the ${label} CA key does not open (sealed for another key, as another CA, or changed on the way)`,
      );
    }
    const probe = webcrypto.getRandomValues(new Uint8Array(32));
    const algorithm = ALGORITHMS[curve];
    const publicKey = await certificate.publicKey.export(algorithm, ['verify']).catch(() => undefined);
    const signature = await webcrypto.subtle.sign(algorithm, privateKey, probe);
    if (!publicKey || !(await webcrypto.subtle.verify(algorithm, publicKey, signature, probe)))
      throw new UnsealError(`the ${label} CA key is not the key of its certificate (or not ${curve})`);
    return new CertificateAuthority(certificate, privateKey, curve);
  }

  /**
   * For tests only: the private key, so that a test can search Kubernetes objects and logs for
   * its bytes. Nothing in src/ calls it.
   */
  static privateKeyForTests(ca: CertificateAuthority): CryptoKey {
    return ca.#privateKey;
  }
}

async function generate(curve: CaCurve, transferable: boolean): Promise<webcrypto.CryptoKeyPair> {
  // Non-extractable unless transferable: then WebCrypto refuses to export the private key, whatever asks.
  return (await webcrypto.subtle.generateKey(ALGORITHMS[curve], transferable, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
}

/** AES-GCM additional data of a sealed CA key: what it was sealed as, and for which certificate. */
function sealContext(label: string, certificateDer: Uint8Array): Uint8Array {
  return Buffer.concat([
    Buffer.from(`attestor peer recovery: ${label} CA\n`),
    createHash('sha256').update(certificateDer).digest(),
  ]);
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}
