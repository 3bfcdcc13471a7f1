/**
 * The inference key exchange between a client and the secret service (docs/protocol.md): HPKE
 * (RFC 9180) in export-only mode with the hybrid post-quantum KEM X-Wing (ML-KEM-768 + X25519,
 * KEM ID 0x647A) and HKDF-SHA256.
 *
 * The client makes an X-Wing key pair and sends its public key. The service encapsulates to it,
 * exports the inference secret with `Export("", 32)`, and answers `enc`, an ECDSA P-256 signature
 * with its workload key over SHA-256(client public key ‖ enc), and its certificate chain. The
 * client accepts the answer only when that certificate chains to the attested mesh CA and names
 * the `secret-service` role and one of that role's policy hashes in the pinned Manifest, and the
 * signature verifies; then it decapsulates `enc` to the same secret. The secret ID is the base64 of
 * SHA-256(client public key). Pure but for the randomness of key generation and encapsulation:
 * time is a parameter.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import { createHash, type KeyObject, X509Certificate as NodeX509Certificate, verify, webcrypto } from 'node:crypto';
import { CipherSuite, ExportOnly, HkdfSha256 } from '@hpke/core';
import { XWing } from '@hpke/hybridkem-x-wing';
import * as x509 from '@peculiar/x509';
import { type WorkloadRole, workloadRole } from '../../api/manifest-roles.ts';
import { chainToAnchor, validityPeriod, validityProblems } from '../../attestation/certificate-chain.ts';
import { type Reason, reason } from '../../attestation/verdict.ts';
import { readWorkloadIdentity } from '../workload-certificate.ts';
import { base64Field, toBase64 } from './base64.ts';

type CryptoKey = webcrypto.CryptoKey;

/** The secret service's exchange endpoint. */
export const KEY_EXCHANGE_PATH = '/v1/secrets/exchange';
export const XWING_KEM_ID = 0x647a;
export const XWING_PUBLIC_KEY_BYTES = 1216;
export const XWING_ENC_BYTES = 1120;
export const INFERENCE_SECRET_BYTES = 32;
/** ECDSA P-256, IEEE P1363 encoding (r ‖ s, 32 bytes each). */
export const SIGNATURE_BYTES = 64;
/** A leaf and, at most, the mesh CA and an intermediate. */
export const MAX_CHAIN_CERTIFICATES = 3;
const MAX_CERTIFICATE_PEM_CHARS = 16_384;
/** Every request body of the exchange is smaller than this (a public key in base64 and JSON). */
export const KEY_EXCHANGE_REQUEST_LIMIT_BYTES = 4096;
export const SECRET_SERVICE_ROLE: WorkloadRole = 'secret-service';

/** `POST /v1/secrets/exchange`: the client's X-Wing public key. */
export interface KeyExchangeRequest {
  /** Base64 of the 1,216-byte X-Wing public key. */
  publicKey: string;
}

export interface KeyExchangeResponse {
  /** Base64 of SHA-256(client public key). */
  secretId: string;
  /** Base64 of the 1,120-byte X-Wing encapsulated key. */
  enc: string;
  /** Base64 of the ECDSA P-256 signature (r ‖ s) over SHA-256(client public key ‖ enc). */
  signature: string;
  /** PEM certificates, leaf first: the secret service's workload certificate and optionally its issuers. */
  certificateChain: string[];
  /** When the service forgets the secret (RFC 3339). */
  expiresAt: string;
}

const xwing = new XWing();
const suite = new CipherSuite({ kem: xwing, kdf: new HkdfSha256(), aead: new ExportOnly() });
const EMPTY = new Uint8Array(0);

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return new Uint8Array(hash.digest());
}

/** The secret ID of a client public key: base64 of its SHA-256. */
export function secretIdOf(clientPublicKey: Uint8Array): string {
  return toBase64(sha256(clientPublicKey));
}

/** What the secret service signs: SHA-256(client public key ‖ enc). */
export function exchangeTranscript(clientPublicKey: Uint8Array, enc: Uint8Array): Uint8Array {
  return sha256(clientPublicKey, enc);
}

/** The client's half: an X-Wing key pair. The private key stays in the client's memory. */
export interface ClientKeyPair {
  publicKey: Uint8Array;
  privateKey: CryptoKey;
}

export async function newClientKeyPair(): Promise<ClientKeyPair> {
  const pair = await suite.kem.generateKeyPair();
  return { publicKey: new Uint8Array(await suite.kem.serializePublicKey(pair.publicKey)), privateKey: pair.privateKey };
}

/**
 * The key pair of a 32-byte X-Wing private key (the decapsulation key seed of the X-Wing draft):
 * only for test vectors, where the client key must be fixed.
 */
export async function clientKeyPairFromPrivateKey(privateKey: Uint8Array): Promise<ClientKeyPair> {
  const pair = await xwing.generateKeyPairDerand(Uint8Array.from(privateKey));
  return { publicKey: new Uint8Array(await suite.kem.serializePublicKey(pair.publicKey)), privateKey: pair.privateKey };
}

