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
 * OCSP request names). Nothing here reads or writes files. The items per vendor are in layout-amd.ts,
 * layout-intel.ts and layout-nvidia.ts; this file holds what they share.
 */
import { X509Certificate } from 'node:crypto';
import type { OcspAnswer } from '../attestation/nvidia/ocsp-answer.ts';
import { parseCrl } from '../attestation/tdx/crl.ts';
import { errorMessage } from '../errors.ts';
import { AMD_KDS_URL } from './amd-kds.ts';
import type { HttpRequestBody } from './http.ts';
import { INTEL_PCS_URL, INTEL_ROOT_CA_CRL_URL } from './intel-pcs.ts';
import { NVIDIA_OCSP_URL, NVIDIA_RIM_SERVICE_URL } from './nvidia-services.ts';

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

/** An OCSP answer as the store hands it out: the verifier's OcspAnswer plus the nextUpdate it read. */
export interface StoredOcspAnswer extends OcspAnswer {
  readonly nextUpdate?: Date;
}

export function certificate(bytes: Uint8Array): Parsed<Uint8Array> {
  try {
    new X509Certificate(bytes);
  } catch {
    return { invalid: 'not an X.509 certificate' };
  }
  return { value: bytes };
}

export function crl(bytes: Uint8Array): Parsed<Uint8Array> {
  try {
    parseCrl(bytes, 'snp.crl');
  } catch (err) {
    return { invalid: errorMessage(err) };
  }
  return { value: bytes };
}

export function crlNextUpdate(bytes: Uint8Array): Date | undefined {
  return parseCrl(bytes, 'snp.crl').nextUpdate;
}
