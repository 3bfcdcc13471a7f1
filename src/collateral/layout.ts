/**
 * The cache layout: for each piece of collateral, its file in the cache directory, the vendor URL
 * it comes from, how its bytes are checked before they are used or stored (so that an error page
 * is never cached as a certificate), and, for collateral that expires, its nextUpdate.
 *
 *   snp/vcek/<product>/<hwid>-<tcb>.der           VCEK of a chip at a TCB             immutable
 *   snp/cert_chain/<product>[-vlek].pem           ASK (ASVK) then ARK                 immutable
 *   snp/crl/<product>[-vlek].der                  AMD CRL                             until nextUpdate
 *   tdx/<fmspc>/tcbinfo.json (+ -issuer-chain.pem) PCS TCB info for a platform        until nextUpdate
 *   tdx/qeidentity.json (+ -issuer-chain.pem)     PCS TD QE identity                  until nextUpdate
 *   tdx/pckcrl-<ca>.der (+ -issuer-chain.pem)     PCK CRL of the platform/processor CA until nextUpdate
 *   tdx/rootcrl.der                               Intel SGX Root CA CRL               until nextUpdate
 *   nvidia/rim/<rim id>.xml                       NVIDIA RIM                          immutable
 *   nvidia/ocsp/<issuer key hash>/<serial>.der    OCSP answer for an NVIDIA certificate until nextUpdate
 * <hwid> is lower-case hex (8 bytes on Turin, 64 before), <tcb> the 16 hex digits of the TCB the
 * VCEK was asked for, <fmspc> 12 lower-case hex digits, <issuer key hash> the SHA-384 of the
 * issuer's public key and <serial> the certificate's serial number (lower-case hex, the CertID an
 * OCSP request names). Nothing here reads or writes files.
 */
import { X509Certificate } from 'node:crypto';
import type { OcspAnswer } from '../attestation/nvidia/ocsp.ts';
import { parseRim } from '../attestation/nvidia/rim.ts';
import { pemCertificates } from '../attestation/pem.ts';
import type { SnpProduct } from '../attestation/reference-values.ts';
import { decodeTcb, encodeTcb } from '../attestation/snp/tcb.ts';
import { parseCrl } from '../attestation/tdx/crl.ts';
import { errorMessage } from '../errors.ts';
import { AMD_KDS_URL, type KdsSigner, kdsCertChainUrl, kdsCrlUrl, kdsHwid, kdsVcekUrl } from './amd-kds.ts';
import type { HttpRequestBody } from './http.ts';
import {
  INTEL_PCS_URL,
  INTEL_ROOT_CA_CRL_URL,
  PCS_ISSUER_CHAIN_HEADERS,
  type PckCa,
  pcsPckCrlUrl,
  pcsTdxQeIdentityUrl,
  pcsTdxTcbInfoUrl,
} from './intel-pcs.ts';
import {
  certIdParts,
  OCSP_REQUEST_CONTENT_TYPE,
  type OcspQuery,
  ocspFile,
  ocspNonce,
  ocspRequest,
  ocspUrlOf,
  readOcspAnswer,
} from './nvidia-ocsp.ts';
import {
  NVIDIA_OCSP_URL,
  NVIDIA_RIM_SERVICE_URL,
  nvidiaOcspUrl,
  nvidiaRimUrl,
  rimFromServiceAnswer,
} from './nvidia-services.ts';

/** Base URLs; each can point at a proxy or mirror that serves the same paths. */
export interface VendorEndpoints {
  readonly amdKds: string;
  readonly intelPcs: string;
  readonly intelRootCrl: string;
  readonly nvidiaRim: string;
  /** NVIDIA's OCSP responder, for certificates whose Authority Information Access names none (GSP BROM). */
  readonly nvidiaOcsp: string;
}

