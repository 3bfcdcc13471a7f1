/**
 * Streamed answers (server-sent events), in the request's record version:
 * - version 1: the worker proxy encrypts each event's JSON as one record (sequence 0, 1, ...), and in
 *   place of the model server's `data: [DONE]` sends one more record, empty and marked final;
 * - version 2: it encrypts the events that arrived together (one read from the model server) as
 *   one record whose protected fields are `{"events": [...]}`, bounded in count and bytes, and the
 *   record that answers the model server's `data: [DONE]` is final and carries the events that
 *   came with it (possibly none).
 * Either way `data: [DONE]` follows the final record for intermediaries that wait for it. The
 * client trusts only the authenticated final record: a stream that ends without it, a plaintext
 * `[DONE]` before it, or any record after it is refused. Pure: SSE framing is the proxies' part;
 * these classes take and give the `data:` payloads.
 */
import type { InferenceRefusal } from './errors.ts';
import { type EncryptedPath, plaintextFields, splitFields } from './fields.ts';
import {
  BATCH_FIELD,
  BATCHED_RECORD_VERSION,
  contextVersion,
  type EventBatch,
  openBody,
  type RecordContext,
  type RecordHeader,
  readWireBody,
  sealBatchJson,
  sealBodyJson,
} from './records.ts';

/** The `data:` payload that ends an OpenAI stream. */
export const DONE = '[DONE]';
/** The most events a version 2 record carries. */
export const MAX_BATCH_EVENTS = 256;
/** The most bytes of protected JSON a version 2 record carries (an event over it goes alone). */
export const MAX_BATCH_BYTES = 64 * 1024;

/** The worker's side of one streamed answer. */
export class StreamSealer {
  readonly #context: RecordContext;
  readonly #batched: boolean;
  #sequence = 0;
  #finished = false;

  constructor(context: RecordContext) {
    this.#context = context;
    this.#batched = contextVersion(context) === BATCHED_RECORD_VERSION;
  }

