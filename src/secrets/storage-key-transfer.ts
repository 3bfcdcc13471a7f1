/**
 * The records by which secret-service replicas share one storage key per mesh CA through etcd
 * (key-share.ts does the I/O):
 *
 * - the key record: a check value, AES-GCM under the storage key, so that a replica can tell
 *   whether a key it was handed is the one the other replicas use; it holds nothing that opens a
 *   secret;
 * - a request: the requester's `secret-service` certificate, a fresh ECDH P-256 public key, and
 *   its signature with the certified workload key over the mesh CA's hash and that public key;
 * - an answer: the holder's certificate, its own fresh ECDH public key, the storage key wrapped
 *   (WebCrypto `wrapKey`, AES-256-GCM) under the key both derive (src/pki/key-transfer.ts, with
 *   this protocol's HKDF info), and the holder's signature binding the request, both public keys
 *   and the wrapped key.
 *
 * Each side checks the other's certificate as the release does a worker's (release-decision.ts):
 * the current mesh CA, valid now, end-entity, and here the `secret-service` role. The storage key
 * is extractable only so that `wrapKey` can hand it on: nothing calls `exportKey` on it. Pure but
 * for randomness: time is a parameter.
 */
import { createHash, verify, webcrypto, X509Certificate } from 'node:crypto';
import { type Reason, reason } from '../attestation/verdict.ts';
import { TransferKeyPair } from '../pki/key-transfer.ts';
import { jwkToSpki } from '../protocol/evidence-request.ts';
import type { PeerPublicKey } from '../protocol/peer-recovery.ts';
import { workloadCertificateProblems } from './release-decision.ts';

type CryptoKey = webcrypto.CryptoKey;

export const SECRET_SERVICE_ROLE = 'secret-service';
const VERSION = 1;
const IV_BYTES = 12;
const INFO = new TextEncoder().encode('attestor secret service v1: storage key transfer');
const REQUEST_LABEL = 'attestor storage key request v1\n';
const ANSWER_LABEL = 'attestor storage key answer v1\n';
const WRAP_LABEL = 'attestor storage key v1\n';
const CHECK_LABEL = 'attestor storage key check v1\n';

/** A request for the storage key of the mesh CA `meshCaSha256`, as etcd stores it (JSON). */
export interface KeyRequest {
  version: number;
  meshCaSha256: string;
  /** The requester's workload certificate (PEM, the leaf). */
  certificate: string;
  /** Its ECDH P-256 public key for this one transfer. */
  publicKey: PeerPublicKey;
  /** ECDSA P-256 SHA-256 (IEEE P1363) by the certificate's key over requestSigned(). */
  signature: string;
}

export interface KeyAnswer {
  version: number;
  /** The holder's workload certificate (PEM, the leaf). */
  certificate: string;
  publicKey: PeerPublicKey;
  iv: string;
  wrappedKey: string;
  signature: string;
}

/** Who signs: a replica's certificate (the leaf PEM) and its workload signing key. */
export interface Signer {
  certificate: string;
  signingKey: CryptoKey;
}

/** The key record's value: a check value that opens only under the storage key of this mesh CA. */
export async function keyCheckRecord(storageKey: CryptoKey, meshCaSha256: string): Promise<Uint8Array> {
  const iv = webcrypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = await webcrypto.subtle.encrypt(
    { name: 'AES-GCM', iv },
    storageKey,
    Buffer.from(`${CHECK_LABEL}${meshCaSha256}`),
  );
  return Buffer.from(
    JSON.stringify({ version: VERSION, check: Buffer.concat([iv, new Uint8Array(sealed)]).toString('base64') }),
  );
}

/** Whether `storageKey` is the key the key record was made with. */
export async function keyMatchesRecord(
  storageKey: CryptoKey,
  meshCaSha256: string,
  record: Uint8Array,
): Promise<boolean> {
  try {
    const parsed = JSON.parse(Buffer.from(record).toString('utf8')) as { version?: unknown; check?: unknown };
    if (parsed.version !== VERSION || typeof parsed.check !== 'string') return false;
    const bytes = Buffer.from(parsed.check, 'base64');
    const plain = await webcrypto.subtle.decrypt(
      { name: 'AES-GCM', iv: bytes.subarray(0, IV_BYTES) },
      storageKey,
      bytes.subarray(IV_BYTES),
    );
    return Buffer.from(plain).toString('utf8') === `${CHECK_LABEL}${meshCaSha256}`;
  } catch {
    return false;
  }
}

/** The request's ID in etcd: the hex SHA-256 of its public key's SPKI. */
export function requestId(publicKey: PeerPublicKey): string {
  return hex(jwkToSpki({ ...publicKey }));
}

export async function makeKeyRequest(signer: Signer, pair: TransferKeyPair, meshCaSha256: string): Promise<KeyRequest> {
  const signature = await sign(signer.signingKey, requestSigned(meshCaSha256, pair.publicJwk));
  return { version: VERSION, meshCaSha256, certificate: signer.certificate, publicKey: pair.publicJwk, signature };
}

/** What is wrong with a request for the key of `meshCa` at `at`; empty when the requester may have it. */
export function keyRequestProblems(value: Uint8Array, meshCa: string, meshCaSha256: string, at: Date): Reason[] {
  const request = parseJson(value) as Partial<KeyRequest> | undefined;
  if (
    !request ||
    request.version !== VERSION ||
    typeof request.certificate !== 'string' ||
    typeof request.signature !== 'string' ||
    !isPublicKey(request.publicKey)
  )
    return [reason('storage-key.signature', 'the request is not a version 1 storage key request')];
  if (request.meshCaSha256 !== meshCaSha256)
    return [reason('storage-key.chain', 'the request asks for the storage key of another mesh CA')];
  const problems = peerProblems(request.certificate, meshCa, at);
  if (problems.length > 0) return problems;
  if (!signedBy(request.certificate, requestSigned(meshCaSha256, request.publicKey), request.signature))
    problems.push(reason('storage-key.signature', "the request is not signed by its certificate's key"));
  return problems;
}