export const VENDOR_ENDPOINTS: VendorEndpoints = {
  amdKds: AMD_KDS_URL,
  intelPcs: INTEL_PCS_URL,
  intelRootCrl: INTEL_ROOT_CA_CRL_URL,
  nvidiaRim: NVIDIA_RIM_SERVICE_URL,
  nvidiaOcsp: NVIDIA_OCSP_URL,
};

export type Parsed<T> = { readonly value: T } | { readonly invalid: string };

export interface CollateralItem<T> {
  /** For messages, e.g. "the VCEK of Milan chip 3ac3fe21… at TCB 4405000000000002". */
  readonly what: string;
  readonly service: string;
  readonly url: string;
  /** A POST body (OCSP); without it the item is fetched with GET. */
  readonly request?: HttpRequestBody;
  /** What a value just fetched carries beyond the stored bytes (an OCSP answer: the nonce the request sent). */
  readonly fromVendor?: (value: T) => T;
  /** Path relative to the cache directory. */
  readonly file: string;
  /** A PCS issuer chain: stored beside `file` as PEM, taken from the first of these response headers. */
  readonly issuerChain?: { readonly file: string; readonly headers: readonly string[] };
  /** The bytes to store from a vendor answer (the RIM service wraps its XML in JSON); default the body. */
  readonly unwrap?: (body: Uint8Array) => Parsed<Uint8Array>;
  readonly read: (bytes: Uint8Array, issuerChain: string | undefined) => Parsed<T>;
  /** Only for collateral that expires. */
  readonly nextUpdate?: (value: T) => Date | undefined;
}

/** PCS signed JSON (TCB info, QE identity) with the issuer chain PCS sent beside it. */
export interface SignedJsonCollateral {
  readonly body: string;
  readonly issuerChain?: string;
}

export interface PckCrlCollateral {
  readonly crl: Uint8Array;
  readonly issuerChain?: string;
}

export function snpVcekItem(
  endpoints: VendorEndpoints,
  product: SnpProduct,
  chipId: Uint8Array,
  reportedTcb: bigint,
): CollateralItem<Uint8Array> {
  // The key is the TCB KDS is asked for: reserved bytes are not part of the query.
  const tcb = encodeTcb(decodeTcb(reportedTcb, product), product).toString(16).padStart(16, '0');
  const hwid = kdsHwid(chipId, product);
  return {
    what: `the VCEK of ${product} chip ${hwid.slice(0, 16)}… at TCB ${tcb}`,
    service: 'AMD KDS',
    url: kdsVcekUrl(product, chipId, reportedTcb, endpoints.amdKds),
    file: `snp/vcek/${product}/${hwid}-${tcb}.der`,
    read: certificate,
  };
}

export function snpCertChainItem(
  endpoints: VendorEndpoints,
  product: SnpProduct,
  signer: KdsSigner,
): CollateralItem<string> {
  return {
    what: `the ${product} ${signer === 'vcek' ? 'ASK' : 'ASVK'}/ARK chain`,
    service: 'AMD KDS',
    url: kdsCertChainUrl(product, signer, endpoints.amdKds),
    file: `snp/cert_chain/${product}${signer === 'vlek' ? '-vlek' : ''}.pem`,
    read: (bytes) => {
      const pem = Buffer.from(bytes).toString('utf8');
      let blocks: Uint8Array[];
      try {
        blocks = pemCertificates(pem, 'snp.certificate');
      } catch (err) {
        return { invalid: errorMessage(err) };
      }
      if (blocks.length !== 2) return { invalid: `expected 2 PEM certificates (ASK, ARK), found ${blocks.length}` };
      for (const block of blocks)
        if ('invalid' in certificate(block)) return { invalid: 'a PEM block is not an X.509 certificate' };
      return { value: pem };
    },
  };
}

