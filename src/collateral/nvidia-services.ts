/**
 * NVIDIA's attestation services, as NVIDIA/nvtrust local_gpu_verifier config.py names them:
 * the RIM service (GET {base}{rim id}, answering JSON `{"id": ..., "rim": base64(XML)}`) and the
 * OCSP responder for the device and RIM certificate chains (RFC 6960 POST).
 */
export const NVIDIA_RIM_SERVICE_URL = 'https://rim.attestation.nvidia.com/v1/rim/';
export const NVIDIA_OCSP_URL = 'https://ocsp.ndis.nvidia.com/';

/** RIM IDs as NVIDIA issues them (NV_GPU_DRIVER_GH100_550.90.07); anything else could escape a path or URL. */
const RIM_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isRimId(id: string): boolean {
  return RIM_ID.test(id) && !id.includes('..');
}

export function nvidiaRimUrl(id: string, base: string = NVIDIA_RIM_SERVICE_URL): string {
  if (!isRimId(id)) throw new Error(`not a RIM ID: ${JSON.stringify(id)}`);
  return `${base.endsWith('/') ? base : `${base}/`}${id}`;
}

export function nvidiaOcspUrl(base: string = NVIDIA_OCSP_URL): string {
  return base.endsWith('/') ? base : `${base}/`;
}

/** The RIM XML inside a RIM service answer, or why the answer is not one. */
export function rimFromServiceAnswer(body: Uint8Array, id: string): { xml: string } | { invalid: string } {
  let answer: unknown;
  try {
    answer = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return { invalid: 'the answer is not JSON' };
  }
  const { id: answered, rim } = (answer ?? {}) as { id?: unknown; rim?: unknown };
  if (typeof rim !== 'string' || rim.length === 0) return { invalid: 'the answer has no "rim" member' };
  if (answered !== undefined && answered !== id)
    return { invalid: `the answer is for RIM ${JSON.stringify(answered)}` };
  return { xml: Buffer.from(rim, 'base64').toString('utf8') };
}
