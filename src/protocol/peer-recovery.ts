/**
 * Peer recovery between the Coordinator's replicas: a replica that does not lead asks the leader
 * for its identity (root CA, current mesh CA, transition chain, the Manifest it follows) under
 * `/v1/coordinator/peer/`, authenticated by the operator's service account token as a first
 * filter and by its own CVM evidence. Two calls:
 *
 * - `POST /v1/coordinator/peer/nonce` `{}`: a single-use nonce, and which identity the leader would
 *   hand over (`identity`: the SHA-256 of both CAs and the latest transition; null, with a reason,
 *   when it has none to give), so that a replica that holds it already stops here.
 * - `POST /v1/coordinator/peer/recover` `{nonce, peerKey, evidence}`: the replica's CVM evidence
 *   with REPORT_DATA = SHA-512(REQUEST_DOMAIN ‖ nonce ‖ SHA-256(peerKey SPKI)), peerKey an
 *   ephemeral ECDH P-256 key. The answer is the bundle, its CA keys sealed to a key agreed from
 *   peerKey and the leader's own ephemeral key (src/pki/key-transfer.ts), and the leader's CVM
 *   evidence with REPORT_DATA = SHA-512(RESPONSE_DOMAIN ‖ SHA-256(peerKey SPKI) ‖ SHA-256(RFC 8785
 *   JSON of the bundle)): it binds the replica's fresh key and every byte of the bundle.
 *
 * Both sides import this file. Pure.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Manifest, ManifestSpec } from '../api/manifest.ts';
import { manifestHash } from '../api/manifest-hash.ts';
import { SIGNATURE_ANNOTATION } from '../api/manifest-signature.ts';
import type { NodeEvidence } from '../attestation/node-appraisal.ts';
import type { SealedCa } from '../pki/certificate-authority.ts';
import { decodeCvmEvidence, jwkToSpki } from './evidence-request.ts';
import type { EncodedCvmEvidence } from './messages.ts';
import { type HistoryEntry, transitionChain } from './transition-chain.ts';

export const PEER_NONCE_PATH = '/v1/coordinator/peer/nonce';
export const PEER_RECOVER_PATH = '/v1/coordinator/peer/recover';
/** An empty object. */
export const MAX_PEER_NONCE_BODY_BYTES = 1024;
/** A key and one CVM report with its certificates (a TDX quote is the larger, some 10 KiB). */
export const MAX_PEER_RECOVER_BODY_BYTES = 256 * 1024;
/** Two Manifests (at most 4 MiB each as JSON, coordinator-attest.ts) and the rest. */
export const MAX_PEER_RECOVER_RESPONSE_BYTES = 10 * 1024 * 1024;
/** How long a peer nonce is good for. */
export const PEER_NONCE_TTL_MS = 60_000;

/** Domain separation: a peer's report can never pass as a client's (coordinator-attest.ts) or an agent's. */
const REQUEST_DOMAIN = Buffer.from('attestor peer recovery v1: request\n');
const RESPONSE_DOMAIN = Buffer.from('attestor peer recovery v1: response\n');

/** A public P-256 key. */
export interface PeerPublicKey {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
}

/** Which identity a Coordinator holds: SHA-256 of its root and mesh CA certificates (hex), and its latest transition. */
export interface PeerIdentityState {
  rootCA: string;
  meshCA: string;
  transition: string;
}

export interface PeerNonceResponse {
  nonce: string;
  /** The identity the leader would hand over; null when it has none to give (then `reason`). */
  identity: PeerIdentityState | null;
  reason?: string;
}

export interface PeerRecoverRequest {
  nonce: string;
  peerKey: PeerPublicKey;
  evidence: EncodedCvmEvidence;
}

/** The parts of a Manifest the chain needs: its name and age (the active-Manifest rule), its owners' signature, its spec. */
export interface TransferredManifest {
  metadata: { name: string; creationTimestamp?: string; annotations?: Record<string, string> };
  spec: ManifestSpec;
}

export interface PeerBundle {
  /** The leader's ephemeral ECDH key: with peerKey it gives the key the CAs are sealed under. */
  leaderKey: PeerPublicKey;
  /** The Manifest the leader follows, the head of its chain. */
  manifest: TransferredManifest;
  /** The Manifest before it, when the chain has one: whether its owners signed the step (peer policy). */
  predecessor?: TransferredManifest;
  history: HistoryEntry[];
  rootCA: SealedCa;
  /** The current mesh CA only: earlier ones were destroyed when the Manifest changed. */
  meshCA: SealedCa;
}

