/**
 * Simulated Intel TDX platforms for tests and `attestor dev`: quotes in the exact v4/v5 byte
 * format (header, TD report body, ECDSA P-256 quote signature by a QE attestation key, QE report
 * signed by a PCK key whose certificate carries the SGX extension, PCK chain PEM), and signed PCS
 * collateral (TCB info, QE identity, PCK and root CRLs). Everything chains to a root generated
 * here, so it verifies only where `roots` are configured as trust anchors: the same verifier,
 * never a bypass. Keys are generated once per simulator; quotes are then signed synchronously.
 * The quote's bytes are in tdx-quote.ts, the collateral's contents in tdx-collateral.ts; this file
 * is the simulator's API, its CA hierarchy, and the signing of what those two produce.
 */
import { createHash, KeyObject, sign, webcrypto } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads.
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import type { TdxCollateral } from '../tdx/collateral.ts';
import { SGX_EXTENSION_OID } from '../tdx/pck.ts';
import type { TcbStatus } from '../tdx/tcb-info.ts';
import { collateralJson } from './tdx-collateral.ts';
import { quoteBytes } from './tdx-quote.ts';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const O = 'O=attestor simulation, L=Santa Clara, ST=CA, C=US';
const ROOT_NAME = `CN=Simulated Intel SGX Root CA, ${O}`;

export interface TdxSimulatorOptions {
  /** Validity of every simulated certificate. Default 2024-01-01 to 2044-01-01. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** PCK certificate validity; default the CA validity. */
  readonly pckNotAfter?: Date;
  /** Default 50806f000000 (the Sapphire Rapids platform of the real vector). */
  readonly fmspc?: string;
  /** Default 0000. */
  readonly pceId?: string;
  /** SGX TCB components 1..16 in the PCK certificate. Default [3,3,2,2,2,1,0,2,0,...]. */
  readonly pckTcbComponents?: readonly number[];
  /** Default 11. */
  readonly pceSvn?: number;
  /** The QE's ISVSVN. Default 4. */
  readonly qeIsvSvn?: number;
  /** Issue the PCK from a "Processor CA" instead of a "Platform CA". */
  readonly processorCa?: boolean;
}

/** What one quote says; every field has a realistic default. Hex strings or bytes. */
export interface TdxQuoteFields {
  readonly version?: 4 | 5;
  /** v5 only: 2 = TDX 1.0 body, 3 = TDX 1.5 body (default 3). */
  readonly bodyType?: 2 | 3;
  readonly mrTd?: Bytes;
  readonly rtmrs?: readonly Bytes[];
  readonly mrConfigId?: Bytes;
  readonly mrOwner?: Bytes;
  readonly mrOwnerConfig?: Bytes;
  readonly reportData?: Bytes;
  /** Default 0000001000000000 (SEPT_VE_DISABLE set, not debug). */
  readonly tdAttributes?: Bytes;
  /** Default e718060000000000. */
  readonly xfam?: Bytes;
  /** Default 03000400000000000000000000000000. */
  readonly teeTcbSvn?: Bytes;
  readonly teeTcbSvn2?: Bytes;
  readonly mrSeam?: Bytes;
  /** Default all zero (Intel-signed TDX module). */
  readonly mrSignerSeam?: Bytes;
  readonly seamAttributes?: Bytes;
  readonly mrServiceTd?: Bytes;
  readonly qeAuthData?: Uint8Array;
  /** MRSIGNER of the quoting enclave; default Intel's TD QE signer. Another one models a non-Intel QE. */
  readonly qeMrSigner?: Bytes;
  /** Bytes appended after the quote (real quotes may carry some). */
  readonly trailingBytes?: number;
}

type Bytes = string | Uint8Array;

/** Shapes the simulated collateral. */
export interface TdxCollateralOptions {
  /** Default 2024-06-01T00:00:00Z. */
  readonly issueDate?: Date;
  /** Default issueDate + 30 days. */
  readonly nextUpdate?: Date;
  /** Status of the TCB level the default PCK/TEE TCB matches. Default UpToDate. */
  readonly tcbStatus?: TcbStatus;
  /** Status of the QE's ISVSVN level. Default UpToDate. */
  readonly qeTcbStatus?: TcbStatus;
  /** FMSPC the TCB info is for; default the simulator's. */
  readonly fmspc?: string;
  /** Put the PCK certificate on the PCK CRL. */
  readonly revokePck?: boolean;
  /** Put the PCK intermediate CA on the root CRL. */
  readonly revokeIntermediate?: boolean;
  /** Put the TCB Signing certificate (signer of TCB info and QE identity) on the root CRL. */
  readonly revokeTcbSigner?: boolean;
  /**
   * Have the PCK CRL (and its issuer chain) come from the other PCK CA (the Processor CA when the
   * PCK is from the Platform CA, and the other way round): genuine, but not the PCK's issuer.
   */
  readonly pckCrlFromOtherCa?: boolean;
  /** Add tdxModuleIdentities (TCB info for TDX 1.5 modules) with this status for TDX_03. */
  readonly moduleIdentityStatus?: TcbStatus;
}

