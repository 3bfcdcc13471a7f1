/**
 * What the embedded model server answers, as pure functions of the request: no weights, no
 * randomness, so that tests can assert on answers. A reply repeats the last user message
 * (`You said: <text>`), split into tokens at word boundaries; an embedding is a unit vector drawn
 * from SHA-256 of the input. Token counts are word counts.
 */
import { createHash } from 'node:crypto';

export const DEFAULT_MODEL = 'attestor-echo';
export const DEFAULT_EMBEDDING_DIMENSIONS = 16;
export const MAX_EMBEDDING_DIMENSIONS = 4096;

/** The tokens of a text: words with the whitespace after them, so that they join back to the text. */
export function tokens(text: string): string[] {
  return text.match(/\s*\S+\s*/gu) ?? [];
}

export function countTokens(text: string): number {
  return tokens(text).length;
}

/** The text of a chat message's content: a string, or the text parts of a list of parts. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content
      .map((part) =>
        part && typeof part === 'object' && typeof (part as { text?: unknown }).text === 'string'
          ? (part as { text: string }).text
          : '',
      )
      .filter((t) => t.length > 0)
      .join(' ');
  return '';
}

/** The reply to a chat: the last user message, repeated. */
export function chatReply(messages: ReadonlyArray<{ role?: unknown; content?: unknown }>): string {
  const last = [...messages].reverse().find((m) => m.role === 'user');
  return `You said: ${last ? contentText(last.content) : ''}`;
}

/** The completion of a prompt: the prompt, repeated. */
export function completionReply(prompt: string): string {
  return `You said: ${prompt}`;
}

/** The reply of choice `index` of n: the first as it is, the others numbered, so that choices differ. */
export function choiceText(reply: string, index: number): string {
  return index === 0 ? reply : `${reply} (${index + 1})`;
}

/** A reply cut to at most `limit` tokens, and why it ended (OpenAI's finish_reason). */
export function limitTokens(
  reply: string,
  limit: number | undefined,
): { parts: string[]; finishReason: 'stop' | 'length' } {
  const parts = tokens(reply);
  if (limit !== undefined && parts.length > limit) return { parts: parts.slice(0, limit), finishReason: 'length' };
  return { parts, finishReason: 'stop' };
}

/** A deterministic unit vector for `text`: SHA-256 in counter mode, bytes mapped to [-1, 1]. */
export function embedding(text: string, dimensions: number): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block++) {
    const digest = createHash('sha256').update(`${block}\u0000${text}`, 'utf8').digest();
    for (const byte of digest) if (values.length < dimensions) values.push(byte / 127.5 - 1);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((v) => Math.fround(v / norm));
}

/** An embedding as OpenAI's base64 encoding: little-endian float32s. */
export function embeddingBase64(vector: readonly number[]): string {
  const buffer = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => {
    buffer.writeFloatLE(v, i * 4);
  });
  return buffer.toString('base64');
}

/** A stable ID for an answer: the kind and a hash of the request. */
export function answerId(prefix: string, request: unknown): string {
  return `${prefix}-${createHash('sha256').update(JSON.stringify(request)).digest('hex').slice(0, 24)}`;
}
