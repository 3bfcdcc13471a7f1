/**
 * The wire protocol between the node agent and the Coordinator (JSON over HTTPS, the agent
 * authenticated by its service account token). Shared by both sides so they cannot drift.
 *
 *   POST /v1/nonce    -> NonceResponse            a fresh, single-use nonce bound to the node
 *   POST /v1/attest   EvidenceRequest -> AttestResponse (200 accepted with a grant, 403 refused)
 *   POST /v1/activate ActivationRequest -> ActivationResponse
 *   GET  /v1/watch?manifest=<hash>&timeoutSeconds=<n> -> WatchResponse (long poll)
 *   GET  /v1/jwks     the Coordinator's grant-signing keys (JWK Set)
 *
 * A request the Coordinator does not appraise (malformed: 400, a bad nonce: 409, too large: 413,
 * too many from this node: 429 with Retry-After) is answered with {error} and changes nothing
 * about the node: its verdict stands. 401/403: not an agent; 503: not the leader, or no Manifest.
 *
 * How evidence is bound and put on the wire: evidence-request.ts; the activation report:
 * activation-report.ts; grants: grant.ts.
 */
export const NONCE_PATH = '/v1/nonce';
export const ATTEST_PATH = '/v1/attest';
export const ACTIVATE_PATH = '/v1/activate';
export const JWKS_PATH = '/v1/jwks';
export const WATCH_PATH = '/v1/watch';

/**
 * Body limits. Evidence of 8 H100s with their certificate chains and an SNP report with its
 * certificate table (or a TDX quote) is about 95 KiB of JSON (measured on the real vectors in
 * test/unit/coordinator/server.test.ts); 16 GPUs, the most a request may carry, about 175 KiB.
 */
export const MAX_EVIDENCE_BODY_BYTES = 256 * 1024;
export const MAX_ACTIVATION_BODY_BYTES = 16 * 1024;
export const MAX_NONCE_BODY_BYTES = 1024;
/** The longest a watch is held before it is answered "unchanged". */
export const MAX_WATCH_SECONDS = 50;

export interface NonceResponse {
  /** 32 bytes, hex. */
  nonce: string;
  expiresAt: string;
}

/** A CVM report on the wire: SNP report or TDX quote, and configfs-tsm's auxblob (SNP: the certificate table). */
export interface EncodedCvmEvidence {
  platform: 'snp' | 'tdx';
  report: string /* base64 */;
  auxblob?: string /* base64 */;
}

export interface EvidenceRequest {
  nonce: string;
  /** The agent's ephemeral public key (JWK, P-256). REPORT_DATA binds it with the nonce. */
  agentKey: Record<string, unknown>;
  cvm: EncodedCvmEvidence;
  gpus: Array<{ uuid: string; report: string /* base64 */; certificateChain: string /* PEM */ }>;
}

export type AttestResponse =
  | { accepted: true; grant: string; expiresAt: string; reattestAfterSeconds: number; manifestHash: string }
  | { accepted: false; reasons: string[]; manifestHash?: string };

/** The answer to GET /v1/watch. */
export interface WatchResponse {
  /** The active Manifest's hash (null: none is active). */
  manifestHash: string | null;
  /** Another Manifest than the one the agent named is active: attest again, at a random point within reattestWithinMs. */
  changed: boolean;
  reattestWithinMs?: number;
  /** The node's verdict on its last evidence under the new Manifest, when it was appraised again. false: set the GPUs not ready now. */
  attested?: boolean;
  /** That evidence meets the new Manifest and the node was not activated: a grant for it, to redeem at /v1/activate. */
  grant?: string;
}

/** The body of POST /v1/activate: a compact JWS (ES256) made with the agent key over ActivationReport. */
export interface ActivationRequest {
  report: string;
}

export interface ActivationReport {
  /** The grant the Coordinator issued for this evidence. */
  grant: string;
  /** nvmlSystemGetConfComputeGpusReadyState after activation. */
  gpusReady: boolean;
  gpus: string[];
}

export type ActivationResponse = { activated: true } | { activated: false; reason: string };
