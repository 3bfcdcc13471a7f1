/**
 * The client's inference session (`attestor/client`, and what `attestor proxy` runs): given the
 * mesh CA that verifying the Coordinator attested, the pinned Manifest, the secret service's
 * exchange and the workers' endpoint, it agrees a secret with the secret service
 * (acceptKeyExchange: the service's certificate must chain to that mesh CA with a secret-service
 * policy of the pinned Manifest), renews it before it expires, and sends each request as a record
 * to a worker proxy whose certificate chains to the same mesh CA with the worker role of a pinned
 * policy, then decrypts the answer or the stream. It exchanges again once when the worker does not
 * know the secret, and, given `reverify`, verifies the Coordinator again when an exchange fails. Refusals are values (the error table's codes); nothing is sent to a worker that
 * is not certified, and nothing of an answer is passed on unless it decrypted.
 */

import type { IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import type { WorkloadRole } from '../api/manifest-roles.ts';
import { INFERENCE_ERRORS, type InferenceRefusal, inferenceErrorCode } from '../protocol/inference/errors.ts';
import { type EncryptedPath, isEncryptedPath, MODELS_PATH } from '../protocol/inference/fields.ts';
import {
  acceptKeyExchange,
  type KeyExchangeRequest,
  keyExchangeRequest,
  newClientKeyPair,
} from '../protocol/inference/key-exchange.ts';
import {
  BATCHED_RECORD_VERSION,
  newNonce,
  openResponse,
  RECORD_VERSIONS,
  type RecordContext,
  type RecordVersion,
  sealBodyJson,
} from '../protocol/inference/records.ts';
import { SseReader } from '../protocol/inference/sse.ts';
import { StreamOpener } from '../protocol/inference/streams.ts';
import { workerCertificateProblems } from './worker-identity.ts';

/** Renew the secret this long before the secret service forgets it. */
export const DEFAULT_RENEW_BEFORE_MS = 15 * 60_000;
/** The largest answer read into memory (a whole answer; streams are read event by event). */
export const ANSWER_LIMIT_BYTES = 64 * 1024 * 1024;

/** POSTs a key-exchange request to the secret service and gives back its JSON answer. */
export type SecretExchange = (request: KeyExchangeRequest) => Promise<unknown>;

export interface InferenceSessionOptions {
  /** PEM: the mesh CA that verifyCoordinator attested. */
  meshCA: string;
  /** The pinned Manifest (its policies name the secret-service and worker policies). */
  manifest: { policies: ReadonlyArray<{ hash: string; role?: WorkloadRole }> };
  exchange: SecretExchange;
  /** The workers' endpoint: https://host:port of a worker proxy (or a load balancer in front of them). */
  endpoint: string;
  renewBeforeMs?: number;
  /**
   * Verifies the Coordinator again (verifyCoordinator with the same pinned hash) after an exchange
   * failed: its mesh CA and Manifest replace the session's, and the exchange is tried once more;
   * undefined when it does not verify (`coordinator_unverified`).
   */
  reverify?: () => Promise<Trust | undefined>;
  /**
   * The record version requests are sent in, and so the one answers must come in (default 2,
   * batched streams; 1 only for workers that do not speak 2 yet).
   */
  recordVersion?: RecordVersion;
  /** The clock, ms (tests). */
  now?: () => number;
}

/** What verifying the Coordinator gave the session: the attested mesh CA and the pinned Manifest. */
export interface Trust {
  meshCA: string;
  manifest: { policies: ReadonlyArray<{ hash: string; role?: WorkloadRole }> };
}

/** One item of a decrypted stream: an event, or the refusal that ends it. */
export type StreamItem = { event: Record<string, unknown> } | { refusal: InferenceRefusal };

export type SessionAnswer =
  /** A decrypted answer, or a worker proxy's own refusal (plaintext: it carries nothing of the model). */
  | { status: number; body: unknown }
  /** A decrypted stream: it completes only after the authenticated final record. */
  | { status: number; events: AsyncIterable<StreamItem> }
  | { refusal: InferenceRefusal };

interface Secret {
  secret: Uint8Array;
  secretId: string;
  expiresAt: number;
}

/** The codes a worker proxy answers in plaintext; any other plaintext answer is a downgrade. */
const WORKER_CODES = new Set(
  Object.entries(INFERENCE_ERRORS)
    .filter(([, e]) => e.from === 'worker-proxy')
    .map(([code]) => code),
);

/** OpenSSL's verdicts on a chain: the worker is not certified by the mesh CA. */
const CHAIN_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
]);