export function keyExchangeRequest(pair: ClientKeyPair): KeyExchangeRequest {
  return { publicKey: toBase64(pair.publicKey) };
}

/** The client public key of a request body, or an error for anything but `{ publicKey }` of the right size. */
export function parseKeyExchangeRequest(body: unknown): { publicKey: Uint8Array } | { error: string } {
  if (!isRecord(body)) return { error: 'the request is not a JSON object' };
  const extra = Object.keys(body).filter((k) => k !== 'publicKey');
  if (extra.length > 0) return { error: `unknown fields: ${extra.join(', ')}` };
  const publicKey = base64Field(body.publicKey, 'publicKey', { exactly: XWING_PUBLIC_KEY_BYTES });
  return 'error' in publicKey ? publicKey : { publicKey };
}

export interface ServiceExchange {
  response: KeyExchangeResponse;
  /** The inference secret: the service stores it, never logs it. */
  secret: Uint8Array;
  secretId: string;
}

/**
 * The service's half: encapsulates to the client's key, exports the secret and signs the
 * transcript with the workload key (ECDSA P-256, the key of `certificateChain[0]`). An error for a
 * public key of the right size that is no X-Wing key (ML-KEM's modulus check).
 */
export async function answerKeyExchange(input: {
  clientPublicKey: Uint8Array;
  signingKey: CryptoKey;
  certificateChain: readonly string[];
  expiresAt: Date;
}): Promise<ServiceExchange | { error: string }> {
  let enc: Uint8Array;
  let secret: Uint8Array;
  try {
    const recipientPublicKey = await suite.kem.deserializePublicKey(Uint8Array.from(input.clientPublicKey).buffer);
    const sender = await suite.createSenderContext({ recipientPublicKey });
    enc = new Uint8Array(sender.enc);
    secret = new Uint8Array(await sender.export(EMPTY, INFERENCE_SECRET_BYTES));
  } catch {
    return { error: 'publicKey is not an X-Wing public key' };
  }
  const signature = new Uint8Array(
    await webcrypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      input.signingKey,
      exchangeTranscript(input.clientPublicKey, enc),
    ),
  );
  const secretId = secretIdOf(input.clientPublicKey);
  return {
    secret,
    secretId,
    response: {
      secretId,
      enc: toBase64(enc),
      signature: toBase64(signature),
      certificateChain: [...input.certificateChain],
      expiresAt: input.expiresAt.toISOString(),
    },
  };
}

export interface ParsedKeyExchangeResponse {
  secretId: string;
  enc: Uint8Array;
  signature: Uint8Array;
  certificateChain: NodeX509Certificate[];
  expiresAt: Date;
}

/** A response body read strictly: every field present, of its size, and nothing else. */
export function parseKeyExchangeResponse(body: unknown): ParsedKeyExchangeResponse | { errors: string[] } {
  if (!isRecord(body)) return { errors: ['the answer is not a JSON object'] };
  const errors: string[] = [];
  const known = ['secretId', 'enc', 'signature', 'certificateChain', 'expiresAt'];
  const extra = Object.keys(body).filter((k) => !known.includes(k));
  if (extra.length > 0) errors.push(`unknown fields: ${extra.join(', ')}`);
  const secretIdBytes = base64Field(body.secretId, 'secretId', { exactly: 32 });
  if ('error' in secretIdBytes) errors.push(secretIdBytes.error);
  const enc = base64Field(body.enc, 'enc', { exactly: XWING_ENC_BYTES });
  if ('error' in enc) errors.push(enc.error);
  const signature = base64Field(body.signature, 'signature', { exactly: SIGNATURE_BYTES });
  if ('error' in signature) errors.push(signature.error);
  const certificateChain: NodeX509Certificate[] = [];
  const chain = body.certificateChain;
  if (!Array.isArray(chain) || chain.length === 0 || chain.length > MAX_CHAIN_CERTIFICATES)
    errors.push(`certificateChain is not a list of 1 to ${MAX_CHAIN_CERTIFICATES} PEM certificates`);
  else
    chain.forEach((pem, i) => {
      if (
        typeof pem !== 'string' ||
        pem.length > MAX_CERTIFICATE_PEM_CHARS ||
        !pem.includes('-----BEGIN CERTIFICATE-----')
      ) {
        errors.push(`certificateChain[${i}] is not a PEM certificate`);
        return;
      }
      try {
        certificateChain.push(new NodeX509Certificate(pem));
      } catch {
        errors.push(`certificateChain[${i}] does not parse as an X.509 certificate`);
      }
    });
  const expiresAt = typeof body.expiresAt === 'string' ? new Date(body.expiresAt) : undefined;
  if (expiresAt === undefined || Number.isNaN(expiresAt.getTime())) errors.push('expiresAt is not an RFC 3339 time');
  if (errors.length > 0) return { errors };
  return {
    secretId: body.secretId as string,
    enc: enc as Uint8Array,
    signature: signature as Uint8Array,
    certificateChain,
    expiresAt: expiresAt as Date,
  };
}