export interface PeerRecoverResponse {
  /** The leader's CVM evidence, binding peerKey and the bundle. */
  evidence: EncodedCvmEvidence;
  bundle: PeerBundle;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();

/** The requesting replica's REPORT_DATA: SHA-512(REQUEST_DOMAIN ‖ nonce ‖ SHA-256(peerKey SPKI)). */
export function peerRequestReportData(nonce: Uint8Array, peerKeySpki: Uint8Array): Uint8Array {
  if (nonce.length !== 32) throw new Error(`the nonce is 32 bytes, got ${nonce.length}`);
  return new Uint8Array(createHash('sha512').update(REQUEST_DOMAIN).update(nonce).update(sha256(peerKeySpki)).digest());
}

/** The leader's REPORT_DATA: SHA-512(RESPONSE_DOMAIN ‖ SHA-256(peerKey SPKI) ‖ bundleDigest). */
export function peerResponseReportData(peerKeySpki: Uint8Array, bundle: PeerBundle): Uint8Array {
  return new Uint8Array(
    createHash('sha512').update(RESPONSE_DOMAIN).update(sha256(peerKeySpki)).update(bundleDigest(bundle)).digest(),
  );
}

/** SHA-256 of the bundle as RFC 8785 JSON: key order and formatting do not matter, every value does. */
export function bundleDigest(bundle: PeerBundle): Uint8Array {
  const json = canonicalize(bundle);
  if (json === undefined) throw new Error('the bundle cannot be canonicalised');
  return sha256(json);
}

/** A Manifest as the bundle carries it. */
export function transferredManifest(m: Manifest): TransferredManifest {
  const signature = m.metadata.annotations?.[SIGNATURE_ANNOTATION];
  return {
    metadata: {
      name: m.metadata.name ?? '',
      ...(m.metadata.creationTimestamp
        ? { creationTimestamp: new Date(m.metadata.creationTimestamp).toISOString() }
        : {}),
      ...(signature !== undefined ? { annotations: { [SIGNATURE_ANNOTATION]: signature } } : {}),
    },
    spec: m.spec,
  };
}

/** A transferred Manifest as the Manifest type the chain works with. */
export function receivedManifest(t: TransferredManifest): Manifest {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: {
      name: t.metadata.name,
      ...(t.metadata.creationTimestamp ? { creationTimestamp: new Date(t.metadata.creationTimestamp) } : {}),
      ...(t.metadata.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
    },
    spec: t.spec,
  } as Manifest;
}

/** The SHA-256 (hex) a PeerIdentityState names a CA certificate by. */
export function certificateFingerprint(der: Uint8Array): string {
  return sha256(der).toString('hex');
}

export interface DecodedPeerRecoverRequest {
  nonce: string;
  nonceBytes: Uint8Array;
  peerKey: PeerPublicKey;
  peerKeySpki: Uint8Array;
  evidence: NodeEvidence['cvm'];
}

export function decodePeerRecoverRequest(body: unknown): DecodedPeerRecoverRequest | { error: string } {
  const r = body as Partial<PeerRecoverRequest> | null;
  if (!r || typeof r !== 'object') return { error: 'the body is not a JSON object' };
  if (typeof r.nonce !== 'string' || !/^[0-9a-f]{64}$/.test(r.nonce))
    return { error: 'nonce: expected 32 bytes as 64 lower-case hex characters' };
  const key = publicKey(r.peerKey);
  if ('error' in key) return { error: `peerKey: ${key.error}` };
  const evidence = decodeCvmEvidence(r.evidence);
  if ('error' in evidence) return { error: `evidence: ${evidence.error}` };
  return {
    nonce: r.nonce,
    nonceBytes: new Uint8Array(Buffer.from(r.nonce, 'hex')),
    peerKey: key.key,
    peerKeySpki: key.spki,
    evidence,
  };
}

export function decodePeerNonceResponse(body: unknown): PeerNonceResponse | { error: string } {
  const r = body as Partial<PeerNonceResponse> | null;
  if (!r || typeof r !== 'object') return { error: 'the body is not a JSON object' };
  if (typeof r.nonce !== 'string' || !/^[0-9a-f]{64}$/.test(r.nonce))
    return { error: 'nonce: expected 64 lower-case hex characters' };
  if (r.identity === null) return { nonce: r.nonce, identity: null, reason: String(r.reason ?? '') };
  const i = r.identity as Partial<PeerIdentityState> | undefined;
  if (!i || !['rootCA', 'meshCA', 'transition'].every((k) => /^[0-9a-f]{64}$/.test(String(i[k as keyof typeof i]))))
    return { error: 'identity: expected {rootCA, meshCA, transition}, each 64 lower-case hex characters, or null' };
  return { nonce: r.nonce, identity: { rootCA: i.rootCA!, meshCA: i.meshCA!, transition: i.transition! } };
}

export interface DecodedPeerRecoverResponse {
  evidence: NodeEvidence['cvm'];
  bundle: PeerBundle;
}

/** Checks the answer's shape (its meaning: peerBundleProblems, the evidence, the sealed keys) and decodes the evidence. */
export function decodePeerRecoverResponse(body: unknown): DecodedPeerRecoverResponse | { error: string } {
  const r = body as Partial<PeerRecoverResponse> | null;
  if (!r || typeof r !== 'object') return { error: 'the body is not a JSON object' };
  const evidence = decodeCvmEvidence(r.evidence);
  if ('error' in evidence) return { error: `evidence: ${evidence.error}` };
  const b = r.bundle as Partial<PeerBundle> | undefined;
  if (!b || typeof b !== 'object') return { error: 'bundle: expected an object' };
  const key = publicKey(b.leaderKey);
  if ('error' in key) return { error: `bundle.leaderKey: ${key.error}` };
  for (const field of ['manifest', 'predecessor'] as const) {
    const m = b[field];
    if (field === 'predecessor' && m === undefined) continue;
    if (!m || typeof m !== 'object' || typeof m.metadata?.name !== 'string' || !m.spec || typeof m.spec !== 'object')
      return { error: `bundle.${field}: expected {metadata: {name}, spec}` };
  }
  if (
    !Array.isArray(b.history) ||
    b.history.length === 0 ||
    !b.history.every(
      (e) => e && /^[0-9a-f]{64}$/.test(String(e.manifestHash)) && /^[0-9a-f]{64}$/.test(String(e.transition)),
    )
  )
    return { error: 'bundle.history: expected a non-empty list of {manifestHash, transition}' };
  for (const field of ['rootCA', 'meshCA'] as const) {
    const s = b[field];
    if (
      !s ||
      typeof s.certificate !== 'string' ||
      !s.certificate.includes('-----BEGIN CERTIFICATE-----') ||
      typeof s.iv !== 'string' ||
      typeof s.key !== 'string'
    )
      return { error: `bundle.${field}: expected {certificate: PEM, iv: base64, key: base64}` };
  }
  return { evidence, bundle: b as PeerBundle };
}

/**
 * What does not hold together in a bundle, before any key is opened: the chain must follow from
 * its Manifest hashes, end at the Manifest the bundle carries, and the predecessor (if any) must be
 * the entry before. Each problem once, all of them.
 */
export function peerBundleProblems(bundle: PeerBundle): string[] {
  const problems: string[] = [];
  const hashes = bundle.history.map((e) => e.manifestHash);
  const recomputed = transitionChain(hashes);
  if (recomputed.some((e, i) => e.transition !== bundle.history[i]!.transition))
    problems.push('the transition chain does not follow from its Manifest hashes');
  const head = safeHash(bundle.manifest.spec);
  if (head !== hashes.at(-1))
    problems.push(`the Manifest ${bundle.manifest.metadata.name} hashes to ${head}, not to the chain's last entry`);
  if (bundle.predecessor) {
    const before = safeHash(bundle.predecessor.spec);
    if (hashes.length < 2 || before !== hashes.at(-2))
      problems.push(`the predecessor ${bundle.predecessor.metadata.name} (${before}) is not the chain's entry before`);
  }
  return problems;
}

function safeHash(spec: ManifestSpec): string {
  try {
    return manifestHash(spec);
  } catch {
    return '(not canonicalisable)';
  }
}

function publicKey(jwk: unknown): { key: PeerPublicKey; spki: Uint8Array } | { error: string } {
  const k = jwk as Partial<PeerPublicKey> | null;
  if (!k || typeof k !== 'object' || k.kty !== 'EC' || k.crv !== 'P-256' || 'd' in k)
    return { error: 'expected a public P-256 JWK' };
  if (typeof k.x !== 'string' || typeof k.y !== 'string') return { error: 'expected a public P-256 JWK' };
  try {
    const key: PeerPublicKey = { kty: 'EC', crv: 'P-256', x: k.x, y: k.y };
    return { key, spki: jwkToSpki({ ...key }) };
  } catch {
    return { error: 'not a valid P-256 public key' };
  }
}
