/**
 * Streamed answers (server-sent events): the worker proxy encrypts each event's JSON as one record
 * (sequence 0, 1, ...), and in place of the model server's `data: [DONE]` sends one more record,
 * empty and marked final, and then `data: [DONE]` for intermediaries that wait for it. The client
 * trusts only the authenticated final record: a stream that ends without it, a plaintext `[DONE]`
 * before it, or any record after it is refused. Pure: SSE framing is the proxies' part; these
 * classes take and give the `data:` payloads.
 */
import type { InferenceRefusal } from './errors.ts';
import { openBody, type RecordContext, readWireBody, sealBodyJson } from './records.ts';

/** The `data:` payload that ends an OpenAI stream. */
export const DONE = '[DONE]';

/** The worker's side of one streamed answer. */
export class StreamSealer {
  readonly #context: RecordContext;
  #sequence = 0;
  #finished = false;

  constructor(context: RecordContext) {
    this.#context = context;
  }

  /** The wire payload (JSON) of one event's data. */
  event(chunk: Readonly<Record<string, unknown>>, timestamp: number): string {
    if (this.#finished) throw new Error('the stream is finished');
    return sealBodyJson(
      this.#context,
      { direction: 'response', sequence: this.#sequence++, timestamp, final: false },
      chunk,
    );
  }

  /** The wire payloads that end the stream: the final record, then `[DONE]`. */
  finish(timestamp: number): [string, string] {
    if (this.#finished) throw new Error('the stream is finished');
    this.#finished = true;
    const final = sealBodyJson(
      this.#context,
      { direction: 'response', sequence: this.#sequence++, timestamp, final: true },
      {},
    );
    return [final, DONE];
  }
}

export type StreamStep =
  /** One decrypted event. */
  | { event: Record<string, unknown> }
  /** The authenticated final record: the stream is complete, pass `[DONE]` on. */
  | { done: true }
  /** The `[DONE]` after the final record: nothing to pass on. */
  | { ignore: true }
  | { refusal: InferenceRefusal };

/** The client's side of one streamed answer: feed it each `data:` payload in order, then call end(). */
export class StreamOpener {
  readonly #context: RecordContext;
  #sequence = 0;
  #finished = false;
  #refused = false;

  constructor(context: RecordContext) {
    this.#context = context;
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
    const opened = openBody(this.#context, wire, { direction: 'response', sequence: this.#sequence });
    if ('refusal' in opened) return opened;
    this.#sequence++;
    if (!opened.final) return { event: opened.body };
    if (Object.keys(opened.body).some((k) => !Object.hasOwn(wire.clear, k)))
      return { refusal: { code: 'response_tampered', detail: 'The final record carries fields.' } };
    this.#finished = true;
    return { done: true };
  }

  /** At the end of the byte stream: a refusal unless the final record arrived. */
  end(): { refusal: InferenceRefusal } | undefined {
    if (this.#finished || this.#refused) return undefined;
    this.#refused = true;
    return { refusal: { code: 'stream_truncated', detail: `The stream ended after ${this.#sequence} records.` } };
  }
}
