/**
 * Simulated NVIDIA GPUs for tests and `attestor dev`: evidence in the exact byte formats of real
 * Hopper/Blackwell reports (SPDM request + MEASUREMENTS response with NVIDIA opaque data, signed
 * with ECDSA P-384), device certificate chains with the TCG DICE FWID extension (one GSP BROM
 * certificate per device, as NVIDIA provisions them), signed driver and VBIOS RIMs (enveloped
 * ecdsa-sha384 XML signatures under the c14n 1.1 URI, as NVIDIA's), and OCSP answers: single ones
 * for tests, and a responder that signs a fresh answer for any certificate its CAs issued, so that
 * `attestor dev`, which runs for hours, always has current ones. Everything is signed by roots
 * generated here, so it verifies only where those roots are configured as trust anchors: the same
 * verifier, never a bypass.
 */
import { createHash, KeyObject, sign, webcrypto, X509Certificate } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads.
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import type { OcspAnswer } from '../nvidia/ocsp-answer.ts';
import { encodeVbiosVersion, type GpuMode, NVDEC0_DISABLED, NVDEC0_ENABLED } from '../nvidia/opaque-data.ts';
import { HASH_NS, SWID_NS, TCG_RIM_NS } from '../nvidia/rim.ts';
import { parseXml, signEnveloped } from '../nvidia/xmldsig.ts';
import { pemCertificates } from '../pem.ts';
import type { GpuArchitecture } from '../reference-values.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** Makes an answer for a certificate on demand; undefined when it knows nothing of it. */
export type OcspResponder = (certificate: Uint8Array, issuer: Uint8Array, at: Date) => OcspAnswer | undefined;

