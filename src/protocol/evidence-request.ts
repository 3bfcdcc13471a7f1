/**
 * The evidence request (POST /v1/attest) both ways: how the agent binds and encodes its evidence,
 * and how the Coordinator checks the request's shape and decodes it before anything is appraised.
 * Pure.
 */
import { createHash, createPublicKey, type JsonWebKey } from 'node:crypto';
import type { NodeEvidence } from '../attestation/node-appraisal.ts';
import type { EncodedCvmEvidence, EvidenceRequest } from './messages.ts';

/** The most GPU reports one request may carry. */
export const MAX_GPUS_PER_REQUEST = 16;

/**
 * REPORT_DATA (64 bytes) binds the CVM report to the Coordinator's nonce and the agent's key:
 * SHA-512(nonce || SHA-256(agent key SPKI DER)). Only the CVM that holds the agent's private key
 * can then speak for this evidence.
 */
export function reportDataFor(nonce: Uint8Array, agentKeySpkiDer: Uint8Array): Uint8Array {
  const keyDigest = createHash('sha256').update(agentKeySpkiDer).digest();
  return new Uint8Array(createHash('sha512').update(nonce).update(keyDigest).digest());
}

/** SHA-256 over the evidence as submitted, for the grant's `evidence` claim. */
export function evidenceDigest(request: EvidenceRequest): string {
  const h = createHash('sha256');
  h.update(request.nonce)
    .update(request.cvm.platform)
    .update(request.cvm.report)
    .update(request.cvm.auxblob ?? '');
  for (const gpu of request.gpus) h.update(gpu.uuid).update(gpu.report).update(gpu.certificateChain);
  return h.digest('hex');
}

/** The request for evidence collected for `nonce` (hex) under the agent's public key (a P-256 JWK). */
export function encodeEvidenceRequest(
  nonce: string,
  agentKey: Record<string, unknown>,
  evidence: NodeEvidence,
): EvidenceRequest {
  return {
    nonce,
    agentKey,
    cvm: encodeCvmEvidence(evidence.cvm),
    gpus: evidence.gpus.map((g) => ({ uuid: g.uuid, report: b64(g.report), certificateChain: g.certificateChain })),
  };
}

export interface DecodedEvidenceRequest {
  evidence: NodeEvidence;
  nonce: Uint8Array;
  /** The agent's public key (only its public members). */
  agentKey: Record<string, unknown>;
  /** Its SPKI DER, what REPORT_DATA binds. */
  agentKeySpki: Uint8Array;
}

/** Checks the request's shape and decodes it; `error` says what is wrong with the first bad part. */
export function decodeEvidenceRequest(request: EvidenceRequest): DecodedEvidenceRequest | { error: string } {
  if (!request || typeof request !== 'object') return { error: 'the body is not an evidence request' };
  if (typeof request.nonce !== 'string' || !/^[0-9a-f]{64}$/.test(request.nonce))
    return { error: 'nonce: expected 32 bytes of lower-case hex' };
  const key = request.agentKey;
  if (
    !key ||
    typeof key !== 'object' ||
    key.kty !== 'EC' ||
    key.crv !== 'P-256' ||
    typeof key.x !== 'string' ||
    typeof key.y !== 'string' ||
    'd' in key
  ) {
    return { error: 'agentKey: expected a public P-256 JWK' };
  }
  const cvm = decodeCvmEvidence(request.cvm);
  if ('error' in cvm) return { error: `cvm: ${cvm.error}` };
  if (!Array.isArray(request.gpus) || request.gpus.length > MAX_GPUS_PER_REQUEST)
    return { error: `gpus: expected a list of at most ${MAX_GPUS_PER_REQUEST} GPU reports` };
  for (const [i, g] of request.gpus.entries()) {
    if (
      !g ||
      typeof g.uuid !== 'string' ||
      g.uuid.length > 64 ||
      typeof g.report !== 'string' ||
      typeof g.certificateChain !== 'string'
    )
      return { error: `gpus[${i}]: expected {uuid, report: base64, certificateChain: PEM}` };
  }
  let spki: Uint8Array;
  try {
    spki = jwkToSpki(key);
  } catch {
    return { error: 'agentKey: not a valid P-256 public key' };
  }
  return {
    nonce: new Uint8Array(Buffer.from(request.nonce, 'hex')),
    agentKey: { kty: key.kty, crv: key.crv, x: key.x, y: key.y },
    agentKeySpki: spki,
    evidence: {
      cvm,
      gpus: request.gpus.map((g) => ({
        uuid: g.uuid,
        report: fromB64(g.report),
        certificateChain: g.certificateChain,
      })),
    },
  };
}

/** A CVM report (and its auxblob) on the wire: the agent's evidence and the Coordinator's own. */
export function encodeCvmEvidence(cvm: NodeEvidence['cvm']): EncodedCvmEvidence {
  return {
    platform: cvm.platform,
    report: b64(cvm.report),
    ...(cvm.auxblob?.length ? { auxblob: b64(cvm.auxblob) } : {}),
  };
}

/** Checks the shape of an encoded CVM report and decodes it. */
export function decodeCvmEvidence(cvm: unknown): NodeEvidence['cvm'] | { error: string } {
  const c = cvm as Partial<EncodedCvmEvidence> | null | undefined;
  if (
    !c ||
    typeof c !== 'object' ||
    (c.platform !== 'snp' && c.platform !== 'tdx') ||
    typeof c.report !== 'string' ||
    (c.auxblob !== undefined && typeof c.auxblob !== 'string')
  )
    return { error: 'expected {platform: snp|tdx, report: base64, auxblob?: base64}' };
  return {
    platform: c.platform,
    report: fromB64(c.report),
    ...(c.auxblob ? { auxblob: fromB64(c.auxblob) } : {}),
  };
}

/** SPKI DER of a public JWK (what REPORT_DATA binds). */
export function jwkToSpki(jwk: Record<string, unknown>): Uint8Array {
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } as JsonWebKey, format: 'jwk' });
  return new Uint8Array(key.export({ type: 'spki', format: 'der' }));
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

function fromB64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}
