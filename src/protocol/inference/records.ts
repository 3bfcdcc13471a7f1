/**
 * Field encryption of inference bodies (docs/protocol.md): each message is a record, AES-256-GCM
 * under the inference secret with a fresh 96-bit IV, whose AAD binds the secret ID, the request's
 * nonce, the direction, the record's sequence number, its timestamp, whether it is the last record,
 * the endpoint, and the SHA-256 of the plaintext fields (RFC 8785 JSON). A request is one record;
 * an answer is one record, or for a stream (streams.ts) one record per server-sent event and then
 * an empty final record (version 1), or one record per batch of events that arrived together, the
 * last one final (version 2). The version is the request's: its label is in the AAD, and an answer
 * is in its request's version. Pure: IVs come from the caller's randomness (the system's CSPRNG by
 * default), time is a parameter.
 */
import { createCipheriv, createDecipheriv, createHash, randomFillSync } from 'node:crypto';
import canonicalize from 'canonicalize';
import { base64Field, toBase64 } from './base64.ts';
import type { InferenceRefusal } from './errors.ts';
import { type Direction, ENVELOPE_FIELD, type EncryptedPath, plaintextFields, splitFields } from './fields.ts';

/** Version 1: a streamed answer is one record per event, then an empty final record. */
export const RECORD_VERSION = 1;
/** Version 2: a streamed answer is one record per batch of events (`{"events": [...]}`). */
export const BATCHED_RECORD_VERSION = 2;
export type RecordVersion = typeof RECORD_VERSION | typeof BATCHED_RECORD_VERSION;
/** The versions a receiver accepts; a sender picks one (the client: the latest). */
export const RECORD_VERSIONS: readonly RecordVersion[] = [RECORD_VERSION, BATCHED_RECORD_VERSION];
/** The AAD's label per version (21 ASCII bytes each): the version is bound in every record. */
export const AAD_LABELS: Readonly<Record<RecordVersion, string>> = {
  1: 'attestor-inference-v1',
  2: 'attestor-inference-v2',
};
/** Version 1's label. */
export const AAD_LABEL = AAD_LABELS[RECORD_VERSION];
export const NONCE_BYTES = 16;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const SECRET_ID_BYTES = 32;
/** The largest ciphertext of one record (a request with images in base64 fits). */
export const MAX_CIPHERTEXT_BYTES = 16 * 1024 * 1024;
const MAX_SEQUENCE = 0xffff_ffff;

/** The `encryption` field of a wire body. */
export interface Envelope {
  version: number;
  /** Base64 of SHA-256(client public key): which secret. */
  secretId: string;
  /** Base64 of 16 random bytes, one per request; its answer's records carry the same. */
  nonce: string;
  /** 0 for a request and a whole answer; 0, 1, ... for the records of a stream. */
  sequence: number;
  /** Milliseconds since the Unix epoch, when the record was made. */
  timestamp: number;
  /** True on the last record of the message. */
  final: boolean;
  /** Base64 of 12 random bytes. */
  iv: string;
  /** Base64 of the AES-256-GCM ciphertext of the protected fields' JSON, then the 16-byte tag. */
  ciphertext: string;
}

/**
 * The request a record belongs to: the secret and its ID, the request's nonce, the endpoint, and
 * the record version the request was sent in (its answer's records are in the same one).
 */
export interface RecordContext {
  secret: Uint8Array;
  /** Base64 of SHA-256(client public key). */
  secretId: string;
  /** 16 bytes. */
  nonce: Uint8Array;
  path: EncryptedPath;
  /** Default 1 (RECORD_VERSION). */
  version?: RecordVersion;
}

/** The context's record version (1 when it names none). */
export function contextVersion(context: Pick<RecordContext, 'version'>): RecordVersion {
  return context.version ?? RECORD_VERSION;
}

export interface RecordHeader {
  direction: Direction;
  sequence: number;
  timestamp: number;
  final: boolean;
}

const DIRECTION_BYTE: Record<Direction, number> = { request: 0x01, response: 0x02 };

/** The last plaintext fields digested: a stream's events all carry the same ones. */
let lastPlaintext: { json: string; digest: Buffer } | undefined;

/** SHA-256 of the RFC 8785 canonical JSON of the plaintext fields. */
export function plaintextDigest(
  clear: Readonly<Record<string, unknown>>,
  json: string = JSON.stringify(clear),
): Buffer {
  // Equal JSON.stringify output means equal values, and so equal canonical JSON.
  if (lastPlaintext?.json === json) return lastPlaintext.digest;
  const digest = createHash('sha256')
    .update(canonicalize(clear) ?? '{}', 'utf8')
    .digest();
  lastPlaintext = { json, digest };
  return digest;
}

