/**
 * The client proxy's local endpoint (`attestor proxy`): an OpenAI-compatible HTTP server on
 * loopback that passes each request through an InferenceSession, so an ordinary OpenAI client gets
 * answers from a confidential worker. Whole answers go back as JSON, streamed ones as server-sent
 * events ending with `data: [DONE]` only after the authenticated final record; a refusal in the
 * middle of a stream is sent as an error event and the stream ends without `[DONE]`, so the
 * client sees a failure, never a complete-looking answer.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type InferenceRefusal, inferenceErrorResponse } from '../protocol/inference/errors.ts';
import { sseEvent } from '../protocol/inference/sse.ts';
import { DONE } from '../protocol/inference/streams.ts';
import type { InferenceSession } from './session.ts';

export const DEFAULT_LISTEN = { host: '127.0.0.1', port: 8080 };
/** The largest request body accepted from the application. */
export const CLIENT_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

export interface ClientProxyOptions {
  /** Default 127.0.0.1:8080; port 0 picks a free one. */
  listen?: { host: string; port: number };
  session: Pick<InferenceSession, 'send'>;
}

export interface ClientProxy {
  /** The base URL for OpenAI clients, e.g. http://127.0.0.1:8080/v1. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startClientProxy(options: ClientProxyOptions): Promise<ClientProxy> {
  const listen = options.listen ?? DEFAULT_LISTEN;
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else sendRefusal(res, { code: 'worker_unavailable' });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    let body: unknown;
    if (req.method === 'POST') {
      const text = await readBody(req, CLIENT_BODY_LIMIT_BYTES);
      if (text === undefined) return sendRefusal(res, { code: 'request_too_large' });
      try {
        body = JSON.parse(text);
      } catch {
        return sendRefusal(res, { code: 'malformed_encryption', detail: 'The request body is not JSON.' });
      }
    } else req.resume();
    const answer = await options.session.send(req.method ?? 'GET', path, body);
    if ('refusal' in answer) return sendRefusal(res, answer.refusal);
    if ('body' in answer) {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
      return;
    }
    res.writeHead(answer.status, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for await (const item of answer.events) {
      // The application went away: stop reading (the session then closes the worker's stream).
      if (res.destroyed) return;
      if ('refusal' in item) {
        res.end(sseEvent(JSON.stringify(inferenceErrorResponse(item.refusal).body)));
        return;
      }
      // Events that decrypted together leave in one write.
      if (res.writableCorked === 0) {
        res.cork();
        process.nextTick(() => res.uncork());
      }
      res.write(sseEvent(JSON.stringify(item.event)));
    }
    res.end(sseEvent(DONE));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${host}:${port}/v1`,
    port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function sendRefusal(res: ServerResponse, refusal: InferenceRefusal): void {
  const { status, body } = inferenceErrorResponse(refusal);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