  /** The wire payload (JSON) of one event's data, as a record of its own (version 1 only). */
  event(chunk: Readonly<Record<string, unknown>>, timestamp: number): string {
    if (this.#finished) throw new Error('the stream is finished');
    if (this.#batched) return this.events([chunk], timestamp)[0]!;
    return sealBodyJson(this.#context, this.#header(timestamp, false), chunk);
  }

  /**
   * The wire payloads of events that arrived together: one record each in version 1; in version 2
   * as few records as the bounds allow (a new one where the plaintext fields change).
   */
  events(chunks: ReadonlyArray<Readonly<Record<string, unknown>>>, timestamp: number): string[] {
    if (this.#finished) throw new Error('the stream is finished');
    if (!this.#batched) return chunks.map((chunk) => this.event(chunk, timestamp));
    return this.#batches(chunks).map((batch) => sealBatchJson(this.#context, this.#header(timestamp, false), batch));
  }

  /**
   * The wire payloads that end the stream, given the events that arrived with the model server's
   * `[DONE]`: in version 1 their records and an empty final record; in version 2 the final record
   * carries the last batch of them. Then `[DONE]`.
   */
  finish(timestamp: number, chunks: ReadonlyArray<Readonly<Record<string, unknown>>> = []): string[] {
    if (this.#finished) throw new Error('the stream is finished');
    let payloads: string[];
    if (!this.#batched) {
      payloads = this.events(chunks, timestamp);
      payloads.push(sealBodyJson(this.#context, this.#header(timestamp, true), {}));
    } else {
      const batches = this.#batches(chunks);
      const last = batches.pop() ?? { clear: {}, clearJson: '{}', events: [] };
      payloads = batches.map((batch) => sealBatchJson(this.#context, this.#header(timestamp, false), batch));
      payloads.push(sealBatchJson(this.#context, this.#header(timestamp, true), last));
    }
    this.#finished = true;
    payloads.push(DONE);
    return payloads;
  }

  #header(timestamp: number, final: boolean): RecordHeader {
    return { direction: 'response', sequence: this.#sequence++, timestamp, final };
  }

  #batches(chunks: ReadonlyArray<Readonly<Record<string, unknown>>>): EventBatch[] {
    return eventBatches(this.#context.path, chunks);
  }
}

/**
 * Streamed events split into version 2 batches: consecutive events with the same plaintext fields,
 * at most MAX_BATCH_EVENTS of them and MAX_BATCH_BYTES of protected JSON (an event over it alone).
 */
export function eventBatches(
  path: EncryptedPath,
  chunks: ReadonlyArray<Readonly<Record<string, unknown>>>,
): EventBatch[] {
  const plaintext = plaintextFields(path, 'response');
  const batches: EventBatch[] = [];
  let current: (EventBatch & { bytes: number }) | undefined;
  for (const chunk of chunks) {
    const { clear, protectedFields } = splitFields(chunk, plaintext);
    // A stream's events share their plaintext fields: compare them before writing their JSON again.
    const clearJson =
      current !== undefined && samePrimitives(current.clear, clear) ? current.clearJson : JSON.stringify(clear);
    const json = JSON.stringify(protectedFields);
    if (
      current === undefined ||
      current.clearJson !== clearJson ||
      current.events.length >= MAX_BATCH_EVENTS ||
      current.bytes + json.length > MAX_BATCH_BYTES
    ) {
      current = { clear, clearJson, events: [], bytes: 0 };
      batches.push(current);
    }
    current.events.push(json);
    current.bytes += json.length + 1;
  }
  return batches.map(({ clear, clearJson, events }) => ({ clear, clearJson, events }));
}

/** Whether two sets of plaintext fields hold the same names with the same primitive values. */
function samePrimitives(a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean {
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return false;
  for (const name of names) {
    const value = a[name];
    if (!Object.hasOwn(b, name) || b[name] !== value || (typeof value === 'object' && value !== null)) return false;
  }
  return true;
}

export type StreamStep =
  /** Decrypted events, in order (one per record in version 1, a batch in version 2). */
  | { events: Record<string, unknown>[] }
  /**
   * The authenticated final record, with the events it carries (version 2; none in version 1): the
   * stream is complete, pass `[DONE]` on after them.
   */
  | { events: Record<string, unknown>[]; done: true }
  /** The `[DONE]` after the final record: nothing to pass on. */
  | { ignore: true }
  | { refusal: InferenceRefusal };

/** The client's side of one streamed answer: feed it each `data:` payload in order, then call end(). */
export class StreamOpener {
  readonly #context: RecordContext;
  readonly #batched: boolean;
  #sequence = 0;
  #finished = false;
  #refused = false;

  constructor(context: RecordContext) {
    this.#context = context;
    this.#batched = contextVersion(context) === BATCHED_RECORD_VERSION;
  }

  get finished(): boolean {
    return this.#finished;
  }

  next(data: string): StreamStep {
    if (this.#refused) return { refusal: { code: 'response_tampered', detail: 'The stream was already refused.' } };
    const step = this.#next(data);
    if ('refusal' in step) this.#refused = true;
    return step;
  }

  #next(data: string): StreamStep {
    if (data.trim() === DONE) {
      if (this.#finished) return { ignore: true };
      return {
        refusal: {
          code: 'stream_truncated',
          detail: 'A plaintext [DONE] arrived before the authenticated final record.',
        },
      };
    }
    if (this.#finished)
      return { refusal: { code: 'response_tampered', detail: 'A record arrived after the final record.' } };
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return { refusal: { code: 'response_tampered', detail: 'An event is not JSON.' } };
    }
    const wire = readWireBody(parsed, this.#context.path, 'response');
    if ('refusal' in wire) return wire;
    // openBody refuses a record in another version than the request's (a downgrade).
    const opened = openBody(this.#context, wire, { direction: 'response', sequence: this.#sequence });
    if ('refusal' in opened) return opened;
    this.#sequence++;
    if (this.#batched) {
      const events = batchEvents(wire.clear, protectedOf(wire.clear, opened.body));
      if ('refusal' in events) return events;
      if (!opened.final) {
        if (events.length === 0)
          return { refusal: { code: 'response_tampered', detail: 'A record that is not final carries no events.' } };
        return { events };
      }
      this.#finished = true;
      return { events, done: true };
    }
    if (!opened.final) return { events: [opened.body] };
    if (Object.keys(protectedOf(wire.clear, opened.body)).length > 0)
      return { refusal: { code: 'response_tampered', detail: 'The final record carries fields.' } };
    this.#finished = true;
    return { events: [], done: true };
  }

  /** At the end of the byte stream: a refusal unless the final record arrived. */
  end(): { refusal: InferenceRefusal } | undefined {
    if (this.#finished || this.#refused) return undefined;
    this.#refused = true;
    return { refusal: { code: 'stream_truncated', detail: `The stream ended after ${this.#sequence} records.` } };
  }
}

/** The decrypted fields of an opened body (openBody refuses one that repeats a plaintext field). */
function protectedOf(
  clear: Readonly<Record<string, unknown>>,
  body: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const fields: Record<string, unknown> = Object.create(null);
  for (const [name, value] of Object.entries(body)) if (!Object.hasOwn(clear, name)) fields[name] = value;
  return fields;
}

/**
 * The events of a version 2 record: its decrypted fields must be exactly `events`, a list of
 * objects, none repeating a plaintext field; each event is the record's plaintext fields and its own.
 */
function batchEvents(
  clear: Readonly<Record<string, unknown>>,
  fields: Readonly<Record<string, unknown>>,
): Record<string, unknown>[] | { refusal: InferenceRefusal } {
  const refuse = (detail: string) => ({ refusal: { code: 'response_tampered' as const, detail } });
  const names = Object.keys(fields);
  if (names.length !== 1 || names[0] !== BATCH_FIELD) return refuse(`A batched record holds only "${BATCH_FIELD}".`);
  const list = fields[BATCH_FIELD];
  if (!Array.isArray(list)) return refuse(`"${BATCH_FIELD}" is not a list.`);
  const events: Record<string, unknown>[] = [];
  for (const item of list) {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      return refuse('An event of the batch is not a JSON object.');
    if (Object.keys(item).some((k) => Object.hasOwn(clear, k)))
      return refuse('An event of the batch repeats a plaintext field.');
    events.push({ ...clear, ...(item as Record<string, unknown>) });
  }
  return events;
}