/** The part of the AAD a request's records share (label, secret ID, nonce), and its nonce in base64. */
interface ContextPrefix {
  version: RecordVersion;
  secretId: string;
  nonce: Uint8Array;
  path: EncryptedPath;
  /** label ‖ secret ID ‖ nonce ‖ 14 zero bytes for the header ‖ path length ‖ path. */
  template: Buffer;
  /** Where the header starts in the template. */
  headerAt: number;
  nonceBase64: string;
}

const LABEL_BYTES: Readonly<Record<RecordVersion, Buffer>> = {
  1: Buffer.from(AAD_LABELS[1], 'ascii'),
  2: Buffer.from(AAD_LABELS[2], 'ascii'),
};
/** direction (1) ‖ sequence (4) ‖ timestamp (8) ‖ final (1) ‖ path length (2). */
const HEADER_BYTES = 1 + 4 + 8 + 1 + 2;
const DIGEST_BYTES = 32;

/** Per context object: a stream's records reuse what only depends on the request. */
const prefixes = new WeakMap<object, ContextPrefix>();

function contextPrefix(context: Pick<RecordContext, 'secretId' | 'nonce' | 'path' | 'version'>): ContextPrefix {
  const cached = prefixes.get(context);
  const version = contextVersion(context);
  // The context is a plain object: use the cache only while it still names the same request.
  if (
    cached !== undefined &&
    cached.version === version &&
    cached.secretId === context.secretId &&
    cached.path === context.path &&
    Buffer.compare(cached.nonce, context.nonce) === 0
  )
    return cached;
  const secretId = Buffer.from(context.secretId, 'base64');
  const path = Buffer.from(context.path, 'utf8');
  const label = LABEL_BYTES[version];
  if (label === undefined) throw new RangeError(`record version ${String(version)} is not known`);
  const headerAt = label.length + secretId.length + context.nonce.length;
  const template = Buffer.alloc(headerAt + HEADER_BYTES + path.length);
  label.copy(template, 0);
  secretId.copy(template, label.length);
  template.set(context.nonce, label.length + secretId.length);
  template.writeUInt16BE(path.length, headerAt + 14);
  path.copy(template, headerAt + HEADER_BYTES);
  const prefix: ContextPrefix = {
    version,
    secretId: context.secretId,
    nonce: new Uint8Array(context.nonce),
    path: context.path,
    template,
    headerAt,
    nonceBase64: toBase64(context.nonce),
  };
  prefixes.set(context, prefix);
  return prefix;
}

/**
 * The AAD: label of the context's version ‖ secret ID (32) ‖ nonce (16) ‖ direction (1) ‖ sequence
 * (u32 BE) ‖ timestamp (u64 BE) ‖ final (1) ‖ path length (u16 BE) ‖ path ‖ SHA-256(JCS(plaintext
 * fields)) (32).
 */
export function recordAad(
  context: Pick<RecordContext, 'secretId' | 'nonce' | 'path' | 'version'>,
  header: RecordHeader,
  clear: Readonly<Record<string, unknown>>,
  clearJson?: string,
): Buffer {
  if (!Number.isSafeInteger(header.timestamp) || header.timestamp < 0)
    throw new RangeError('the timestamp is not a non-negative integer');
  const { template, headerAt } = contextPrefix(context);
  const aad = Buffer.allocUnsafe(template.length + DIGEST_BYTES);
  template.copy(aad, 0);
  let at = headerAt;
  at = aad.writeUInt8(DIRECTION_BYTE[header.direction], at);
  at = aad.writeUInt32BE(header.sequence, at);
  // u64 as two u32 halves: a timestamp is a safe integer, so no BigInt is needed.
  at = aad.writeUInt32BE(Math.floor(header.timestamp / 0x1_0000_0000), at);
  at = aad.writeUInt32BE(header.timestamp % 0x1_0000_0000, at);
  aad.writeUInt8(header.final ? 1 : 0, at);
  plaintextDigest(clear, clearJson).copy(aad, template.length);
  return aad;
}