/** Measurement blocks in a report, as on H100. */
export const SIM_MEASUREMENT_BLOCKS = 64;
/** RIM indices the simulated driver RIM covers; the VBIOS RIM covers other active ones. */
const DRIVER_INDICES = [7, 21, 22, 25, 26, 27, 29, 30, 31, 32, 34, 35, 36, 37, 39, 40];
const VBIOS_INDICES = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12];
const EC = { name: 'ECDSA', namedCurve: 'P-384' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-384' } as const;
const DAY = 86_400_000;
const MINUTE = 60_000;
/** Answers of the responder are current for this long; it signs a new one when half of it has passed. */
const RESPONDER_VALIDITY_MS = 60 * MINUTE;

export interface GpuSimulatorOptions {
  readonly architecture?: GpuArchitecture;
  /** Seed for the golden measurements: simulators with the same seed agree on them. */
  readonly seed?: string;
  /** Validity of the CA certificates of both chains. Default 2024-01-01 to 2044-01-01. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Validity of the RIM signer certificate. Default the CA validity. */
  readonly rimSignerNotAfter?: Date;
  /**
   * The OCSP responder URL to put in the Authority Information Access of certificates a CA
   * issues (by the CA's subject); undefined leaves it out, as in NVIDIA's BROM and leaf certificates.
   */
  readonly ocspUrl?: (issuerSubject: string) => string | undefined;
}

/** What one simulated GPU reports; everything but the nonce has a realistic default. */
export interface GpuFields {
  readonly nonce: Uint8Array;
  readonly driverVersion?: string;
  readonly vbiosVersion?: string;
  readonly project?: string;
  readonly projectSku?: string;
  readonly chipSku?: string;
  /** The FWID in both the report and the leaf; `null` leaves it out of the report (old firmware). */
  readonly fwid?: Uint8Array | null;
  /** A different FWID in the leaf certificate only (to simulate a mismatch). */
  readonly leafFwid?: Uint8Array;
  readonly nvdec0Disabled?: boolean;
  /** FEATURE_FLAG in the opaque data: a mode, a raw value, or absent (default, as in the 535 and 550 reports). */
  readonly mode?: Exclude<GpuMode, 'LEGACY'> | number;
  /** Replace report measurements by RIM index (SPDM index - 1). */
  readonly measurements?: Readonly<Record<number, Uint8Array>>;
  /** Bytes appended after the signature, as some real reports carry. */
  readonly trailingBytes?: number;
  /** Validity of the leaf certificate; default the CA validity. */
  readonly leafNotBefore?: Date;
  readonly leafNotAfter?: Date;
}

export interface SimulatedGpu {
  readonly report: Uint8Array;
  /** PEM, leaf first, ending with the simulated root (as NVML returns a chain). */
  readonly certificateChainPem: string;
  /** DER of the chain, leaf first; for OCSP answers. */
  readonly certificatesDer: readonly Uint8Array[];
}

export interface RimOptions {
  readonly driverVersion?: string;
  readonly vbiosVersion?: string;
  readonly project?: string;
  readonly projectSku?: string;
  readonly chipSku?: string;
  /** Replace golden values by RIM index. */
  readonly measurements?: Readonly<Record<number, Uint8Array>>;
}

export interface GpuSimulator {
  readonly architecture: GpuArchitecture;
  /** PEM of the generated roots: pass as trust anchors ({ device: [roots.device], rim: [roots.rim] }). */
  readonly roots: { readonly device: string; readonly rim: string };
  /** The chip name the certificates and RIMs carry (GH100 or GB100). */
  readonly chip: string;
  /** The golden measurement of a RIM index (what an unmodified simulated GPU reports). */
  golden(index: number): Uint8Array;
  gpu(uuid: string, fields: GpuFields): Promise<SimulatedGpu>;
  /** Driver and VBIOS RIM XML for the given (default) versions, and their RIM IDs. */
  rims(options?: RimOptions): Promise<{ driver: string; vbios: string; driverId: string; vbiosId: string }>;
  /** A DER OCSPResponse for certificate `index` of a GPU's chain (0 = leaf), signed by its issuer. */
  ocsp(gpu: SimulatedGpu, index: number, status: OcspStatusChoice, times?: OcspTimes): Uint8Array;
  /** The same for certificate `index` of the RIM signer chain (0 = signer, 1 = its CA). */
  rimOcsp(index: number, status: OcspStatusChoice, times?: OcspTimes): Uint8Array;
  /** Signs a fresh "good" answer for any certificate one of this simulator's CAs issued (a collateral source). */
  readonly ocspResponder: OcspResponder;
  /**
   * The responder's answers at `at` for every certificate above the leaf of these PEM chains and
   * of the RIM signer chain, except certificates (by serial) that an answer in `given` covers.
   */
  ocspAnswers(chains: readonly string[], at: Date, given?: readonly (OcspAnswer | Uint8Array)[]): OcspAnswer[];
  /** Every CA with its key (PEM), for tests that run a real OCSP responder (openssl ocsp) over them. */
  issuers(): Promise<SimulatedIssuer[]>;
}

export type OcspStatusChoice = 'good' | 'revoked' | 'unknown';

export interface OcspTimes {
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** Revocation time of a revoked answer; default thisUpdate. */
  revokedAt?: Date;
  /** The nonce to echo (an answer to a request that carried one). */
  nonce?: Uint8Array;
}

/** One CA of the simulator: what a real OCSP responder for it needs. */
export interface SimulatedIssuer {
  readonly subject: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** The certificates it issued so far: serial (hex, as openssl's index writes it) and subject. */
  readonly issued: ReadonlyArray<{ readonly serial: string; readonly subject: string; readonly notAfter: Date }>;
}

export const SIM_DEFAULTS = {
  driverVersion: '550.90.07',
  vbiosVersion: '96.00.9F.00.01',
  project: '1010',
  projectSku: '0200',
  chipSku: '882',
} as const;

interface Ca {
  readonly keys: CryptoKeyPair;
  readonly cert: x509.X509Certificate;
  readonly subject: string;
  /** Certificates this CA issued (for its OCSP responder). */
  readonly issued: Array<{ serial: string; subject: string; notAfter: Date }>;
}

/** Generates the roots, intermediates and keys once; GPUs and RIMs are then cheap to make. */
export async function createGpuSimulator(options: GpuSimulatorOptions = {}): Promise<GpuSimulator> {
  const architecture = options.architecture ?? 'HOPPER';
  const chip = architecture === 'HOPPER' ? 'GH100' : 'GB100';
  const seed = options.seed ?? 'attestor-sim';
  const notBefore = options.notBefore ?? new Date('2024-01-01T00:00:00Z');
  const notAfter = options.notAfter ?? new Date('2044-01-01T00:00:00Z');
  const validity = { notBefore, notAfter };

  const keygen = (): Promise<CryptoKeyPair> =>
    webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
  const caExtensions = (pathLength?: number): x509.Extension[] => [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
  const root = async (subject: string): Promise<Ca> => {
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
  };
  const issue = async (
    issuer: Ca,
    subject: string,
    extensions: x509.Extension[],
    keys?: CryptoKeyPair,
    v = validity,
  ): Promise<Ca> => {
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
  };

  const deviceRoot = await root('CN=Simulated NVIDIA Device Identity CA, O=attestor simulation');
  const identity = await issue(
    deviceRoot,
    `CN=Simulated NVIDIA ${chip} Identity, O=attestor simulation`,
    caExtensions(),
  );
  const provisioner = await issue(
    identity,
    `CN=Simulated NVIDIA ${chip} Provisioner ICA 1, O=attestor simulation`,
    caExtensions(),
  );
  // One GSP BROM certificate per device, as NVIDIA provisions each GPU: its serial identifies the device.
  const broms = new Map<string, Promise<Ca>>();
  const bromOf = (uuid: string): Promise<Ca> => {
    let brom = broms.get(uuid);
    if (!brom) {
      brom = issue(
        provisioner,
        `CN=${chip} A01 GSP BROM, O=attestor simulation, 2.5.4.5=${createHash('sha256').update(`${seed}/brom/${uuid}`).digest('hex').slice(0, 18).toUpperCase()}`,
        caExtensions(),
      );
      broms.set(uuid, brom);
    }
    return brom;
  };
  const leafKeys = await keygen();
  const leafPrivate = KeyObject.from(leafKeys.privateKey);
  const leafSpki = new Uint8Array(await webcrypto.subtle.exportKey('spki', leafKeys.publicKey));

  const rimRoot = await root('CN=Simulated NVIDIA CoRIM signing Root CA, O=attestor simulation');
  const rimCa = await issue(
    rimRoot,
    `CN=Simulated NVIDIA Reference Value ${chip} CA, O=attestor simulation`,
    caExtensions(),
  );
  const rimSigner = await issue(
    rimCa,
    'CN=Simulated HCC RIM Signer, O=attestor simulation',
    [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    undefined,
    {
      notBefore,
      notAfter: options.rimSignerNotAfter ?? notAfter,
    },
  );
  const allCas = async (): Promise<Ca[]> => [
    deviceRoot,
    identity,
    provisioner,
    ...(await Promise.all(broms.values())),
    rimRoot,
    rimCa,
  ];
  const keyOf = new Map<Ca, KeyObject>();
  const signingKey = (ca: Ca): KeyObject => {
    let k = keyOf.get(ca);
    if (!k) {
      k = KeyObject.from(ca.keys.privateKey);
      keyOf.set(ca, k);
    }
    return k;
  };
  // The responder finds the CA by the issuer certificate it is asked about; issued certificates by serial.
  const caByDer = new Map<string, Ca>();
  const rememberCa = (ca: Ca): void => void caByDer.set(Buffer.from(ca.cert.rawData).toString('base64'), ca);
  for (const ca of [deviceRoot, identity, provisioner, rimRoot, rimCa]) rememberCa(ca);
  const answered = new Map<string, { answer: OcspAnswer; renewAt: number }>();

  const golden = (index: number): Uint8Array =>
    new Uint8Array(createHash('sha384').update(`${seed}/measurement/${index}`).digest());

  const ocspResponder: OcspResponder = (certificate, issuer, at) => {
    const ca = caByDer.get(Buffer.from(issuer).toString('base64'));
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
  };

  return {
    architecture,
    chip,
    roots: { device: deviceRoot.cert.toString('pem'), rim: rimRoot.cert.toString('pem') },
    golden,

    async gpu(uuid, fields) {
      const brom = await bromOf(uuid);
      rememberCa(brom);
      const cas = [brom, provisioner, identity, deviceRoot];
      const fwid =
        fields.fwid === undefined
          ? new Uint8Array(createHash('sha384').update(`${seed}/fwid/${uuid}`).digest())
          : fields.fwid;
      const leafFwid =
        fields.leafFwid ?? fwid ?? new Uint8Array(createHash('sha384').update(`${seed}/leaf-fwid/${uuid}`).digest());
      const leaf = await issue(
        brom,
        `CN=${chip} A01 GSP FMC LF, O=attestor simulation, 2.5.4.5=${createHash('sha1').update(uuid).digest('hex').toUpperCase()}`,
        [
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          architecture === 'HOPPER'
            ? new x509.Extension('2.23.133.5.4.1', false, fwidExtension(leafSpki, leafFwid))
            : new x509.Extension('2.23.133.5.4.1.1', false, tcbInfoExtension(leafFwid)),
        ],
        leafKeys,
        { notBefore: fields.leafNotBefore ?? notBefore, notAfter: fields.leafNotAfter ?? notAfter },
      );
      const blocks: Uint8Array[] = [];
      for (let i = 0; i < SIM_MEASUREMENT_BLOCKS; i++) {
        const active = DRIVER_INDICES.includes(i) || VBIOS_INDICES.includes(i);
        blocks.push(fields.measurements?.[i] ?? (active ? golden(i) : new Uint8Array(48)));
      }
      const body = buildReport({
        nonce: fields.nonce,
        responderNonce: new Uint8Array(
          createHash('sha256').update(`${seed}/responder/${uuid}`).update(fields.nonce).digest(),
        ),
        blocks,
        opaque: opaqueData({
          driverVersion: fields.driverVersion ?? SIM_DEFAULTS.driverVersion,
          vbiosVersion: fields.vbiosVersion ?? SIM_DEFAULTS.vbiosVersion,
          project: fields.project ?? SIM_DEFAULTS.project,
          projectSku: fields.projectSku ?? SIM_DEFAULTS.projectSku,
          chipSku: fields.chipSku ?? SIM_DEFAULTS.chipSku,
          fwid,
          nvdec0: fields.nvdec0Disabled ? NVDEC0_DISABLED : NVDEC0_ENABLED,
          featureFlag:
            fields.mode === undefined
              ? undefined
              : typeof fields.mode === 'number'
                ? fields.mode
                : { SPT: 0, MPT: 1, PPCIE: 2 }[fields.mode],
        }),
      });
      const signature = sign('sha384', body, { key: leafPrivate, dsaEncoding: 'ieee-p1363' });
      const report = new Uint8Array(body.length + signature.length + (fields.trailingBytes ?? 0));
      report.set(body, 0);
      report.set(signature, body.length);
      const chainCerts = [leaf.cert, ...cas.map((c) => c.cert)];
      return {
        report,
        certificateChainPem: chainCerts.map((c) => c.toString('pem')).join('\n') + '\n',
        certificatesDer: chainCerts.map((c) => new Uint8Array(c.rawData)),
      };
    },

    async rims(o = {}) {
      const driverVersion = o.driverVersion ?? SIM_DEFAULTS.driverVersion;
      const vbiosVersion = o.vbiosVersion ?? SIM_DEFAULTS.vbiosVersion;
      const values = (index: number): Uint8Array => o.measurements?.[index] ?? golden(index);
      const signerChain = [rimSigner, rimCa, rimRoot].map((c) => new Uint8Array(c.cert.rawData));
      const driver = await signRim(
        rimXml(chip, driverVersion, DRIVER_INDICES, values, `${seed}/driver/${driverVersion}`),
        rimSigner.keys.privateKey,
        signerChain,
      );
      const vbios = await signRim(
        rimXml(chip, vbiosVersion, VBIOS_INDICES, values, `${seed}/vbios/${vbiosVersion}`),
        rimSigner.keys.privateKey,
        signerChain,
      );
      const p = [
        o.project ?? SIM_DEFAULTS.project,
        o.projectSku ?? SIM_DEFAULTS.projectSku,
        o.chipSku ?? SIM_DEFAULTS.chipSku,
      ];
      return {
        driver,
        vbios,
        driverId: `NV_GPU_DRIVER_${chip}_${driverVersion}`,
        vbiosId: `NV_GPU_VBIOS_${p.join('_')}_${vbiosVersion.replace(/\./g, '')}`,
      };
    },

    ocsp(gpu, index, status, times = {}) {
      const issuerDer = gpu.certificatesDer[index + 1];
      if (!issuerDer) throw new Error(`certificate ${index} has no issuer in the chain`);
      const ca = caByDer.get(Buffer.from(issuerDer).toString('base64'));
      if (!ca) throw new Error(`certificate ${index}'s issuer is not one of this simulator's CAs`);
      return answer(gpu.certificatesDer[index]!, ca, status, times);
    },

    rimOcsp(index, status, times = {}) {
      const chain = [rimSigner, rimCa, rimRoot];
      if (index < 0 || index > 1)
        throw new Error('the RIM signer chain has OCSP answers for its certificates 0 (signer) and 1 (CA)');
      return answer(new Uint8Array(chain[index]!.cert.rawData), chain[index + 1]!, status, times);
    },

    ocspResponder,

    ocspAnswers(chains, at, given = []) {
      const covered = new Set(given.flatMap((a) => answeredSerials(a instanceof Uint8Array ? a : a.der)));
      const out: OcspAnswer[] = [];
      const ask = (certificate: Uint8Array, issuer: Uint8Array): void => {
        if (covered.has(new X509Certificate(certificate).serialNumber.toLowerCase())) return;
        const made = ocspResponder(certificate, issuer, at);
        if (made) out.push(made);
      };
      for (const pem of chains) {
        const ders = pemCertificates(pem, 'gpu.cert-chain');
        for (let i = 1; i + 1 < ders.length; i++) ask(ders[i]!, ders[i + 1]!);
      }
      const rimChain = [rimSigner, rimCa, rimRoot].map((c) => new Uint8Array(c.cert.rawData));
      for (let i = 0; i + 1 < rimChain.length; i++) ask(rimChain[i]!, rimChain[i + 1]!);
      return out;
    },

    async issuers() {
      const cas = await allCas();
      return Promise.all(
        cas.map(async (ca) => ({
          subject: ca.subject,
          certificatePem: ca.cert.toString('pem'),
          privateKeyPem: KeyObject.from(ca.keys.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString(),
          issued: [...ca.issued],
        })),
      );
    },
  };

  function answer(certificate: Uint8Array, ca: Ca, status: OcspStatusChoice, times: OcspTimes): Uint8Array {
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
  }
}

/** The report bytes up to the signature: SPDM GET_MEASUREMENTS request + MEASUREMENTS response. */
function buildReport(p: {
  nonce: Uint8Array;
  responderNonce: Uint8Array;
  blocks: readonly Uint8Array[];
  opaque: Uint8Array;
}): Uint8Array {
  if (p.nonce.length !== 32) throw new Error('the nonce must be 32 bytes');
  const request = Buffer.concat([Buffer.from([0x11, 0xe0, 0x01, 0xff]), p.nonce, Buffer.from([0x00])]);
  const record = Buffer.concat(
    p.blocks.map((value, i) => {
      const header = Buffer.alloc(7);
      header.writeUInt8(i + 1, 0);
      header.writeUInt8(0x01, 1); // DMTF measurement specification
      header.writeUInt16LE(value.length + 3, 2);
      header.writeUInt8(0x01, 4); // DMTF value type, as in real reports
      header.writeUInt16LE(value.length, 5);
      return Buffer.concat([header, value]);
    }),
  );
  const head = Buffer.alloc(8);
  head.writeUInt8(0x11, 0);
  head.writeUInt8(0x60, 1);
  head.writeUInt8(p.blocks.length, 4);
  head.writeUIntLE(record.length, 5, 3);
  const opaqueLength = Buffer.alloc(2);
  opaqueLength.writeUInt16LE(p.opaque.length);
  return new Uint8Array(Buffer.concat([request, head, record, p.responderNonce, opaqueLength, p.opaque]));
}

/** Opaque data TLVs in the order real H100 firmware writes them. */
function opaqueData(f: {
  driverVersion: string;
  vbiosVersion: string;
  project: string;
  projectSku: string;
  chipSku: string;
  fwid: Uint8Array | null;
  nvdec0: number;
  featureFlag: number | undefined;
}): Uint8Array {
  const tlv = (type: number, value: Uint8Array): Buffer => {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(type, 0);
    h.writeUInt16LE(value.length, 2);
    return Buffer.concat([h, value]);
  };
  const str = (s: string, pad = 1): Uint8Array =>
    new Uint8Array(Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(pad)]));
  const msrs = Buffer.alloc(256);
  for (let i = 0; i < 64; i++) msrs.writeUInt32LE(i % 3, i * 4);
  const parts = [
    tlv(6, encodeVbiosVersion(f.vbiosVersion)),
    tlv(14, new Uint8Array([0xb1, 0x03, 0, 0])),
    tlv(15, str(f.chipSku, 6)),
    tlv(16, str('0', 4)),
    tlv(17, str(f.project)),
    tlv(18, str(f.projectSku)),
    tlv(19, new Uint8Array(2)),
    tlv(3, str(f.driverVersion)),
    tlv(4, new Uint8Array([0x80, 0x01, 0, 0, 0, 0, 0, 0])),
    tlv(12, msrs),
    tlv(13, new Uint8Array([0x00, 0xc0, 0x01, 0x00])),
    tlv(11, new Uint8Array([f.nvdec0])),
  ];
  if (f.fwid) parts.push(tlv(20, f.fwid));
  parts.push(tlv(21, new Uint8Array([0x55])));
  if (f.featureFlag !== undefined) parts.push(tlv(36, new Uint8Array([f.featureFlag & 0xff])));
  return new Uint8Array(Buffer.concat(parts));
}

/** NVIDIA's DICE extension value: SEQUENCE { version 1, SPKI, FWID { sha384, digest } }. */
function fwidExtension(spki: Uint8Array, fwid: Uint8Array): ArrayBuffer {
  const spkiAsn = asn1js.fromBER(spki).result;
  return new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 1 }),
      spkiAsn,
      new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: '2.16.840.1.101.3.4.2.2' }),
          new asn1js.OctetString({ valueHex: fwid }),
        ],
      }),
    ],
  }).toBER();
}

