/**
 * The worker proxy (`attestor worker-proxy`): the sidecar in front of an AI worker's model server.
 * It serves TLS with the pod's workload certificate and, for each request to an encrypted endpoint,
 * reads the record, looks its secret up by the envelope's secret ID, decrypts it, checks the
 * replay window, and only then forwards the plaintext to the model server on localhost. It seals
 * the answer as one record in the request's record version, or a stream with the authenticated
 * final record at the end: event by event (version 1), or the events of each read from the model
 * server together (version 2; docs/protocol.md). `/v1/models` passes through; every other endpoint is refused. Every
 * refusal is the error table's OpenAI-style body, and the model server never sees a refused
 * request. Nothing of a request or an answer is logged.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, request as httpRequest, type IncomingMessage as UpstreamMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { toBase64 } from '../protocol/inference/base64.ts';
import { type InferenceRefusal, inferenceErrorResponse } from '../protocol/inference/errors.ts';
import { type EncryptedPath, isEncryptedPath, MODELS_PATH } from '../protocol/inference/fields.ts';
import {
  MAX_CIPHERTEXT_BYTES,
  openBody,
  readWireBody,
  requestContext,
  sealBodyJson,
} from '../protocol/inference/records.ts';
import { ReplayWindow } from '../protocol/inference/replay-window.ts';
import { SseReader, sseEvent } from '../protocol/inference/sse.ts';
import { DONE, StreamSealer } from '../protocol/inference/streams.ts';
import { readServingCertificate, watchServingCertificate } from './serving-certificate.ts';

export const DEFAULT_UPSTREAM = 'http://127.0.0.1:8000';
/** The health path of the kubelet's probes (served before any other rule). */
export const HEALTH_PATH = '/healthz';
/** A record's ciphertext in base64, with room for the plaintext fields and the envelope. */
export const DEFAULT_BODY_LIMIT_BYTES = Math.ceil((MAX_CIPHERTEXT_BYTES * 4) / 3) + 64 * 1024;
/** The largest answer of the model server the proxy seals (whole answers are read into memory). */
export const UPSTREAM_ANSWER_LIMIT_BYTES = 64 * 1024 * 1024;

/** The secret lookup: the secret service's release client satisfies it. */
export interface SecretLookup {
  get(id: string): Promise<{ secret: Uint8Array; expiresAt: Date } | undefined>;
}

export interface WorkerProxyOptions {
  /** Default 0.0.0.0. */
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** The `attestor init` volume: cert.pem and key.pem. */
  certificateDir: string;
  /** The model server's base URL (no /v1), plain HTTP on localhost; default http://127.0.0.1:8000. */
  upstream?: string;
  secrets: SecretLookup;
  bodyLimitBytes?: number;
  /** The replica's replay window (default: 5 minutes of skew, 100,000 entries). */
  replayWindow?: ReplayWindow;
  /** The clock, ms (tests). */
  now?: () => number;
  /** Operational events (no request content, no secret). */
  log?: (level: 'info' | 'warn', message: string) => void;
}

