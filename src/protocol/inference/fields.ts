/**
 * Which fields of each inference endpoint travel in plaintext and which are encrypted. The rule is
 * an allowlist: a body keeps in plaintext only the fields named here (what routing and scheduling
 * need), and every other field, known today or added by a future API version, is encrypted. So a
 * new field is protected by default, and a receiver refuses a body that carries any other field
 * beside the encrypted ones (a downgrade). Pure.
 */

export const CHAT_COMPLETIONS_PATH = '/v1/chat/completions';
export const COMPLETIONS_PATH = '/v1/completions';
export const EMBEDDINGS_PATH = '/v1/embeddings';
/** Lists the models: nothing in it comes from a client, so it travels as it is. */
export const MODELS_PATH = '/v1/models';

export const ENCRYPTED_PATHS = [CHAT_COMPLETIONS_PATH, COMPLETIONS_PATH, EMBEDDINGS_PATH] as const;
export type EncryptedPath = (typeof ENCRYPTED_PATHS)[number];

/** The field of a wire body that holds the encrypted record. */
export const ENVELOPE_FIELD = 'encryption';

/**
 * Request fields that stay plaintext, per endpoint: the model (which workers), stream and its
 * options (how to answer), the token limits and n (how much work, for scheduling and quotas).
 */
export const REQUEST_PLAINTEXT: Readonly<Record<EncryptedPath, readonly string[]>> = {
  [CHAT_COMPLETIONS_PATH]: ['model', 'stream', 'stream_options', 'max_tokens', 'max_completion_tokens', 'n'],
  [COMPLETIONS_PATH]: ['model', 'stream', 'stream_options', 'max_tokens', 'n'],
  [EMBEDDINGS_PATH]: ['model'],
};

/**
 * Answer fields that stay plaintext, for every endpoint, for whole answers and for each streamed
 * chunk: what the model server makes up without reading the prompt (an ID, the object kind, a
 * time, the model). Choices, embeddings, usage, errors and everything else are encrypted.
 */
export const RESPONSE_PLAINTEXT: readonly string[] = ['id', 'object', 'created', 'model'];

export function isEncryptedPath(path: string): path is EncryptedPath {
  return (ENCRYPTED_PATHS as readonly string[]).includes(path);
}

export type Direction = 'request' | 'response';

export function plaintextFields(path: EncryptedPath, direction: Direction): readonly string[] {
  return direction === 'request' ? REQUEST_PLAINTEXT[path] : RESPONSE_PLAINTEXT;
}

/** A body split in two: the plaintext fields and the protected ones. */
export function splitFields(
  body: Readonly<Record<string, unknown>>,
  plaintext: readonly string[],
): { clear: Record<string, unknown>; protectedFields: Record<string, unknown> } {
  // Plain objects, not prototype-less ones: JSON.stringify of those (dictionary mode) costs about
  // twice as much, once per streamed event. A field named __proto__ is defined as data.
  const clear: Record<string, unknown> = {};
  const protectedFields: Record<string, unknown> = {};
  for (const name of Object.keys(body)) {
    const value = body[name];
    if (value === undefined) continue;
    const target = plaintext.includes(name) ? clear : protectedFields;
    if (name === '__proto__')
      Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
    else target[name] = value;
  }
  return { clear, protectedFields };
}