/** DiceTcbInfo as Blackwell leaves carry it: SEQUENCE { vendor [0], model [1], fwids [6] { FWID } }. */
function tcbInfoExtension(fwid: Uint8Array): ArrayBuffer {
  const fwidAsn = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: '2.16.840.1.101.3.4.2.2' }),
      new asn1js.OctetString({ valueHex: fwid }),
    ],
  });
  return new asn1js.Sequence({
    value: [
      new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: Buffer.from('NVIDIA') }),
      new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 1 }, valueHex: Buffer.from('GB100') }),
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 6 }, value: [fwidAsn] }),
    ],
  }).toBER();
}

/** A RIM shaped like NVIDIA's: SWID SoftwareIdentity, TCG Meta, 64 Resources with Hash0..N. */
function rimXml(
  chip: string,
  version: string,
  activeIndices: readonly number[],
  values: (index: number) => Uint8Array,
  tag: string,
): string {
  const resources: string[] = [];
  for (let i = 0; i < SIM_MEASUREMENT_BLOCKS; i++) {
    const active = activeIndices.includes(i);
    const value = active ? values(i) : new Uint8Array(48);
    // One entry with two alternatives, as real RIMs have for components with several builds.
    const alternatives =
      active && i === activeIndices[1]
        ? [value, new Uint8Array(createHash('sha384').update(`${tag}/alt/${i}`).digest())]
        : [value];
    const hashes = alternatives.map((a, n) => `ns2:Hash${n}="${Buffer.from(a).toString('hex')}"`).join(' ');
    resources.push(
      `        <ns0:Resource type="Measurement" index="${i}" active="${active ? 'True' : 'False'}" alternatives="${alternatives.length}" ${hashes} name="Measurement_${i}" size="48"/>`,
    );
  }
  const tagId = createHash('sha384').update(tag).digest('hex');
  return [
    `<SoftwareIdentity xmlns="${SWID_NS}" xmlns:ns0="${SWID_NS}" xmlns:ns2="${HASH_NS}" corpus="false" name="${chip}" patch="false" supplemental="false" tagId="${tagId}" version="1.0" tagVersion="0">`,
    '    <ns0:Entity name="NVIDIA Corporation" role="softwareCreator tagCreator"/>',
    `    <ns0:Meta xmlns:ns1="${TCG_RIM_NS}" colloquialVersion="${version}" edition="GPU" product="${chip}" revision="r1" PayloadType="direct" ns1:BindingSpec="RIMIM" ns1:BindingSpecVersion="1.01" ns1:PlatformManufacturerId="5703" ns1:PlatformManufacturerStr="NVIDIA Corporation" ns1:PlatformModel="${chip}" ns1:FirmwareManufacturer="NVIDIA Corporation" ns1:FirmwareManufacturerId="5703"/>`,
    `    <ns0:Payload xmlns:SHA384="${HASH_NS}">`,
    ...resources,
    '    </ns0:Payload>',
    '</SoftwareIdentity>',
  ].join('\n');
}

async function signRim(xml: string, key: CryptoKey, chainDer: readonly Uint8Array[]): Promise<string> {
  return signEnveloped(parseXml(xml), key, chainDer);
}

function ocspResponse(
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
function answeredSerials(der: Uint8Array): string[] {
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

function serial(seed: string, subject: string): string {
  // Positive, 16 bytes: stable per seed and subject so generated chains are reproducible in shape.
  return '01' + createHash('sha256').update(`${seed}/serial/${subject}`).digest('hex').slice(0, 30);
}
