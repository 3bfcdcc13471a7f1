/**
 * Release of inference secrets to certified workers (docs/protocol.md, "Secret release"): the
 * worker proxy asks the secret service for a secret by its ID over mutual TLS with its workload
 * certificate, or watches for new ones as server-sent events. The service answers only a worker
 * whose certificate is valid now, names the `worker` role, and chains to the mesh CA under which
 * the client exchanged that secret. Paths and wire types; pure.
 */
import { base64Field } from './base64.ts';

/** `GET /v1/secrets/{id}`, the ID in URL-safe base64 without padding (RFC 4648 §5). */
export const SECRET_RELEASE_PATH_PREFIX = '/v1/secrets/';
/** `GET /v1/secrets?watch=1`: a server-sent event `secret` per new secret this worker may have. */
export const SECRET_WATCH_PATH = '/v1/secrets?watch=1';
/** The role a certificate must name to be given secrets. */
export const SECRET_RELEASE_ROLE = 'worker';
/** The SSE event name of a released secret; `ready` says that the watch is established. */
export const SECRET_WATCH_EVENT = 'secret';
export const SECRET_WATCH_READY_EVENT = 'ready';

/** The answer to `GET /v1/secrets/{id}`, and the data of each watch event. */
export interface SecretRelease {
  /** The secret ID as the key exchange names it: standard base64 of SHA-256(client public key). */
  id: string;
  /** Base64 of the 32-byte inference secret. */
  secret: string;
  /** When the service forgets it (RFC 3339). */
  expiresAt: string;
}

export interface ParsedSecretRelease {
  id: string;
  secret: Uint8Array;
  expiresAt: Date;
}

/** The URL path of one secret. */
export function secretReleasePath(secretId: string): string {
  return `${SECRET_RELEASE_PATH_PREFIX}${urlSafeSecretId(secretId)}`;
}

/** Standard base64 (the key exchange's form) to URL-safe base64 without padding. */
export function urlSafeSecretId(secretId: string): string {
  return secretId.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** The secret ID (standard base64 of 32 bytes) of a path segment; undefined for anything but 43 URL-safe characters naming 32 bytes. */
export function secretIdOfPathSegment(segment: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{43}$/.test(segment)) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.length !== 32 || bytes.toString('base64url') !== segment) return undefined;
  return bytes.toString('base64');
}

/** A release body read strictly: the three fields, of their sizes, and nothing else. */
export function parseSecretRelease(body: unknown): ParsedSecretRelease | { errors: string[] } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { errors: ['the answer is not a JSON object'] };
  const record = body as Record<string, unknown>;
  const errors: string[] = [];
  const extra = Object.keys(record).filter((k) => !['id', 'secret', 'expiresAt'].includes(k));
  if (extra.length > 0) errors.push(`unknown fields: ${extra.join(', ')}`);
  const id = base64Field(record.id, 'id', { exactly: 32 });
  if ('error' in id) errors.push(id.error);
  const secret = base64Field(record.secret, 'secret', { exactly: 32 });
  if ('error' in secret) errors.push(secret.error);
  const expiresAt = typeof record.expiresAt === 'string' ? new Date(record.expiresAt) : undefined;
  if (expiresAt === undefined || Number.isNaN(expiresAt.getTime())) errors.push('expiresAt is not an RFC 3339 time');
  if (errors.length > 0) return { errors };
  return { id: record.id as string, secret: secret as Uint8Array, expiresAt: expiresAt as Date };
}