export interface ClientExchangeInput {
  pair: ClientKeyPair;
  /** The answer's JSON body, as received. */
  response: unknown;
  /** The mesh CA (PEM) the client attested through the Coordinator. */
  meshCA: string;
  /** The pinned Manifest's policies (spec.policies). */
  policies: ReadonlyArray<{ hash: string; role?: WorkloadRole }>;
  /** When the certificate must be valid. */
  at: Date;
}

export type ClientExchange =
  | { accepted: true; secret: Uint8Array; secretId: string; expiresAt: Date }
  | { accepted: false; reasons: Reason[] };

/**
 * The client's check of the service's answer, and then its half of the secret. Every problem is
 * listed; the secret is derived only from an answer that passed every check.
 */
export async function acceptKeyExchange(input: ClientExchangeInput): Promise<ClientExchange> {
  const parsed = parseKeyExchangeResponse(input.response);
  if ('errors' in parsed)
    return { accepted: false, reasons: parsed.errors.map((e) => reason('secret-service.response', e)) };
  const reasons: Reason[] = [];

  const expectedId = secretIdOf(input.pair.publicKey);
  if (parsed.secretId !== expectedId)
    reasons.push(reason('secret-service.secret-id', `the answer names secret ${parsed.secretId}, not ${expectedId}`));

  const meshCA = new NodeX509Certificate(input.meshCA);
  const leaf = parsed.certificateChain[0] as NodeX509Certificate;
  const anchored = chainToAnchor(parsed.certificateChain, [meshCA], 'secret service');
  for (const problem of anchored.problems) reasons.push(reason('secret-service.chain', problem));
  for (const problem of validityProblems(
    [...anchored.path, ...(anchored.anchor ? [anchored.anchor] : [])].map(validityPeriod),
    input.at,
  ))
    reasons.push(reason('secret-service.chain', problem));

  if (leaf.ca)
    reasons.push(reason('secret-service.identity', 'the certificate is a CA certificate, not a workload certificate'));
  const identity = identityOf(leaf);
  if (identity === undefined)
    reasons.push(reason('secret-service.identity', 'the certificate has no workload identity extension'));
  else if ('error' in identity) reasons.push(reason('secret-service.identity', identity.error));
  else {
    if (identity.role !== SECRET_SERVICE_ROLE)
      reasons.push(
        reason('secret-service.role', `the certificate names the role ${identity.role}, not secret-service`),
      );
    const allowed = input.policies.filter((p) => workloadRole(p) === SECRET_SERVICE_ROLE);
    if (!allowed.some((p) => p.hash === identity.policyHash))
      reasons.push(
        reason(
          'secret-service.policy',
          `the certificate's policy hash ${identity.policyHash} is not a secret-service policy of the pinned Manifest (${allowed.map((p) => p.hash).join(', ') || 'it has none'})`,
        ),
      );
  }

  const key = publicKeyOf(leaf);
  if (key === undefined || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    reasons.push(reason('secret-service.identity', 'the certificate does not hold an ECDSA P-256 key'));
  else if (
    !verify(
      'sha256',
      exchangeTranscript(input.pair.publicKey, parsed.enc),
      { key, dsaEncoding: 'ieee-p1363' },
      parsed.signature,
    )
  )
    reasons.push(
      reason(
        'secret-service.signature',
        "the signature does not verify with the certificate's key over SHA-256(client public key ‖ enc)",
      ),
    );

  if (reasons.length > 0) return { accepted: false, reasons };
  const secret = await clientSecret(input.pair, parsed.enc);
  if (secret === undefined)
    return { accepted: false, reasons: [reason('secret-service.enc', 'enc does not decapsulate with this key pair')] };
  return { accepted: true, secret, secretId: expectedId, expiresAt: parsed.expiresAt };
}

/** The client's export of the secret from `enc`; undefined when it does not decapsulate. */
export async function clientSecret(pair: ClientKeyPair, enc: Uint8Array): Promise<Uint8Array | undefined> {
  try {
    const recipient = await suite.createRecipientContext({
      recipientKey: pair.privateKey,
      enc: Uint8Array.from(enc).buffer,
    });
    return new Uint8Array(await recipient.export(EMPTY, INFERENCE_SECRET_BYTES));
  } catch {
    return undefined;
  }
}

/** The leaf's workload identity; an error for a certificate that only Node's parser reads. */
function identityOf(leaf: NodeX509Certificate): ReturnType<typeof readWorkloadIdentity> {
  try {
    return readWorkloadIdentity(new x509.X509Certificate(leaf.raw));
  } catch {
    return { error: 'the certificate does not parse for its extensions' };
  }
}

/** The leaf's public key; undefined when it does not decode. */
function publicKeyOf(leaf: NodeX509Certificate): KeyObject | undefined {
  try {
    return leaf.publicKey;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
