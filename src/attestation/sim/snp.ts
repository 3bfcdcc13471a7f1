/**
 * SEV-SNP simulator for tests and development: a generated ARK (RSA-4096, RSASSA-PSS/SHA-384)
 * -> ASK (and ASVK) -> VCEK/VLEK (P-384) chain with AMD's KDS extensions, and reports in the
 * exact ATTESTATION_REPORT byte format signed by the endorsement key. Its evidence goes through
 * the real verifier with `roots` configured; nothing here is trusted by default.
 */
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads.
import { KeyObject, sign, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { SnpProduct, SnpTcb } from '../reference-values.ts';
import type { SnpSigningKey } from '../snp/key-info.ts';
import type { SnpPlatformInfo } from '../snp/platform-info.ts';
import type { SnpGuestPolicy } from '../snp/policy.ts';
import {
  SNP_SIGNATURE_R_OFFSET,
  SNP_SIGNATURE_S_OFFSET,
  SNP_SIGNED_LENGTH,
  type SnpCpuid,
  type SnpFirmwareVersion,
} from '../snp/report.ts';
import { type SnpRootSet, SnpRoots } from '../snp/roots.ts';
import { caCert, endorsementCertificate, PSS_SIGN, pemOf, RSA_PSS } from './snp-certificates.ts';
import { encodeSnpReport, seeded } from './snp-report.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

export interface SnpSimulatorOptions {
  /** Default Milan. */
  product?: SnpProduct;
  /** Which endorsement key signs reports; default 'vcek'. */
  signingKey?: SnpSigningKey;
  /** The TCB the endorsement certificate is issued for, and the default of every report TCB. */
  tcb?: SnpTcb;
  /** CHIP_ID (64 bytes); the VCEK hwID is it (its first 8 bytes on Turin). Default derived from the product. */
  chipId?: Uint8Array;
  /** Validity of the endorsement certificate; default 2024-01-01 to 2031-01-01. */
  notBefore?: Date;
  notAfter?: Date;
  /** RSA modulus of the ARK and ASK/ASVK; default 4096 as AMD's. Smaller is faster to generate. */
  rsaModulusLength?: number;
}

/** Report fields; every one has a default that makes a valid report for the simulator's chip. */
export interface SnpReportFields {
  version?: number;
  guestSvn?: number;
  policy?: bigint | Partial<Omit<SnpGuestPolicy, 'raw'>>;
  familyId?: Uint8Array;
  imageId?: Uint8Array;
  vmpl?: number;
  signatureAlgorithm?: number;
  currentTcb?: SnpTcb;
  reportedTcb?: SnpTcb;
  committedTcb?: SnpTcb;
  launchTcb?: SnpTcb;
  /** Default SMT_EN only, as on a typical host. */
  platformInfo?: bigint | Partial<Omit<SnpPlatformInfo, 'raw'>>;
  /** What the key-info field says signed the report; default the simulator's key kind. */
  signingKey?: SnpSigningKey | 'none';
  maskChipId?: boolean;
  authorKeyEnabled?: boolean;
  reportData?: Uint8Array;
  measurement?: Uint8Array;
  hostData?: Uint8Array;
  idKeyDigest?: Uint8Array;
  authorKeyDigest?: Uint8Array;
  reportId?: Uint8Array;
  reportIdMa?: Uint8Array;
  chipId?: Uint8Array;
  /** v3+; default the product's family/model. */
  cpuid?: SnpCpuid;
  currentFirmware?: SnpFirmwareVersion;
  committedFirmware?: SnpFirmwareVersion;
  /** v5 only. */
  launchMitVector?: bigint;
  currentMitVector?: bigint;
}

export interface SnpCrlOptions {
  /** Serial numbers (hex) to revoke; the intermediates' serials are `askSerial`/`asvkSerial`. */
  revoked?: string[];
  thisUpdate?: Date;
  nextUpdate?: Date;
}

export interface SnpSimulator {
  readonly product: SnpProduct;
  readonly signingKey: SnpSigningKey;
  /** Trust anchors for verifySnp's `trust` option. */
  readonly roots: SnpRoots;
  /** The same anchors as PEM. */
  readonly rootSet: SnpRootSet;
  readonly askSerial: string;
  readonly asvkSerial: string | null;
  /** The endorsement (VCEK or VLEK) certificate. */
  readonly endorsementPem: string;
  readonly endorsementDer: Uint8Array;
  /** Endorsement certificate + its ASK/ASVK + ARK, as KDS and extended guest requests deliver them. */
  readonly certChainPem: string;
  readonly chipId: Uint8Array;
  readonly tcb: SnpTcb;
  /** Measurement used when a report does not set one. */
  readonly defaultMeasurement: Uint8Array;
  /** Serializes and signs a report; the byte layout is exactly the hardware's. */
  report(fields?: SnpReportFields): Uint8Array;
  /** Serializes a report without signing it (signature bytes zero). */
  unsignedReport(fields?: SnpReportFields): Uint8Array;
  /** Signs arbitrary report bytes in place (bytes 0x000-0x29F), e.g. after setting a reserved byte; returns them. */
  sign(report: Uint8Array): Uint8Array;
  /** Issues another endorsement certificate for the same key (other TCB, validity, extensions, issuer). */
  issueEndorsement(options?: EndorsementOptions): Promise<string>;
  /** A CRL signed by the simulated ARK (DER). */
  crl(options?: SnpCrlOptions): Promise<Uint8Array>;
}

export interface EndorsementOptions {
  kind?: SnpSigningKey;
  tcb?: SnpTcb;
  notBefore?: Date;
  notAfter?: Date;
  hwId?: Uint8Array;
  productName?: string;
  /** Sign with the ASVK instead of the ASK (or the reverse). Default: the one matching `kind`. */
  issuer?: 'ask' | 'asvk';
}

const DEFAULT_TCB: Record<SnpProduct, SnpTcb> = {
  Milan: { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
  Genoa: { bootloader: 7, tee: 0, snp: 14, microcode: 72 },
  Turin: { fmc: 1, bootloader: 1, tee: 1, snp: 1, microcode: 1 },
};

/** Creates a simulator: generates its keys and certificates once (RSA-4096 keys take about a second). */
export async function createSnpSimulator(options: SnpSimulatorOptions = {}): Promise<SnpSimulator> {
  const product = options.product ?? 'Milan';
  const kind = options.signingKey ?? 'vcek';
  const tcb = options.tcb ?? DEFAULT_TCB[product];
  const chipId = options.chipId?.slice() ?? seeded(`chip-id/${product}`, 64);
  if (chipId.length !== 64) throw new RangeError('chipId must be 64 bytes');
  const rsa = { ...RSA_PSS, modulusLength: options.rsaModulusLength ?? 4096 };
  const subtle = webcrypto.subtle;
  const crlUrl = `https://kds.invalid/vcek/v1/${product}/crl`;

  const arkKeys = (await subtle.generateKey(rsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  const askKeys = (await subtle.generateKey(rsa, true, ['sign', 'verify'])) as CryptoKeyPair;
  const asvkKeys =
    kind === 'vlek' ? ((await subtle.generateKey(rsa, true, ['sign', 'verify'])) as CryptoKeyPair) : null;
  const leafKeys = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const leafPrivate = KeyObject.from(leafKeys.privateKey);

  const ark = await caCert(`ARK-${product}`, arkKeys, null, '010000', crlUrl);
  const askSerial = '010001';
  const ask = await caCert(`SEV-${product}`, askKeys, { cert: ark, key: arkKeys.privateKey }, askSerial, crlUrl);
  const asvkSerial = asvkKeys ? '010101' : null;
  const asvk = asvkKeys
    ? await caCert(`SEV-VLEK-${product}`, asvkKeys, { cert: ark, key: arkKeys.privateKey }, asvkSerial!, crlUrl)
    : null;

  const issueEndorsement = async (o: EndorsementOptions = {}): Promise<string> => {
    const k = o.kind ?? kind;
    const issuerName = o.issuer ?? (k === 'vlek' ? 'asvk' : 'ask');
    const issuer =
      issuerName === 'asvk'
        ? asvk && asvkKeys
          ? { cert: asvk, key: asvkKeys.privateKey }
          : null
        : { cert: ask, key: askKeys.privateKey };
    if (issuer === null) throw new Error('this simulator has no ASVK: create it with signingKey "vlek"');
    const cert = await endorsementCertificate({
      kind: k,
      product,
      tcb: o.tcb ?? tcb,
      hwId: o.hwId ?? chipId.subarray(0, product === 'Turin' ? 8 : 64),
      productName: o.productName ?? `${product}-B0`,
      issuer,
      publicKey: leafKeys.publicKey,
      notBefore: o.notBefore ?? options.notBefore ?? new Date('2024-01-01T00:00:00Z'),
      notAfter: o.notAfter ?? options.notAfter ?? new Date('2031-01-01T00:00:00Z'),
    });
    return pemOf(cert);
  };

  const endorsementPem = await issueEndorsement();
  const endorsementDer = new Uint8Array(new x509.X509Certificate(endorsementPem).rawData);
  const rootSet: SnpRootSet = {
    product,
    arkPem: pemOf(ark),
    askPem: pemOf(ask),
    ...(asvk ? { asvkPem: pemOf(asvk) } : {}),
  };
  const defaultMeasurement = seeded(`measurement/${product}`, 48);

  const unsignedReport = (f: SnpReportFields = {}): Uint8Array =>
    encodeSnpReport(f, { product, kind, tcb, chipId, measurement: defaultMeasurement });
  const signReport = (out: Uint8Array): Uint8Array => {
    const sig = sign('sha384', out.subarray(0, SNP_SIGNED_LENGTH), { key: leafPrivate, dsaEncoding: 'ieee-p1363' });
    // r and s are stored little-endian in 72-byte fields; the top 24 bytes stay zero.
    out.set(Uint8Array.from(sig.subarray(0, 48)).reverse(), SNP_SIGNATURE_R_OFFSET);
    out.set(Uint8Array.from(sig.subarray(48, 96)).reverse(), SNP_SIGNATURE_S_OFFSET);
    return out;
  };
  const report = (f: SnpReportFields = {}): Uint8Array => signReport(unsignedReport(f));

  return {
    product,
    signingKey: kind,
    roots: new SnpRoots([rootSet]),
    rootSet,
    askSerial,
    asvkSerial,
    endorsementPem,
    endorsementDer,
    certChainPem: endorsementPem + (kind === 'vlek' && asvk ? pemOf(asvk) : pemOf(ask)) + pemOf(ark),
    chipId,
    tcb,
    defaultMeasurement,
    report,
    unsignedReport,
    sign: signReport,
    issueEndorsement,
    async crl(o: SnpCrlOptions = {}): Promise<Uint8Array> {
      const crl = await x509.X509CrlGenerator.create({
        issuer: ark.subject,
        thisUpdate: o.thisUpdate ?? new Date('2024-01-01T00:00:00Z'),
        nextUpdate: o.nextUpdate ?? new Date('2040-01-01T00:00:00Z'),
        // A reason code keeps each entry's extensions non-empty: an empty SEQUENCE is not valid DER
        // for RFC 5280 Extensions, and pkijs refuses it.
        entries: (o.revoked ?? []).map((serialNumber) => ({
          serialNumber,
          revocationDate: new Date('2024-01-01T00:00:00Z'),
          reason: x509.X509CrlReason.keyCompromise,
        })),
        signingKey: arkKeys.privateKey,
        signingAlgorithm: PSS_SIGN,
      });
      return new Uint8Array(crl.rawData);
    },
  };
}