class WorkerIdentityError extends Error {}

export class InferenceSession {
  readonly #options: InferenceSessionOptions;
  #trust: Trust;
  #agent: Agent;
  readonly #endpoint: URL;
  readonly #now: () => number;
  #secret: Secret | undefined;
  #pending: Promise<Secret | { refusal: InferenceRefusal }> | undefined;
  #exchanges = 0;

  constructor(options: InferenceSessionOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#endpoint = new URL(options.endpoint);
    if (this.#endpoint.protocol !== 'https:')
      throw new Error(`the workers' endpoint must be https, not ${options.endpoint}`);
    if (options.recordVersion !== undefined && !RECORD_VERSIONS.includes(options.recordVersion))
      throw new Error(`record version ${String(options.recordVersion)} is not one of ${RECORD_VERSIONS.join(', ')}`);
    this.#trust = { meshCA: options.meshCA, manifest: options.manifest };
    this.#agent = workerAgent(this.#trust);
  }

  /** How many key exchanges this session made. */
  get exchanges(): number {
    return this.#exchanges;
  }

  /** Sends a request to an encrypted endpoint, or a GET of /v1/models, and gives back its answer. */
  async send(method: string, path: string, body?: unknown): Promise<SessionAnswer> {
    if (method === 'GET' && (path === MODELS_PATH || path.startsWith(`${MODELS_PATH}/`))) return this.#models(path);
    if (method !== 'POST' || !isEncryptedPath(path))
      return { refusal: { code: 'endpoint_not_allowed', detail: `${method} ${path}.` } };
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      return { refusal: { code: 'malformed_encryption', detail: 'The request body is not a JSON object.' } };
    const first = await this.#sendOnce(path, body as Record<string, unknown>);
    if (!('unknownSecret' in first)) return first;
    // The worker does not know the secret (expired, or the store lost it): one new exchange, one more try.
    this.#secret = undefined;
    const second = await this.#sendOnce(path, body as Record<string, unknown>);
    return 'unknownSecret' in second ? { status: second.status, body: second.body } : second;
  }

  close(): void {
    this.#agent.destroy();
  }

  async #sendOnce(
    path: EncryptedPath,
    body: Record<string, unknown>,
  ): Promise<SessionAnswer | { unknownSecret: true; status: number; body: unknown }> {
    const secret = await this.#currentSecret();
    if ('refusal' in secret) return secret;
    // The worker answers in the request's version (2: a stream as batches of events); another is refused.
    const context: RecordContext = {
      secret: secret.secret,
      secretId: secret.secretId,
      nonce: newNonce(),
      path,
      version: this.#options.recordVersion ?? BATCHED_RECORD_VERSION,
    };
    const wire = sealBodyJson(
      context,
      { direction: 'request', sequence: 0, timestamp: this.#now(), final: true },
      body,
    );
    const answer = await this.#request('POST', path, wire);
    if ('refusal' in answer) return answer;
    const status = answer.statusCode ?? 502;
    if ((answer.headers['content-type'] ?? '').startsWith('text/event-stream'))
      return { status, events: this.#stream(context, answer) };
    const text = await readText(answer, ANSWER_LIMIT_BYTES).catch(() => null);
    if (text === null) return { refusal: { code: 'worker_unavailable', detail: 'The answer broke off.' } };
    if (text === undefined) return { refusal: { code: 'response_tampered', detail: 'The answer is too large.' } };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { refusal: { code: 'response_tampered', detail: 'The answer is not JSON.' } };
    }
    const plainCode = status >= 400 ? inferenceErrorCode(parsed) : undefined;
    if (plainCode !== undefined && WORKER_CODES.has(plainCode) && !hasEnvelope(parsed)) {
      if (plainCode === 'unknown_secret') return { unknownSecret: true, status, body: parsed };
      return { status, body: parsed };
    }
    const opened = openResponse(context, parsed);
    if ('refusal' in opened) return opened;
    return { status, body: opened.body };
  }

  async *#stream(context: RecordContext, answer: IncomingMessage): AsyncGenerator<StreamItem> {
    const opener = new StreamOpener(context);
    const reader = new SseReader();
    answer.setEncoding('utf8');
    try {
      for await (const text of answer as AsyncIterable<string>) {
        for (const data of reader.push(text)) {
          const step = opener.next(data);
          if ('refusal' in step) {
            yield step;
            return;
          }
          if ('events' in step) for (const event of step.events) yield { event };
        }
      }
    } catch {
      // The connection broke: the opener below says the stream is truncated.
    } finally {
      answer.destroy();
    }
    reader.end();
    const ended = opener.end();
    if (ended) yield ended;
  }

