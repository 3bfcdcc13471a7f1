/**
 * Simulated NVIDIA GPUs for tests and `attestor dev`: evidence in the exact byte formats of real
 * Hopper/Blackwell reports (SPDM request + MEASUREMENTS response with NVIDIA opaque data, signed
 * with ECDSA P-384), device certificate chains with the TCG DICE FWID extension (one GSP BROM
 * certificate per device, as NVIDIA provisions them), signed driver and VBIOS RIMs (enveloped
 * ecdsa-sha384 XML signatures under the c14n 1.1 URI, as NVIDIA's), and OCSP answers: single ones
 * for tests, and a responder that signs a fresh answer for any certificate its CAs issued, so that
 * `attestor dev`, which runs for hours, always has current ones. Everything is signed by roots
 * generated here, so it verifies only where those roots are configured as trust anchors: the same
 * verifier, never a bypass. The pieces: gpu-ca.ts (the CAs), gpu-formats.ts (report and
 * certificate bytes), gpu-rim.ts (RIMs), gpu-ocsp.ts (answers and the responder); this file is
 * the simulator's API and puts them together. It stays above 300 lines because the API's types,
 * which tests and `attestor dev` set, and the one closure holding the simulator's keys belong
 * together.
 */
import { createHash, KeyObject, sign, webcrypto, X509Certificate } from 'node:crypto';
import 'reflect-metadata'; // @peculiar/x509 (tsyringe) needs the Reflect polyfill before it loads.
import * as x509 from '@peculiar/x509';
import type { OcspAnswer } from '../nvidia/ocsp-answer.ts';
import { type GpuMode, NVDEC0_DISABLED, NVDEC0_ENABLED } from '../nvidia/opaque-data.ts';
import { pemCertificates } from '../pem.ts';
import type { GpuArchitecture } from '../reference-values.ts';
import { type Ca, caFactory } from './gpu-ca.ts';
import { buildReport, fwidExtension, opaqueData, SIM_MEASUREMENT_BLOCKS, tcbInfoExtension } from './gpu-formats.ts';
import { answeredSerials, caOcsp, type OcspResponder, type OcspStatusChoice, type OcspTimes } from './gpu-ocsp.ts';
import { DRIVER_INDICES, rimXml, signRim, VBIOS_INDICES } from './gpu-rim.ts';

export type { OcspResponder, OcspStatusChoice, OcspTimes };

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

/** Generates the roots, intermediates and keys once; GPUs and RIMs are then cheap to make. */
export async function createGpuSimulator(options: GpuSimulatorOptions = {}): Promise<GpuSimulator> {
  const architecture = options.architecture ?? 'HOPPER';
  const chip = architecture === 'HOPPER' ? 'GH100' : 'GB100';
  const seed = options.seed ?? 'attestor-sim';
  const notBefore = options.notBefore ?? new Date('2024-01-01T00:00:00Z');
  const notAfter = options.notAfter ?? new Date('2044-01-01T00:00:00Z');
  const validity = { notBefore, notAfter };

  const { keygen, caExtensions, root, issue } = caFactory({ seed, validity, ocspUrl: options.ocspUrl });

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
  const leaves = new Map<string, ReturnType<typeof issue>>();
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
  const ocsp = caOcsp(notBefore);
  for (const ca of [deviceRoot, identity, provisioner, rimRoot, rimCa]) ocsp.remember(ca);
  const ocspResponder = ocsp.responder;

  const golden = (index: number): Uint8Array =>
    new Uint8Array(createHash('sha384').update(`${seed}/measurement/${index}`).digest());

  return {
    architecture,
    chip,
    roots: { device: deviceRoot.cert.toString('pem'), rim: rimRoot.cert.toString('pem') },
    golden,

    async gpu(uuid, fields) {
      const brom = await bromOf(uuid);
      ocsp.remember(brom);
      const cas = [brom, provisioner, identity, deviceRoot];
      const fwid =
        fields.fwid === undefined
          ? new Uint8Array(createHash('sha384').update(`${seed}/fwid/${uuid}`).digest())
          : fields.fwid;
      const leafFwid =
        fields.leafFwid ?? fwid ?? new Uint8Array(createHash('sha384').update(`${seed}/leaf-fwid/${uuid}`).digest());
      // A device's leaf certificate depends on the device, not on the nonce: made once (a real
      // GPU's is fixed by its firmware), so that repeated reports cost one signature each.
      const notBeforeLeaf = fields.leafNotBefore ?? notBefore;
      const notAfterLeaf = fields.leafNotAfter ?? notAfter;
      const leafKey = `${uuid}/${Buffer.from(leafFwid).toString('hex')}/${notBeforeLeaf.toISOString()}/${notAfterLeaf.toISOString()}`;
      let leafIssued = leaves.get(leafKey);
      if (!leafIssued) {
        leafIssued = issue(
          brom,
          `CN=${chip} A01 GSP FMC LF, O=attestor simulation, 2.5.4.5=${createHash('sha1').update(uuid).digest('hex').toUpperCase()}`,
          [
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            architecture === 'HOPPER'
              ? new x509.Extension('2.23.133.5.4.1', false, fwidExtension(leafSpki, leafFwid))
              : new x509.Extension('2.23.133.5.4.1.1', false, tcbInfoExtension(leafFwid)),
          ],
          leafKeys,
          { notBefore: notBeforeLeaf, notAfter: notAfterLeaf },
        );
        leaves.set(leafKey, leafIssued);
      }
      const leaf = await leafIssued;
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
      const ca = ocsp.caOf(issuerDer);
      if (!ca) throw new Error(`certificate ${index}'s issuer is not one of this simulator's CAs`);
      return ocsp.answer(gpu.certificatesDer[index]!, ca, status, times);
    },

    rimOcsp(index, status, times = {}) {
      const chain = [rimSigner, rimCa, rimRoot];
      if (index < 0 || index > 1)
        throw new Error('the RIM signer chain has OCSP answers for its certificates 0 (signer) and 1 (CA)');
      return ocsp.answer(new Uint8Array(chain[index]!.cert.rawData), chain[index + 1]!, status, times);
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
}