/** Random bytes drawn in blocks: one system call per 4 KiB instead of one per IV. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/** `n` fresh random bytes (a copy: the pool is overwritten when refilled). */
export function freshRandom(n: number): Uint8Array {
  if (poolOffset + n > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = new Uint8Array(pool.subarray(poolOffset, poolOffset + n));
  poolOffset += n;
  return bytes;
}

/** A fresh request nonce. */
export function newNonce(): Uint8Array {
  return freshRandom(NONCE_BYTES);
}

/** The envelope of one record whose protected fields' JSON is `plaintext`. */
function sealEnvelope(
  context: RecordContext,
  header: RecordHeader,
  clear: Readonly<Record<string, unknown>>,
  clearJson: string,
  plaintext: string,
  iv: Uint8Array,
): Envelope {
  const cipher = createCipheriv('aes-256-gcm', context.secret, iv);
  cipher.setAAD(recordAad(context, header, clear, clearJson));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return {
    version: contextVersion(context),
    secretId: context.secretId,
    nonce: contextPrefix(context).nonceBase64,
    sequence: header.sequence,
    timestamp: header.timestamp,
    final: header.final,
    iv: toBase64(iv),
    ciphertext: ciphertext.toString('base64'),
  };
}

/** One sealed record: its plaintext fields (and their JSON) and its envelope. */
function seal(
  context: RecordContext,
  header: RecordHeader,
  body: Readonly<Record<string, unknown>>,
  iv: Uint8Array,
): { clear: Record<string, unknown>; clearJson: string; envelope: Envelope } {
  const { clear, protectedFields } = splitFields(body, plaintextFields(context.path, header.direction));
  const clearJson = JSON.stringify(clear);
  const envelope = sealEnvelope(context, header, clear, clearJson, JSON.stringify(protectedFields), iv);
  return { clear, clearJson, envelope };
}

/** The wire JSON of a body whose plaintext fields' JSON is `clearJson`: those fields, then `encryption`. */
function wireJson(clearJson: string, envelope: Envelope): string {
  const field = `"${ENVELOPE_FIELD}":${JSON.stringify(envelope)}}`;
  return clearJson === '{}' ? `{${field}` : `${clearJson.slice(0, -1)},${field}`;
}

/** Encrypts `body` into its wire form: the plaintext fields as they are, the others in `encryption`. */
export function sealBody(
  context: RecordContext,
  header: RecordHeader,
  body: Readonly<Record<string, unknown>>,
  iv: Uint8Array = freshRandom(IV_BYTES),
): Record<string, unknown> {
  const { clear, envelope } = seal(context, header, body, iv);
  return { ...clear, [ENVELOPE_FIELD]: envelope };
}

/**
 * sealBody's wire form as JSON text, equal to `JSON.stringify(sealBody(...))`: the plaintext
 * fields' JSON, made once for the AAD's digest, is reused instead of made again.
 */
export function sealBodyJson(
  context: RecordContext,
  header: RecordHeader,
  body: Readonly<Record<string, unknown>>,
  iv: Uint8Array = freshRandom(IV_BYTES),
): string {
  const { clearJson, envelope } = seal(context, header, body, iv);
  return wireJson(clearJson, envelope);
}

/** The field of a batched record's protected fields that lists its events. */
export const BATCH_FIELD = 'events';

/**
 * A batch of streamed events, split for sealing as one version 2 record: the plaintext fields
 * they share, and each event's protected fields as JSON. Events with other plaintext fields go
 * in another batch (streams.ts groups them).
 */
export interface EventBatch {
  clear: Record<string, unknown>;
  clearJson: string;
  /** The JSON of each event's protected fields, in order. */
  events: string[];
}

/**
 * Seals a batch as one version 2 record, straight to the wire JSON: the shared plaintext fields as
 * they are, and `{"events": [<each event's protected fields>, ...]}` encrypted.
 */
export function sealBatchJson(
  context: RecordContext,
  header: RecordHeader,
  batch: EventBatch,
  iv: Uint8Array = freshRandom(IV_BYTES),
): string {
  if (contextVersion(context) !== BATCHED_RECORD_VERSION)
    throw new Error(`a batch is a version ${BATCHED_RECORD_VERSION} record`);
  const plaintext = `{"${BATCH_FIELD}":[${batch.events.join(',')}]}`;
  return wireJson(batch.clearJson, sealEnvelope(context, header, batch.clear, batch.clearJson, plaintext, iv));
}

export interface ParsedEnvelope {
  version: RecordVersion;
  secretId: string;
  nonce: Uint8Array;
  sequence: number;
  timestamp: number;
  final: boolean;
  iv: Uint8Array;
  ciphertext: Uint8Array;
}

/** What a wire body holds: its plaintext fields and its envelope, read strictly. */
export interface WireBody {
  clear: Record<string, unknown>;
  envelope: ParsedEnvelope;
}

/** Refusal codes for each direction: the worker proxy refuses requests, the client proxy answers. */
const REFUSAL: Record<
  Direction,
  Record<'plain' | 'malformed' | 'version' | 'downgrade' | 'tampered', InferenceRefusal['code']>
> = {
  request: {
    plain: 'not_encrypted',
    malformed: 'malformed_encryption',
    version: 'unsupported_version',
    downgrade: 'downgrade',
    tampered: 'tampered',
  },
  response: {
    plain: 'response_downgrade',
    malformed: 'response_tampered',
    version: 'response_tampered',
    downgrade: 'response_downgrade',
    tampered: 'response_tampered',
  },
};

/**
 * Reads a wire body of `path` (before any key is looked up: the worker proxy finds the secret by
 * the envelope's secret ID). Refuses a body without an envelope, with a malformed one, or with any
 * field beside the envelope that is not a plaintext field (a protected field in plaintext).
 */
export function readWireBody(
  body: unknown,
  path: EncryptedPath,
  direction: Direction,
): WireBody | { refusal: InferenceRefusal } {
  const codes = REFUSAL[direction];
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { refusal: { code: codes.malformed, detail: 'The body is not a JSON object.' } };
  const record = body as Record<string, unknown>;
  const allowed = plaintextFields(path, direction);
  const exposed = Object.keys(record).filter((k) => k !== ENVELOPE_FIELD && !allowed.includes(k));
  if (!Object.hasOwn(record, ENVELOPE_FIELD))
    return {
      refusal: {
        code: codes.plain,
        detail: exposed.length > 0 ? `Plaintext fields: ${exposed.join(', ')}.` : 'It has no encryption field.',
      },
    };
  if (exposed.length > 0)
    return { refusal: { code: codes.downgrade, detail: `Plaintext fields: ${exposed.join(', ')}.` } };
  const envelope = parseEnvelope(record[ENVELOPE_FIELD]);
  if ('error' in envelope)
    return { refusal: { code: envelope.version ? codes.version : codes.malformed, detail: envelope.error } };
  const { [ENVELOPE_FIELD]: _, ...clear } = record;
  return { clear, envelope };
}

const ENVELOPE_KEYS = ['version', 'secretId', 'nonce', 'sequence', 'timestamp', 'final', 'iv', 'ciphertext'];

function parseEnvelope(value: unknown): ParsedEnvelope | { error: string; version?: boolean } {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { error: 'The encryption field is not an object.' };
  const e = value as Record<string, unknown>;
  if (!RECORD_VERSIONS.includes(e.version as RecordVersion))
    return { error: `Version ${String(e.version)}, not one of ${RECORD_VERSIONS.join(', ')}.`, version: true };
  const problems: string[] = [];
  const extra = Object.keys(e).filter((k) => !ENVELOPE_KEYS.includes(k));
  if (extra.length > 0) problems.push(`unknown fields ${extra.join(', ')}`);
  const secretId = base64Field(e.secretId, 'secretId', { exactly: SECRET_ID_BYTES });
  const nonce = base64Field(e.nonce, 'nonce', { exactly: NONCE_BYTES });
  const iv = base64Field(e.iv, 'iv', { exactly: IV_BYTES });
  const ciphertext = base64Field(e.ciphertext, 'ciphertext', { min: TAG_BYTES, max: MAX_CIPHERTEXT_BYTES });
  for (const field of [secretId, nonce, iv, ciphertext]) if ('error' in field) problems.push(field.error);
  if (!Number.isSafeInteger(e.sequence) || (e.sequence as number) < 0 || (e.sequence as number) > MAX_SEQUENCE)
    problems.push('sequence is not an integer from 0 to 2^32-1');
  if (!Number.isSafeInteger(e.timestamp) || (e.timestamp as number) < 0)
    problems.push('timestamp is not a non-negative integer of milliseconds');
  if (typeof e.final !== 'boolean') problems.push('final is not a boolean');
  if (problems.length > 0) return { error: `${problems.join('; ')}.` };
  return {
    version: e.version as RecordVersion,
    secretId: e.secretId as string,
    nonce: nonce as Uint8Array,
    sequence: e.sequence as number,
    timestamp: e.timestamp as number,
    final: e.final as boolean,
    iv: iv as Uint8Array,
    ciphertext: ciphertext as Uint8Array,
  };
}

/**
 * Decrypts a wire body read by readWireBody, as the record `expected` names (direction, sequence,
 * final) of the request `context` names: refuses another version (a downgrade or upgrade of the
 * request's), another secret ID or nonce, another position or finality, and anything the AEAD does
 * not authenticate. Returns the body with every field.
 */
export function openBody(
  context: RecordContext,
  wire: WireBody,
  expected: { direction: Direction; sequence: number; final?: boolean },
): { body: Record<string, unknown>; timestamp: number; final: boolean } | { refusal: InferenceRefusal } {
  const code = REFUSAL[expected.direction].tampered;
  const e = wire.envelope;
  const version = contextVersion(context);
  if (e.version !== version)
    return {
      refusal: {
        code,
        detail: `A version ${e.version} record arrived where version ${version} was due (the request's).`,
      },
    };
  if (e.secretId !== context.secretId) return { refusal: { code, detail: 'The record names another secret.' } };
  if (Buffer.compare(e.nonce, context.nonce) !== 0)
    return { refusal: { code, detail: 'The record belongs to another request.' } };
  if (e.sequence !== expected.sequence)
    return { refusal: { code, detail: `Record ${e.sequence} arrived where record ${expected.sequence} was due.` } };
  if (expected.final !== undefined && e.final !== expected.final)
    return {
      refusal: {
        code,
        detail: expected.final ? 'A whole message must be one final record.' : 'Unexpected final record.',
      },
    };
  const header: RecordHeader = {
    direction: expected.direction,
    sequence: expected.sequence,
    timestamp: e.timestamp,
    final: e.final,
  };
  let plaintext: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', context.secret, e.iv);
    decipher.setAAD(recordAad(context, header, wire.clear));
    decipher.setAuthTag(e.ciphertext.subarray(e.ciphertext.length - TAG_BYTES));
    plaintext = Buffer.concat([
      decipher.update(e.ciphertext.subarray(0, e.ciphertext.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return { refusal: { code, detail: 'The authentication tag does not verify.' } };
  }
  let protectedFields: unknown;
  try {
    protectedFields = JSON.parse(plaintext);
  } catch {
    return { refusal: { code, detail: 'The decrypted fields are not JSON.' } };
  }
  if (typeof protectedFields !== 'object' || protectedFields === null || Array.isArray(protectedFields))
    return { refusal: { code, detail: 'The decrypted fields are not a JSON object.' } };
  const overlap = Object.keys(protectedFields).filter((k) => Object.hasOwn(wire.clear, k));
  if (overlap.length > 0)
    return { refusal: { code, detail: `Fields both encrypted and in plaintext: ${overlap.join(', ')}.` } };
  return { body: { ...wire.clear, ...protectedFields }, timestamp: e.timestamp, final: e.final };
}

/** The client's side of one request: encrypt it, then decrypt its answer (whole or streamed). */
export function sealRequest(
  context: RecordContext,
  body: Readonly<Record<string, unknown>>,
  timestamp: number,
): Record<string, unknown> {
  return sealBody(context, { direction: 'request', sequence: 0, timestamp, final: true }, body);
}

/** The worker's side: a whole (not streamed) answer to the request of `context`. */
export function sealResponse(
  context: RecordContext,
  body: Readonly<Record<string, unknown>>,
  timestamp: number,
): Record<string, unknown> {
  return sealBody(context, { direction: 'response', sequence: 0, timestamp, final: true }, body);
}

/** Reads and decrypts a request (one final record). */
export function openRequest(
  context: RecordContext,
  body: unknown,
): { body: Record<string, unknown>; timestamp: number } | { refusal: InferenceRefusal } {
  const wire = readWireBody(body, context.path, 'request');
  if ('refusal' in wire) return wire;
  return openBody(context, wire, { direction: 'request', sequence: 0, final: true });
}

/** Reads and decrypts a whole answer (one final record). */
export function openResponse(
  context: RecordContext,
  body: unknown,
): { body: Record<string, unknown> } | { refusal: InferenceRefusal } {
  const wire = readWireBody(body, context.path, 'response');
  if ('refusal' in wire) return wire;
  return openBody(context, wire, { direction: 'response', sequence: 0, final: true });
}

/**
 * The context of a request read from the wire, once the worker found its secret by the envelope's
 * secret ID: in the request's version, so that the answer is in it too.
 */
export function requestContext(wire: WireBody, path: EncryptedPath, secret: Uint8Array): RecordContext {
  return { secret, secretId: wire.envelope.secretId, nonce: wire.envelope.nonce, path, version: wire.envelope.version };
}