export function snpCrlItem(
  endpoints: VendorEndpoints,
  product: SnpProduct,
  signer: KdsSigner,
): CollateralItem<Uint8Array> {
  return {
    what: `the ${product} ${signer.toUpperCase()} CRL`,
    service: 'AMD KDS',
    url: kdsCrlUrl(product, signer, endpoints.amdKds),
    file: `snp/crl/${product}${signer === 'vlek' ? '-vlek' : ''}.der`,
    read: crl,
    nextUpdate: crlNextUpdate,
  };
}

export function tdxTcbInfoItem(endpoints: VendorEndpoints, fmspc: string): CollateralItem<SignedJsonCollateral> {
  const f = fmspc.toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(f)) throw new Error(`not an FMSPC: ${JSON.stringify(fmspc)}`);
  return {
    what: `the TDX TCB info for FMSPC ${f}`,
    service: 'Intel PCS',
    url: pcsTdxTcbInfoUrl(f, endpoints.intelPcs),
    file: `tdx/${f}/tcbinfo.json`,
    issuerChain: { file: `tdx/${f}/tcbinfo-issuer-chain.pem`, headers: PCS_ISSUER_CHAIN_HEADERS.tcbInfo },
    read: (bytes, issuerChain) =>
      signedJson(bytes, issuerChain, 'tcbInfo', (v) =>
        String(v.fmspc).toLowerCase() === f ? undefined : `it is for FMSPC ${String(v.fmspc)}`,
      ),
    nextUpdate: (v) => jsonNextUpdate(v.body, 'tcbInfo'),
  };
}

export function tdxQeIdentityItem(endpoints: VendorEndpoints): CollateralItem<SignedJsonCollateral> {
  return {
    what: 'the TD QE identity',
    service: 'Intel PCS',
    url: pcsTdxQeIdentityUrl(endpoints.intelPcs),
    file: 'tdx/qeidentity.json',
    issuerChain: { file: 'tdx/qeidentity-issuer-chain.pem', headers: PCS_ISSUER_CHAIN_HEADERS.qeIdentity },
    read: (bytes, issuerChain) =>
      signedJson(bytes, issuerChain, 'enclaveIdentity', (v) =>
        v.id === undefined || v.id === 'TD_QE' ? undefined : `it is the identity of ${String(v.id)}, not TD_QE`,
      ),
    nextUpdate: (v) => jsonNextUpdate(v.body, 'enclaveIdentity'),
  };
}

export function tdxPckCrlItem(endpoints: VendorEndpoints, ca: PckCa): CollateralItem<PckCrlCollateral> {
  return {
    what: `the PCK CRL of the ${ca} CA`,
    service: 'Intel PCS',
    url: pcsPckCrlUrl(ca, endpoints.intelPcs),
    file: `tdx/pckcrl-${ca}.der`,
    issuerChain: { file: `tdx/pckcrl-${ca}-issuer-chain.pem`, headers: PCS_ISSUER_CHAIN_HEADERS.pckCrl },
    read: (bytes, issuerChain) => {
      const c = crl(bytes);
      return 'invalid' in c ? c : { value: { crl: c.value, ...(issuerChain !== undefined ? { issuerChain } : {}) } };
    },
    nextUpdate: (v) => crlNextUpdate(v.crl),
  };
}

export function tdxRootCrlItem(endpoints: VendorEndpoints): CollateralItem<Uint8Array> {
  return {
    what: 'the Intel SGX Root CA CRL',
    service: 'Intel',
    url: endpoints.intelRootCrl,
    file: 'tdx/rootcrl.der',
    read: crl,
    nextUpdate: crlNextUpdate,
  };
}

/** `id` must satisfy isRimId (nvidiaRimUrl throws otherwise). */
export function nvidiaRimItem(endpoints: VendorEndpoints, id: string): CollateralItem<string> {
  return {
    what: `RIM ${id}`,
    service: 'the NVIDIA RIM service',
    url: nvidiaRimUrl(id, endpoints.nvidiaRim),
    file: `nvidia/rim/${id}.xml`,
    unwrap: (body) => {
      const r = rimFromServiceAnswer(body, id);
      return 'invalid' in r ? r : { value: new Uint8Array(Buffer.from(r.xml, 'utf8')) };
    },
    read: (bytes) => {
      const xml = Buffer.from(bytes).toString('utf8');
      try {
        parseRim(xml);
      } catch (err) {
        return { invalid: `not a RIM: ${errorMessage(err)}` };
      }
      return { value: xml };
    },
  };
}

