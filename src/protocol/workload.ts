/**
 * The workload protocol: what `attestor init` (in each pod-CVM AI worker pod) and the Coordinator
 * say to each other. JSON over HTTPS; the caller authenticates with its pod's projected service
 * account token (audience WORKLOAD_AUDIENCE), which TokenReview ties to the pod.
 *
 *   POST /v1/workload/nonce    -> NonceResponse            a fresh nonce bound to the pod
 *   POST /v1/workload/attest   EvidenceRequest -> WorkloadAttestResponse (200 with a grant, 403 refused)
 *   POST /v1/workload/activate ActivationRequest -> WorkloadCertificateResponse (200 certified, 403 refused)
 *   GET  /v1/workload/mesh-ca  -> WorkloadMeshCaResponse   the current mesh CA (when to renew)
 *   GET  /v1/workload/jwks     the keys workload grants are signed with (JWK Set)
 *
 * The evidence request is the node agent's (evidence-request.ts): REPORT_DATA =
 * SHA-512(nonce ‖ SHA-256(SPKI of the workload key)), one GPU report per GPU in the pod, the same
 * nonce. The activation report is the agent's too (activation-report.ts), signed with the workload
 * key after `attestor init` activated the pod's GPUs; only then does the Coordinator issue the
 * certificate, for that key. Errors as for the agent paths (messages.ts): {error} with 400, 401,
 * 403, 404, 409, 413, 429 or 503, and nothing about the pod changes.
 */
export const WORKLOAD_NONCE_PATH = '/v1/workload/nonce';
export const WORKLOAD_ATTEST_PATH = '/v1/workload/attest';
export const WORKLOAD_ACTIVATE_PATH = '/v1/workload/activate';
export const WORKLOAD_MESH_CA_PATH = '/v1/workload/mesh-ca';
export const WORKLOAD_JWKS_PATH = '/v1/workload/jwks';

/** The audience of the projected token `attestor init` presents (and nothing else accepts). */
export const WORKLOAD_AUDIENCE = 'attestor-workload';

/** The subject a workload grant names: the pod (grant.ts `sub`). */
export function workloadSubject(namespace: string, pod: string): string {
  return `pod/${namespace}/${pod}`;
}

export type WorkloadAttestResponse =
  | { accepted: true; grant: string; expiresAt: string; manifestHash: string }
  | { accepted: false; reasons: string[]; manifestHash?: string };

export type WorkloadCertificateResponse =
  | {
      certified: true;
      /** PEM, for the workload key. */
      certificate: string;
      /** PEM: the mesh CA that issued it. */
      meshCA: string;
      notAfter: string;
      manifestHash: string;
      /** When to renew: about half the certificate's lifetime. */
      renewAfterSeconds: number;
    }
  | { certified: false; reason: string };

export interface WorkloadMeshCaResponse {
  /** PEM, or null while the Coordinator has none (no Manifest followed yet). */
  meshCA: string | null;
  manifestHash: string | null;
}