  async #models(path: string): Promise<SessionAnswer> {
    const answer = await this.#request('GET', path);
    if ('refusal' in answer) return answer;
    const text = await readText(answer, ANSWER_LIMIT_BYTES).catch(() => undefined);
    if (text === undefined)
      return { refusal: { code: 'worker_unavailable', detail: 'The answer broke off or is too large.' } };
    try {
      return { status: answer.statusCode ?? 502, body: JSON.parse(text) };
    } catch {
      return { refusal: { code: 'worker_unavailable', detail: 'The answer is not JSON.' } };
    }
  }

  #currentSecret(): Promise<Secret | { refusal: InferenceRefusal }> {
    const held = this.#secret;
    const renewBefore = this.#options.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS;
    if (held && this.#now() < held.expiresAt - renewBefore) return Promise.resolve(held);
    // Concurrent requests share one exchange.
    this.#pending ??= this.#exchangeOrReverify().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** An exchange; when it fails and the session can, the Coordinator verified again and one more exchange. */
  async #exchangeOrReverify(): Promise<Secret | { refusal: InferenceRefusal }> {
    const first = await this.#exchange();
    if (!('refusal' in first) || this.#options.reverify === undefined) return first;
    let trust: Trust | undefined;
    try {
      trust = await this.#options.reverify();
    } catch (err) {
      return { refusal: { code: 'coordinator_unverified', detail: (err as Error).message } };
    }
    if (trust === undefined) return { refusal: { code: 'coordinator_unverified' } };
    if (trust.meshCA !== this.#trust.meshCA || trust.manifest !== this.#trust.manifest) {
      this.#agent.destroy();
      this.#trust = trust;
      this.#agent = workerAgent(trust);
    }
    return this.#exchange();
  }

  async #exchange(): Promise<Secret | { refusal: InferenceRefusal }> {
    const pair = await newClientKeyPair();
    let response: unknown;
    try {
      response = await this.#options.exchange(keyExchangeRequest(pair));
    } catch (err) {
      return { refusal: { code: 'exchange_failed', detail: (err as Error).message } };
    }
    const result = await acceptKeyExchange({
      pair,
      response,
      meshCA: this.#trust.meshCA,
      policies: this.#trust.manifest.policies,
      at: new Date(this.#now()),
    });
    if (!result.accepted)
      return {
        refusal: { code: 'exchange_failed', detail: result.reasons.map((r) => `${r.check}: ${r.message}`).join('; ') },
      };
    this.#exchanges++;
    this.#secret = { secret: result.secret, secretId: result.secretId, expiresAt: result.expiresAt.getTime() };
    return this.#secret;
  }

  #request(method: string, path: string, payload?: string): Promise<IncomingMessage | { refusal: InferenceRefusal }> {
    return new Promise((resolve) => {
      const call = httpsRequest(
        new URL(path, this.#endpoint),
        {
          method,
          agent: this.#agent,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        resolve,
      );
      call.on('error', (err: NodeJS.ErrnoException) => {
        if (err instanceof WorkerIdentityError || CHAIN_ERRORS.has(err.code ?? ''))
          resolve({ refusal: { code: 'worker_unverified', detail: `${err.message}.` } });
        else
          resolve({
            refusal: { code: 'worker_unavailable', detail: `${this.#endpoint.origin}: ${err.code ?? err.message}.` },
          });
      });
      call.end(payload);
    });
  }
}

/** Connections to workers: the attested mesh CA is the only trust anchor, the identity check replaces the host name's. */
function workerAgent(trust: Trust): Agent {
  return new Agent({
    keepAlive: true,
    // The mesh CA is an intermediate under the root CA: it anchors alone.
    ca: trust.meshCA,
    allowPartialTrustChain: true,
    checkServerIdentity: (_host, certificate) => {
      const problems = workerCertificateProblems(certificate.raw, trust.manifest.policies);
      return problems.length > 0 ? new WorkerIdentityError(problems.join('; ')) : undefined;
    },
  });
}

function hasEnvelope(body: unknown): boolean {
  return typeof body === 'object' && body !== null && Object.hasOwn(body, 'encryption');
}

/** The body as text; undefined over `limit` bytes. */
async function readText(stream: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
