/** The cache layout of NVIDIA collateral (layout.ts): RIMs and OCSP answers. */
import { parseRim } from '../attestation/nvidia/rim.ts';
import { errorMessage } from '../errors.ts';
import type { CollateralItem, StoredOcspAnswer, VendorEndpoints } from './layout.ts';
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
import { nvidiaOcspUrl, nvidiaRimUrl, rimFromServiceAnswer } from './nvidia-services.ts';

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