/**
 * The OCSP answer for one certificate. POSTed to the responder in the certificate's Authority
 * Information Access (the certificate is one of a chain that verified to the pinned roots, so
 * that URL is NVIDIA's word), else to NVIDIA's responder. Each request carries a fresh nonce,
 * which a fetched answer must echo; a cached one is judged by its thisUpdate/nextUpdate alone.
 */
export function nvidiaOcspItem(endpoints: VendorEndpoints, query: OcspQuery): CollateralItem<StoredOcspAnswer> {
  const parts = certIdParts(query);
  const nonce = ocspNonce();
  return {
    what: `the OCSP answer for "${query.certificate.name}" (serial ${parts.serial})`,
    service: 'the NVIDIA OCSP responder',
    url: ocspUrlOf(query.certificate) ?? nvidiaOcspUrl(endpoints.nvidiaOcsp),
    file: ocspFile(parts),
    request: { method: 'POST', contentType: OCSP_REQUEST_CONTENT_TYPE, body: ocspRequest(query, nonce) },
    fromVendor: (value) => ({ ...value, nonce }),
    read: (bytes) => {
      const r = readOcspAnswer(bytes, parts);
      return 'invalid' in r
        ? r
        : { value: { der: bytes, ...(r.value.nextUpdate ? { nextUpdate: r.value.nextUpdate } : {}) } };
    },
    // Without a nextUpdate an answer cannot be judged current: it counts as stale, so it is fetched again.
    nextUpdate: (value) => value.nextUpdate ?? new Date(0),
  };
}

/** An OCSP answer as the store hands it out: the verifier's OcspAnswer plus the nextUpdate it read. */
export interface StoredOcspAnswer extends OcspAnswer {
  readonly nextUpdate?: Date;
}

function certificate(bytes: Uint8Array): Parsed<Uint8Array> {
  try {
    new X509Certificate(bytes);
  } catch {
    return { invalid: 'not an X.509 certificate' };
  }
  return { value: bytes };
}

function crl(bytes: Uint8Array): Parsed<Uint8Array> {
  try {
    parseCrl(bytes, 'snp.crl');
  } catch (err) {
    return { invalid: errorMessage(err) };
  }
  return { value: bytes };
}

function crlNextUpdate(bytes: Uint8Array): Date | undefined {
  return parseCrl(bytes, 'snp.crl').nextUpdate;
}

function signedJson(
  bytes: Uint8Array,
  issuerChain: string | undefined,
  member: string,
  problem: (v: Record<string, unknown>) => string | undefined,
): Parsed<SignedJsonCollateral> {
  const body = Buffer.from(bytes).toString('utf8');
  let value: unknown;
  try {
    value = (JSON.parse(body) as Record<string, unknown>)[member];
  } catch {
    return { invalid: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { invalid: `no "${member}" object` };
  const p = problem(value as Record<string, unknown>);
  if (p !== undefined) return { invalid: p };
  if (jsonNextUpdate(body, member) === undefined) return { invalid: `"${member}" has no valid nextUpdate` };
  return { value: { body, ...(issuerChain !== undefined ? { issuerChain } : {}) } };
}

function jsonNextUpdate(body: string, member: string): Date | undefined {
  const next = (JSON.parse(body) as Record<string, { nextUpdate?: unknown }>)[member]?.nextUpdate;
  const d = typeof next === 'string' ? new Date(next) : undefined;
  return d && !Number.isNaN(d.getTime()) ? d : undefined;
}