export interface TdxSimulator {
  /** PEM of the simulated root CA: the trust anchor to configure. */
  readonly roots: readonly string[];
  /** The PCK chain the quotes carry (PCK, intermediate, root). */
  readonly pckChainPem: string;
  /** A signed quote with these fields. */
  quote(fields?: TdxQuoteFields): Uint8Array;
  /** Signed collateral matching this simulator's platform. */
  collateral(options?: TdxCollateralOptions): Promise<TdxCollateral>;
}

/** Creates a simulated TDX platform (generates its CA hierarchy and keys once). */
export async function createTdxSimulator(options: TdxSimulatorOptions = {}): Promise<TdxSimulator> {
  const notBefore = options.notBefore ?? new Date('2024-01-01T00:00:00Z');
  const notAfter = options.notAfter ?? new Date('2044-01-01T00:00:00Z');
  const fmspc = (options.fmspc ?? '50806f000000').toLowerCase();
  const pceId = options.pceId ?? '0000';
  const pckTcb = options.pckTcbComponents ?? [3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0];
  const pceSvn = options.pceSvn ?? 11;
  const qeIsvSvn = options.qeIsvSvn ?? 4;
  const keygen = (): Promise<CryptoKeyPair> =>
    webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
  const crypto = webcrypto as never;
  let serialCounter = 0;
  const serial = (): string =>
    createHash('sha256')
      .update(`tdx-sim/${++serialCounter}/${Math.random()}`)
      .digest('hex')
      .slice(0, 32)
      .replace(/^[89a-f]/, '1');
  const caExtensions = async (keys: CryptoKeyPair, pathLength: number | undefined): Promise<x509.Extension[]> => [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
  ];

  const rootKeys = await keygen();
  const root = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: ROOT_NAME,
      keys: rootKeys,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
      extensions: await caExtensions(rootKeys, 1),
    },
    crypto,
  );
  const issue = async (
    subject: string,
    keys: CryptoKeyPair,
    issuerName: string,
    issuerKeys: CryptoKeyPair,
    extensions: x509.Extension[],
    until = notAfter,
  ): Promise<x509.X509Certificate> =>
    x509.X509CertificateGenerator.create(
      {
        serialNumber: serial(),
        subject,
        issuer: issuerName,
        publicKey: keys.publicKey,
        signingKey: issuerKeys.privateKey,
        notBefore,
        notAfter: until,
        signingAlgorithm: SIGNING,
        extensions: [
          ...extensions,
          await x509.AuthorityKeyIdentifierExtension.create(issuerKeys.publicKey, false, crypto),
        ],
      },
      crypto,
    );

  const caName = `CN=Intel SGX PCK ${options.processorCa ? 'Processor' : 'Platform'} CA, ${O}`;
  const caKeys = await keygen();
  const ca = await issue(caName, caKeys, ROOT_NAME, rootKeys, await caExtensions(caKeys, 0));
  const otherCaName = `CN=Intel SGX PCK ${options.processorCa ? 'Platform' : 'Processor'} CA, ${O}`;
  const otherCaKeys = await keygen();
  const otherCa = await issue(otherCaName, otherCaKeys, ROOT_NAME, rootKeys, await caExtensions(otherCaKeys, 0));
  const pckKeys = await keygen();
  const pck = await issue(
    `CN=Intel SGX PCK Certificate, ${O}`,
    pckKeys,
    caName,
    caKeys,
    [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true),
      await x509.SubjectKeyIdentifierExtension.create(pckKeys.publicKey, false, crypto),
      new x509.Extension(SGX_EXTENSION_OID, false, sgxExtension(fmspc, pceId, pckTcb, pceSvn)),
    ],
    options.pckNotAfter ?? notAfter,
  );
  const tcbKeys = await keygen();
  const tcbSigner = await issue(`CN=Intel SGX TCB Signing, ${O}`, tcbKeys, ROOT_NAME, rootKeys, [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true),
  ]);

  const pckPrivate = KeyObject.from(pckKeys.privateKey);
  const tcbPrivate = KeyObject.from(tcbKeys.privateKey);
  const attestationKeys = await keygen();
  const attestationPrivate = KeyObject.from(attestationKeys.privateKey);
  const attestationJwk = await webcrypto.subtle.exportKey('jwk', attestationKeys.publicKey);
  const attestationKey = Buffer.concat([
    Buffer.from(attestationJwk.x as string, 'base64url'),
    Buffer.from(attestationJwk.y as string, 'base64url'),
  ]);
  const pem = (c: x509.X509Certificate): string => c.toString('pem').replace(/\r\n/g, '\n') + '\n';
  const pckChainPem = pem(pck) + pem(ca) + pem(root);
  const cpuSvn = Buffer.from(pckTcb);
  const quote = (f: TdxQuoteFields = {}): Uint8Array =>
    quoteBytes(f, { attestationPrivate, attestationKey, pckPrivate, pckChainPem, cpuSvn, qeIsvSvn });

  const collateral = async (c: TdxCollateralOptions = {}): Promise<TdxCollateral> => {
    const issueDate = c.issueDate ?? new Date('2024-06-01T00:00:00Z');
    const nextUpdate = c.nextUpdate ?? new Date(issueDate.getTime() + 30 * 86_400_000);
    const platform = { fmspc, pceId, pckTcb, pceSvn, qeIsvSvn };
    const { tcbInfo, qeIdentity } = collateralJson(c, platform, issueDate, nextUpdate);
    const signedJson = (key: string, value: unknown): string => {
      const body = JSON.stringify(value);
      const sig = sign('sha256', Buffer.from(body), { key: tcbPrivate, dsaEncoding: 'ieee-p1363' }).toString('hex');
      return `{"${key}":${body},"signature":"${sig}"}`;
    };
    // Entries carry a reason code, as Intel's do.
    const crl = async (issuerName: string, keys: CryptoKeyPair, revoked: string[]): Promise<Uint8Array> => {
      const list = await x509.X509CrlGenerator.create(
        {
          issuer: issuerName,
          thisUpdate: issueDate,
          nextUpdate,
          signingAlgorithm: SIGNING,
          signingKey: keys.privateKey,
          entries: revoked.map((serialNumber) => ({
            serialNumber,
            revocationDate: issueDate,
            reason: x509.X509CrlReason.keyCompromise,
          })),
        },
        crypto,
      );
      return new Uint8Array(list.rawData);
    };
    const tcbChain = pem(tcbSigner) + pem(root);
    const [crlCa, crlCaName, crlCaKeys] = c.pckCrlFromOtherCa
      ? [otherCa, otherCaName, otherCaKeys]
      : [ca, caName, caKeys];
    const revokedByRoot = [
      ...(c.revokeIntermediate ? [ca.serialNumber] : []),
      ...(c.revokeTcbSigner ? [tcbSigner.serialNumber] : []),
    ];
    return {
      tcbInfo: signedJson('tcbInfo', tcbInfo),
      tcbInfoIssuerChain: encodeURIComponent(tcbChain),
      qeIdentity: signedJson('enclaveIdentity', qeIdentity),
      qeIdentityIssuerChain: encodeURIComponent(tcbChain),
      pckCrl: await crl(crlCaName, crlCaKeys, c.revokePck ? [pck.serialNumber] : []),
      pckCrlIssuerChain: encodeURIComponent(pem(crlCa) + pem(root)),
      rootCrl: await crl(ROOT_NAME, rootKeys, revokedByRoot),
    };
  };

  return { roots: [pem(root)], pckChainPem, quote, collateral };
}