export interface WorkerProxy {
  /** https://host:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

class Refused extends Error {
  readonly refusal: InferenceRefusal;
  constructor(refusal: InferenceRefusal) {
    super(refusal.code);
    this.refusal = refusal;
  }
}

export async function startWorkerProxy(options: WorkerProxyOptions): Promise<WorkerProxy> {
  const pair = await readServingCertificate(options.certificateDir);
  if ('error' in pair) throw new Error(pair.error);
  const upstream = new URL(options.upstream ?? DEFAULT_UPSTREAM);
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const replay = options.replayWindow ?? new ReplayWindow();
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const agent = new Agent({ keepAlive: true });

  const server: Server = createServer({ cert: pair.cert, key: pair.key }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const refusal = err instanceof Refused ? err.refusal : ({ code: 'upstream_unavailable' } as const);
      if (!(err instanceof Refused)) log('warn', `request failed: ${(err as Error).message}`);
      if (res.headersSent) res.destroy();
      else sendRefusal(res, refusal);
    });
  });
  const watcher = watchServingCertificate(
    options.certificateDir,
    pair,
    (next) => {
      server.setSecureContext({ cert: next.cert, key: next.key });
      log('info', `serving the renewed workload certificate, valid until ${next.notAfter.toISOString()}`);
    },
    (error) => log('warn', error),
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'https://worker').pathname;
    // The kubelet's probes: the proxy serves TLS with its certificate (no secret, no upstream call).
    if (req.method === 'GET' && path === HEALTH_PATH) {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (req.method === 'GET' && (path === MODELS_PATH || path.startsWith(`${MODELS_PATH}/`))) {
      req.resume();
      return passThrough(req.url ?? path, res);
    }
    if (req.method !== 'POST' || !isEncryptedPath(path)) {
      req.resume();
      throw new Refused({ code: 'endpoint_not_allowed', detail: `${req.method} ${path}.` });
    }
    const wireBody = await readJson(req, limit);
    const wire = readWireBody(wireBody, path, 'request');
    if ('refusal' in wire) throw new Refused(wire.refusal);
    let found: Awaited<ReturnType<SecretLookup['get']>>;
    try {
      found = await options.secrets.get(wire.envelope.secretId);
    } catch (err) {
      log('warn', `the secret lookup failed: ${(err as Error).message}`);
      throw new Refused({ code: 'secret_store_unavailable' });
    }
    if (found === undefined || found.expiresAt.getTime() <= now()) throw new Refused({ code: 'unknown_secret' });
    const context = requestContext(wire, path, found.secret);
    const opened = openBody(context, wire, { direction: 'request', sequence: 0, final: true });
    if ('refusal' in opened) throw new Refused(opened.refusal);
    const verdict = replay.accept(wire.envelope.secretId, toBase64(wire.envelope.nonce), opened.timestamp, now());
    if (!verdict.accepted)
      throw new Refused(
        verdict.reason === 'replayed'
          ? { code: 'replayed' }
          : {
              code: 'stale_timestamp',
              detail: `It is ${verdict.reason === 'future' ? 'ahead of' : 'behind'} the worker's clock.`,
            },
      );
    const answer = await forward(path, opened.body, res);
    if (isEventStream(answer)) return sealStream(context, answer, res);
    const text = await readAll(answer, UPSTREAM_ANSWER_LIMIT_BYTES);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Refused({ code: 'upstream_unavailable', detail: 'Its answer is not JSON.' });
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Refused({ code: 'upstream_unavailable', detail: 'Its answer is not a JSON object.' });
    const sealed = sealBodyJson(
      context,
      { direction: 'response', sequence: 0, timestamp: now(), final: true },
      body as Record<string, unknown>,
    );
    res.writeHead(answer.statusCode ?? 502, { 'content-type': 'application/json' });
    res.end(sealed);
  }

  function sealStream(
    context: ReturnType<typeof requestContext>,
    answer: UpstreamMessage,
    res: ServerResponse,
  ): Promise<void> {
    const sealer = new StreamSealer(context);
    const reader = new SseReader();
    let finished = false;
    res.writeHead(answer.statusCode ?? 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // The client went away before the end: stop the model server's stream.
    res.on('close', () => {
      if (!res.writableFinished) answer.destroy();
    });
    answer.setEncoding('utf8');
    return new Promise((resolve) => {
      answer.on('data', (text: string) => {
        if (finished) return;
        // The events of one read are sealed together: one record per batch in version 2.
        const chunks: Record<string, unknown>[] = [];
        let out = '';
        let done = false;
        for (const data of reader.push(text)) {
          if (data.trim() === DONE) {
            done = true;
            break;
          }
          let chunk: unknown;
          try {
            chunk = JSON.parse(data);
          } catch {
            chunk = undefined;
          }
          if (typeof chunk !== 'object' || chunk === null || Array.isArray(chunk)) {
            // Not an OpenAI chunk: end without the final record, so the client refuses the stream.
            log('warn', 'the model server streamed an event that is not a JSON object; the stream is cut');
            finished = true;
            answer.destroy();
            break;
          }
          chunks.push(chunk as Record<string, unknown>);
        }
        const payloads = done ? sealer.finish(now(), chunks) : chunks.length > 0 ? sealer.events(chunks, now()) : [];
        for (const payload of payloads) out += sseEvent(payload);
        if (done) finished = true;
        if (out) res.write(out);
        if (finished) {
          res.end();
          resolve();
        }
      });
      // A stream the model server did not finish gets no final record: the client refuses it as truncated.
      const stop = () => {
        if (!finished) {
          finished = true;
          res.end();
        }
        resolve();
      };
      answer.on('end', stop);
      answer.on('error', stop);
      answer.on('close', stop);
    });
  }

  function forward(path: EncryptedPath, body: Record<string, unknown>, res: ServerResponse): Promise<UpstreamMessage> {
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    return new Promise((resolve, reject) => {
      const call = httpRequest(
        new URL(path, upstream),
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': payload.length },
        },
        resolve,
      );
      call.on('error', () => reject(new Refused({ code: 'upstream_unavailable' })));
      res.on('close', () => {
        if (!res.writableFinished) call.destroy();
      });
      call.end(payload);
    });
  }

  function passThrough(url: string, res: ServerResponse): Promise<void> {
    return new Promise((resolve, reject) => {
      const call = httpRequest(new URL(url, upstream), { method: 'GET', agent }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, {
          'content-type': answer.headers['content-type'] ?? 'application/json',
        });
        answer.pipe(res);
        answer.on('end', resolve);
        answer.on('error', resolve);
      });
      call.on('error', () => reject(new Refused({ code: 'upstream_unavailable' })));
      call.end();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '0.0.0.0';
  return {
    url: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    async close() {
      watcher.close();
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function isEventStream(answer: UpstreamMessage): boolean {
  return (answer.headers['content-type'] ?? '').startsWith('text/event-stream');
}

function sendRefusal(res: ServerResponse, refusal: InferenceRefusal): void {
  const { status, body } = inferenceErrorResponse(refusal);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** The body as JSON, refused over `limit` bytes (`request_too_large`) or when it is not JSON. */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw new Refused({ code: 'request_too_large', detail: `The limit is ${limit} bytes.` });
  }
  const text = await readAll(req, limit).catch((err: unknown) => {
    if (err instanceof Refused)
      throw new Refused({ code: 'request_too_large', detail: `The limit is ${limit} bytes.` });
    throw err;
  });
  try {
    return JSON.parse(text);
  } catch {
    throw new Refused({ code: 'malformed_encryption', detail: 'The body is not JSON.' });
  }
}

function readAll(stream: IncomingMessage | UpstreamMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.removeAllListeners('data');
        stream.resume();
        reject(new Refused({ code: 'upstream_unavailable', detail: 'Too large.' }));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}