/** The answer to a checked request: the storage key wrapped for the requester's public key alone. */
export async function makeKeyAnswer(
  signer: Signer,
  storageKey: CryptoKey,
  request: Uint8Array,
  meshCaSha256: string,
): Promise<KeyAnswer> {
  const requesterKey = (parseJson(request) as KeyRequest).publicKey;
  const pair = await TransferKeyPair.generate();
  const transferKey = await pair.transferKey(requesterKey, 'responder', INFO);
  const iv = webcrypto.getRandomValues(new Uint8Array(IV_BYTES));
  const wrapped = new Uint8Array(
    await webcrypto.subtle.wrapKey('raw', storageKey, transferKey, {
      name: 'AES-GCM',
      iv,
      additionalData: wrapAad(meshCaSha256, requestId(requesterKey)),
    }),
  );
  const signature = await sign(
    signer.signingKey,
    answerSigned(meshCaSha256, requesterKey, pair.publicJwk, iv, wrapped),
  );
  return {
    version: VERSION,
    certificate: signer.certificate,
    publicKey: pair.publicJwk,
    iv: Buffer.from(iv).toString('base64'),
    wrappedKey: Buffer.from(wrapped).toString('base64'),
    signature,
  };
}

export type OpenedAnswer = { key: CryptoKey } | { reasons: Reason[] };

/**
 * The storage key from an answer to this replica's request (made with `pair`), once the holder's
 * certificate passes the same checks and its signature binds this request; the key comes out
 * extractable only so that this replica can hand it on in turn.
 */
export async function openKeyAnswer(
  value: Uint8Array,
  pair: TransferKeyPair,
  meshCa: string,
  meshCaSha256: string,
  at: Date,
): Promise<OpenedAnswer> {
  const answer = parseJson(value) as Partial<KeyAnswer> | undefined;
  if (
    !answer ||
    answer.version !== VERSION ||
    typeof answer.certificate !== 'string' ||
    typeof answer.signature !== 'string' ||
    typeof answer.iv !== 'string' ||
    typeof answer.wrappedKey !== 'string' ||
    !isPublicKey(answer.publicKey)
  )
    return { reasons: [reason('storage-key.signature', 'the answer is not a version 1 storage key answer')] };
  const problems = peerProblems(answer.certificate, meshCa, at);
  if (problems.length > 0) return { reasons: problems };
  const iv = new Uint8Array(Buffer.from(answer.iv, 'base64'));
  const wrapped = new Uint8Array(Buffer.from(answer.wrappedKey, 'base64'));
  if (
    !signedBy(
      answer.certificate,
      answerSigned(meshCaSha256, pair.publicJwk, answer.publicKey, iv, wrapped),
      answer.signature,
    )
  )
    return {
      reasons: [reason('storage-key.signature', "the answer is not signed by its certificate's key for this request")],
    };
  try {
    const transferKey = await pair.transferKey(answer.publicKey, 'requester', INFO);
    const key = await webcrypto.subtle.unwrapKey(
      'raw',
      wrapped,
      transferKey,
      { name: 'AES-GCM', iv, additionalData: wrapAad(meshCaSha256, requestId(pair.publicJwk)) },
      { name: 'AES-GCM', length: 256 },
      true,
      ['encrypt', 'decrypt'],
    );
    return { key };
  } catch {
    return { reasons: [reason('storage-key.signature', 'the wrapped key does not open for this request')] };
  }
}

function peerProblems(certificatePem: string, meshCa: string, at: Date): Reason[] {
  let der: Uint8Array | undefined;
  try {
    der = new Uint8Array(new X509Certificate(certificatePem).raw);
  } catch {
    der = undefined;
  }
  return workloadCertificateProblems(der, meshCa, at, {
    role: SECRET_SERVICE_ROLE,
    check: 'storage-key',
    anotherCa: 'the replica is not certified under the current mesh CA',
  });
}

function requestSigned(meshCaSha256: string, publicKey: PeerPublicKey): Buffer {
  return Buffer.from(`${REQUEST_LABEL}${meshCaSha256}\n${requestId(publicKey)}`);
}

function answerSigned(
  meshCaSha256: string,
  requesterKey: PeerPublicKey,
  holderKey: PeerPublicKey,
  iv: Uint8Array,
  wrapped: Uint8Array,
): Buffer {
  const sealed = createHash('sha256').update(iv).update(wrapped).digest('hex');
  return Buffer.from(`${ANSWER_LABEL}${meshCaSha256}\n${requestId(requesterKey)}\n${requestId(holderKey)}\n${sealed}`);
}

function wrapAad(meshCaSha256: string, id: string): Uint8Array {
  return Buffer.from(`${WRAP_LABEL}${meshCaSha256}\n${id}`);
}

async function sign(key: CryptoKey, data: Uint8Array): Promise<string> {
  const signature = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, data);
  return Buffer.from(signature).toString('base64');
}

function signedBy(certificatePem: string, data: Uint8Array, signature: string): boolean {
  try {
    const publicKey = new X509Certificate(certificatePem).publicKey;
    return verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

function isPublicKey(value: unknown): value is PeerPublicKey {
  const key = value as Partial<PeerPublicKey> | undefined;
  if (key?.kty !== 'EC' || key.crv !== 'P-256' || typeof key.x !== 'string' || typeof key.y !== 'string') return false;
  try {
    jwkToSpki({ ...key });
    return true;
  } catch {
    return false;
  }
}

function parseJson(value: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    return undefined;
  }
}

function hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
