/**
 * The Coordinator proves itself to anyone: `POST /v1/coordinator/attest` with a fresh nonce
 * returns the Coordinator's own CVM evidence, the active Manifest (canonical JSON) and its hash,
 * the transition chain, and the root and mesh CAs. REPORT_DATA binds the nonce, the latest
 * transition and both CAs, so no TLS trust is needed: the evidence carries it. The Coordinator
 * encodes with this file and `attestor verify coordinator` decodes with it. Pure.
 */
import { createHash } from 'node:crypto';
import type { NodeEvidence } from '../attestation/node-appraisal.ts';
import { decodeCvmEvidence } from './evidence-request.ts';
import type { EncodedCvmEvidence } from './messages.ts';
import type { HistoryEntry } from './transition-chain.ts';

export const COORDINATOR_ATTEST_PATH = '/v1/coordinator/attest';
/** A nonce and nothing else. */
export const MAX_COORDINATOR_ATTEST_BODY_BYTES = 1024;
/** What a client reads at most: the Manifest (up to 256 policies, 64 CVM entries) dominates. */
export const MAX_COORDINATOR_ATTEST_RESPONSE_BYTES = 4 * 1024 * 1024;

/** The request: a 32-byte nonce of the client's choosing, lower-case hex as in the agent protocol. */
export interface CoordinatorAttestRequest {
  nonce: string;
}

export interface CoordinatorAttestResponse {
  /** The Coordinator's CVM evidence, encoded as an agent's (SNP report with its certificate table, or TDX quote). */
  evidence: EncodedCvmEvidence;
  /** The active Manifest's spec as RFC 8785 JSON; its SHA-256 is `manifestHash`. */
  manifest: string;
  manifestHash: string;
  /** Every Manifest this Coordinator followed, oldest first; the last is the active one. */
  history: HistoryEntry[];
  /** PEM. */
  rootCA: string;
  /** PEM, issued by the root CA for the active Manifest. */
  meshCA: string;
}

/** REPORT_DATA (64 bytes) = SHA-512(nonce ‖ latest transition ‖ SHA-256(root CA DER) ‖ SHA-256(mesh CA DER)). */
export function coordinatorReportData(
  nonce: Uint8Array,
  latestTransition: Uint8Array,
  rootCaDer: Uint8Array,
  meshCaDer: Uint8Array,
): Uint8Array {
  if (nonce.length !== 32) throw new Error(`the nonce is 32 bytes, got ${nonce.length}`);
  if (latestTransition.length !== 32) throw new Error(`a transition is 32 bytes, got ${latestTransition.length}`);
  const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();
  return new Uint8Array(
    createHash('sha512')
      .update(nonce)
      .update(latestTransition)
      .update(sha256(rootCaDer))
      .update(sha256(meshCaDer))
      .digest(),
  );
}

export function decodeCoordinatorAttestRequest(body: unknown): { nonce: Uint8Array } | { error: string } {
  const nonce = (body as Partial<CoordinatorAttestRequest> | null)?.nonce;
  if (typeof nonce !== 'string' || !/^[0-9a-f]{64}$/.test(nonce))
    return { error: 'expected {"nonce": "<32 bytes as 64 lower-case hex characters>"}' };
  return { nonce: new Uint8Array(Buffer.from(nonce, 'hex')) };
}

export interface DecodedCoordinatorAttestResponse {
  evidence: NodeEvidence['cvm'];
  manifest: string;
  manifestHash: string;
  history: HistoryEntry[];
  rootCA: string;
  meshCA: string;
}

/** Checks the response's shape (not its meaning: that is the client's verification) and decodes the evidence. */
export function decodeCoordinatorAttestResponse(body: unknown): DecodedCoordinatorAttestResponse | { error: string } {
  const r = body as Partial<CoordinatorAttestResponse> | null;
  if (!r || typeof r !== 'object') return { error: 'the body is not a JSON object' };
  const evidence = decodeCvmEvidence(r.evidence);
  if ('error' in evidence) return { error: `evidence: ${evidence.error}` };
  if (typeof r.manifest !== 'string') return { error: 'manifest: expected the canonical JSON of the spec' };
  if (typeof r.manifestHash !== 'string' || !/^[0-9a-f]{64}$/.test(r.manifestHash))
    return { error: 'manifestHash: expected 64 lower-case hex characters' };
  if (
    !Array.isArray(r.history) ||
    !r.history.every(
      (e) =>
        e &&
        typeof e.manifestHash === 'string' &&
        /^[0-9a-f]{64}$/.test(e.manifestHash) &&
        typeof e.transition === 'string' &&
        /^[0-9a-f]{64}$/.test(e.transition),
    )
  )
    return { error: 'history: expected a list of {manifestHash, transition}, each 64 lower-case hex characters' };
  for (const field of ['rootCA', 'meshCA'] as const)
    if (typeof r[field] !== 'string' || !r[field].includes('-----BEGIN CERTIFICATE-----'))
      return { error: `${field}: expected a PEM certificate` };
  return {
    evidence,
    manifest: r.manifest,
    manifestHash: r.manifestHash,
    history: r.history.map((e) => ({ manifestHash: e.manifestHash, transition: e.transition })),
    rootCA: r.rootCA!,
    meshCA: r.meshCA!,
  };
}