/** DER of the SGX extension (SEQUENCE OF SEQUENCE { OID, value }) as Intel's PCK profile has it. */
function sgxExtension(fmspc: string, pceId: string, components: readonly number[], pceSvn: number): ArrayBuffer {
  const oid = (suffix: string): asn1js.ObjectIdentifier =>
    new asn1js.ObjectIdentifier({ value: `${SGX_EXTENSION_OID}.${suffix}` });
  const entry = (suffix: string, value: asn1js.AsnType): asn1js.Sequence =>
    new asn1js.Sequence({ value: [oid(suffix), value] });
  const octets = (hex: string): asn1js.OctetString => new asn1js.OctetString({ valueHex: Buffer.from(hex, 'hex') });
  const tcb = new asn1js.Sequence({
    value: [
      ...components.map((svn, i) => entry(`2.${i + 1}`, new asn1js.Integer({ value: svn }))),
      entry('2.17', new asn1js.Integer({ value: pceSvn })),
      entry('2.18', octets(Buffer.from(components).toString('hex'))),
    ],
  });
  return new asn1js.Sequence({
    value: [
      entry('1', octets(createHash('sha256').update('tdx-sim/ppid').digest('hex').slice(0, 32))),
      entry('2', tcb),
      entry('3', octets(pceId)),
      entry('4', octets(fmspc)),
      entry('5', new asn1js.Enumerated({ value: 1 })),
    ],
  }).toBER();
}
