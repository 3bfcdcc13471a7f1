/**
 * The simulated NVIDIA certificate authorities: ECDSA P-384 CAs that issue each other and the
 * GPUs' certificates, with stable serial numbers per seed and subject, remembering what they
 * issued for their OCSP responder.
 */
import { createHash, webcrypto } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads.
import * as x509 from '@peculiar/x509';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC = { name: 'ECDSA', namedCurve: 'P-384' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-384' } as const;

/** One CA (or an end-entity certificate made the same way) with its keys. */
export interface Ca {
  readonly keys: CryptoKeyPair;
  readonly cert: x509.X509Certificate;
  readonly subject: string;
  /** Certificates this CA issued (for its OCSP responder). */
  readonly issued: Array<{ serial: string; subject: string; notAfter: Date }>;
}

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CaFactory {
  keygen(): Promise<CryptoKeyPair>;
  /** BasicConstraints (CA) and key usage keyCertSign, both critical. */
  caExtensions(pathLength?: number): x509.Extension[];
  root(subject: string): Promise<Ca>;
  issue(
    issuer: Ca,
    subject: string,
    extensions: x509.Extension[],
    keys?: CryptoKeyPair,
    validity?: Validity,
  ): Promise<Ca>;
}

export function caFactory(options: {
  readonly seed: string;
  readonly validity: Validity;
  /** The OCSP responder URL to put in the Authority Information Access of what a CA issues (by its subject). */
  readonly ocspUrl?: ((issuerSubject: string) => string | undefined) | undefined;
}): CaFactory {
  const { seed, validity } = options;
  const keygen = (): Promise<CryptoKeyPair> =>
    webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
  const caExtensions = (pathLength?: number): x509.Extension[] => [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  return {
    keygen,
    caExtensions,
    async root(subject) {
      const keys = await keygen();
      const cert = await x509.X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: serial(seed, subject),
          name: subject,
          keys,
          ...validity,
          signingAlgorithm: SIGNING,
          extensions: caExtensions(),
        },
        webcrypto as never,
      );
      return { keys, cert, subject, issued: [] };
    },
    async issue(issuer, subject, extensions, keys, v = validity) {
      const k = keys ?? (await keygen());
      const url = options.ocspUrl?.(issuer.subject);
      const aia = url ? [new x509.AuthorityInfoAccessExtension({ ocsp: [new x509.GeneralName('url', url)] })] : [];
      const serialNumber = serial(seed, subject);
      const cert = await x509.X509CertificateGenerator.create(
        {
          serialNumber,
          subject,
          issuer: issuer.subject,
          publicKey: k.publicKey,
          signingKey: issuer.keys.privateKey,
          ...v,
          signingAlgorithm: SIGNING,
          extensions: [...extensions, ...aia],
        },
        webcrypto as never,
      );
      if (!issuer.issued.some((i) => i.serial === serialNumber.toUpperCase()))
        issuer.issued.push({ serial: serialNumber.toUpperCase(), subject, notAfter: v.notAfter });
      return { keys: k, cert, subject, issued: [] };
    },
  };
}

function serial(seed: string, subject: string): string {
  // Positive, 16 bytes: stable per seed and subject so generated chains are reproducible in shape.
  return '01' + createHash('sha256').update(`${seed}/serial/${subject}`).digest('hex').slice(0, 30);
}
