/**
 * The confidential-node workload protocol: `attestor init` in a confidential-node AI worker pod
 * has its node's agent countersign its key, and takes the countersignature to the Coordinator.
 *
 *   POST {agent}/v1/countersign         CountersignRequest -> CountersignResponse (the agent, on the pod's node)
 *   POST /v1/workload/countersigned     CountersignedRequest -> WorkloadCertificateResponse (the Coordinator)
 *
 * The pod authenticates to its agent with a projected token of audience NODE_AGENT_AUDIENCE (a
 * token the agent cannot replay to the Coordinator, which accepts only attestor-workload), and to
 * the Coordinator with its workload token, as in the pod-CVM flow. The proof of possession is a
 * JWS by the pod's key over the nonce and the SHA-256 of its SPKI; the countersignature is a JWS
 * by the agent's key (the one its node's CVM evidence bound in REPORT_DATA) over the pod, the key,
 * the nonce and the Manifest the node is attested against. Pure apart from the crypto.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import * as jose from 'jose';
import { type Reason, reason } from '../attestation/verdict.ts';

export const COUNTERSIGN_PATH = '/v1/countersign';
export const WORKLOAD_COUNTERSIGNED_PATH = '/v1/workload/countersigned';
/** The audience of the token a pod presents to its node's agent (and nothing else accepts). */
export const NODE_AGENT_AUDIENCE = 'attestor-node-agent';
/** The node agent's countersigning port (a hostPort on the agent DaemonSet). */
export const DEFAULT_COUNTERSIGN_PORT = 8444;
/** Bodies are a nonce, an SPKI and two signatures: a few KiB at most. */
export const MAX_COUNTERSIGN_BODY_BYTES = 16 * 1024;

const PROOF_TYPE = 'attestor-proof-of-possession+jws';
const COUNTERSIGNATURE_TYPE = 'attestor-countersignature+jws';

export interface CountersignRequest {
  /** Hex: the nonce the Coordinator issued to the pod. */
  nonce: string;
  /** base64url of the pod key's SPKI (DER, P-256). */
  spki: string;
  /** Compact JWS (ES256) by the pod's key over {nonce, spkiSha256}. */
  proof: string;
}

export type CountersignResponse = { countersignature: string } | { error: string };

export interface CountersignedRequest extends CountersignRequest {
  /** Compact JWS (ES256) by the node agent's key over CountersignatureClaims. */
  countersignature: string;
}

/** What the agent vouches for: this pod, on this node, holds this key, for this nonce. */
export interface CountersignatureClaims {
  node: string;
  namespace: string;
  pod: string;
  podUid: string;
  /** Hex SHA-256 of the pod key's SPKI (DER). */
  spkiSha256: string;
  /** Hex: the Coordinator's nonce. */
  nonce: string;
  /** The Manifest (status hash) the node is attested against. */
  manifestHash: string;
  /** Seconds since the epoch. */
  iat: number;
}

export function spkiSha256(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('hex');
}

/** The P-256 public key of an SPKI, or why it is none. */
export function p256Key(spkiDer: Uint8Array): KeyObject | { error: string } {
  try {
    const key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      return { error: 'the key is not a P-256 key' };
    return key;
  } catch {
    return { error: 'the SPKI does not parse' };
  }
}

/** The pod signs the nonce and its SPKI's hash with its key. */
export async function signProof(nonce: string, spkiDer: Uint8Array, privateKey: jose.CryptoKey): Promise<string> {
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify({ nonce, spkiSha256: spkiSha256(spkiDer) })))
    .setProtectedHeader({ alg: 'ES256', typ: PROOF_TYPE })
    .sign(privateKey);
}

/** Whether the proof is the key's own signature over this nonce and this key; undefined when it is. */
export async function proofProblem(proof: string, spkiDer: Uint8Array, nonce: string): Promise<string | undefined> {
  const key = p256Key(spkiDer);
  if ('error' in key) return key.error;
  try {
    const { payload, protectedHeader } = await jose.compactVerify(proof, key, { algorithms: ['ES256'] });
    if (protectedHeader.typ !== PROOF_TYPE) return 'the proof of possession is not one';
    const claims = JSON.parse(new TextDecoder().decode(payload)) as { nonce?: unknown; spkiSha256?: unknown };
    if (claims.nonce !== nonce || claims.spkiSha256 !== spkiSha256(spkiDer))
      return 'the proof of possession is for another nonce or key';
    return undefined;
  } catch {
    return 'the proof of possession does not verify with the key';
  }
}

/** The agent countersigns with its key (the one its node's evidence bound). */
export async function signCountersignature(claims: CountersignatureClaims, agentKey: jose.CryptoKey): Promise<string> {
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'ES256', typ: COUNTERSIGNATURE_TYPE })
    .sign(agentKey);
}

/** The claims of a countersignature that verifies with the agent key; an error when it does not. */
export async function readCountersignature(
  jws: string,
  agentKey: jose.JWK,
): Promise<CountersignatureClaims | { error: string }> {
  try {
    const key = await jose.importJWK(agentKey, 'ES256');
    const { payload, protectedHeader } = await jose.compactVerify(jws, key, { algorithms: ['ES256'] });
    if (protectedHeader.typ !== COUNTERSIGNATURE_TYPE) return { error: 'the countersignature is not one' };
    const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    const strings = ['node', 'namespace', 'pod', 'podUid', 'spkiSha256', 'nonce', 'manifestHash'];
    if (!strings.every((k) => typeof claims[k] === 'string') || typeof claims.iat !== 'number')
      return { error: 'the countersignature lacks a claim' };
    return claims as unknown as CountersignatureClaims;
  } catch {
    return { error: "the countersignature does not verify with the agent key of the node's accepted evidence" };
  }
}

/** What the Coordinator expects a countersignature to say. */
export interface CountersignatureExpectation {
  node: string;
  namespace: string;
  pod: string;
  podUid: string;
  spkiSha256: string;
  nonce: string;
  manifestHash: string;
  now: Date;
  /** How old a countersignature may be (the nonce's lifetime). */
  maxAgeMs: number;
}

/** Every way the claims differ from what is expected (pure; [] when they agree). */
export function countersignatureProblems(
  claims: CountersignatureClaims,
  expected: CountersignatureExpectation,
): Reason[] {
  const problems: Reason[] = [];
  const differs = (what: string, got: string, want: string) =>
    problems.push(reason('workload.countersignature', `the countersignature names ${what} ${got}, not ${want}`));
  if (claims.node !== expected.node) differs('node', claims.node, expected.node);
  const pod = `${claims.namespace}/${claims.pod}`;
  const wantPod = `${expected.namespace}/${expected.pod}`;
  if (pod !== wantPod) differs('pod', pod, wantPod);
  if (claims.podUid !== expected.podUid) differs('pod UID', claims.podUid, expected.podUid);
  if (claims.spkiSha256 !== expected.spkiSha256) differs('key', claims.spkiSha256, expected.spkiSha256);
  if (claims.nonce !== expected.nonce) differs('nonce', claims.nonce, expected.nonce);
  if (claims.manifestHash !== expected.manifestHash) differs('Manifest', claims.manifestHash, expected.manifestHash);
  const ageMs = expected.now.getTime() - claims.iat * 1000;
  if (ageMs > expected.maxAgeMs || ageMs < -60_000)
    problems.push(
      reason(
        'workload.countersignature',
        `the countersignature was made at ${new Date(claims.iat * 1000).toISOString()}, outside the nonce's lifetime`,
      ),
    );
  return problems;
}
