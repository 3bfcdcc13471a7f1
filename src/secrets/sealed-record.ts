/**
 * A secret as etcd stores it: AES-256-GCM under the storage key (which only the secret service's
 * memory holds, key-share.ts), a fresh 96-bit IV per record, and the etcd key it is stored under
 * as additional data, so that a record moved to another secret's key does not open. The plaintext
 * holds the secret, the mesh CA (PEM) under which it was exchanged, its SHA-256, and when it
 * expires; etcd sees only `version ‖ IV ‖ ciphertext ‖ tag`. Pure but for the IV.
 */
import { createHash, webcrypto, X509Certificate } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;

const RECORD_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD_LABEL = 'attestor secret record v1\n';

export interface SecretRecord {
  secret: Uint8Array;
  /** The mesh CA (PEM) under which the client exchanged the secret. */
  meshCa: string;
  expiresAt: Date;
}

/** Hex SHA-256 of a PEM certificate's DER: how logs and the record name a mesh CA. */
export function meshCaSha256(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

export async function sealRecord(
  storageKey: CryptoKey,
  etcdKey: string,
  record: SecretRecord,
  iv = webcrypto.getRandomValues(new Uint8Array(IV_BYTES)),
): Promise<Uint8Array> {
  const plaintext = Buffer.from(
    JSON.stringify({
      secret: Buffer.from(record.secret).toString('base64'),
      meshCa: record.meshCa,
      meshCaSha256: meshCaSha256(record.meshCa),
      expiresAt: record.expiresAt.toISOString(),
    }),
  );
  const sealed = new Uint8Array(
    await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad(etcdKey) }, storageKey, plaintext),
  );
  plaintext.fill(0);
  return Buffer.concat([Buffer.from([RECORD_VERSION]), iv, sealed]);
}

/** The record, or undefined when it does not open under this key for this etcd key (another key, a moved or changed value). */
export async function openRecord(
  storageKey: CryptoKey,
  etcdKey: string,
  value: Uint8Array,
): Promise<SecretRecord | undefined> {
  if (value.length < 1 + IV_BYTES + TAG_BYTES || value[0] !== RECORD_VERSION) return undefined;
  let plaintext: Buffer;
  try {
    plaintext = Buffer.from(
      await webcrypto.subtle.decrypt(
        { name: 'AES-GCM', iv: value.subarray(1, 1 + IV_BYTES), additionalData: aad(etcdKey) },
        storageKey,
        value.subarray(1 + IV_BYTES),
      ),
    );
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(plaintext.toString('utf8')) as { secret: string; meshCa: string; expiresAt: string };
    return {
      secret: new Uint8Array(Buffer.from(parsed.secret, 'base64')),
      meshCa: parsed.meshCa,
      expiresAt: new Date(parsed.expiresAt),
    };
  } finally {
    plaintext.fill(0);
  }
}

/**
 * A fresh storage key: AES-256-GCM. It is extractable only so that WebCrypto `wrapKey` can hand
 * it to another certified replica (key-share.ts); nothing in src/ calls `exportKey` on it, and it
 * lives in the secret service's memory only (docs/pending/keyshare.md).
 */
export async function newStorageKey(): Promise<CryptoKey> {
  return webcrypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
}

function aad(etcdKey: string): Uint8Array {
  return Buffer.from(`${AAD_LABEL}${etcdKey}`);
}
