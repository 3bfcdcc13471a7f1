/**
 * The embedded model server: a deterministic OpenAI-compatible server for `attestor dev` and the
 * tests, since no model weights can be had here (answers.ts says what it answers). It serves
 * `/v1/chat/completions` and `/v1/completions` (whole, or streamed as server-sent events that end
 * with `data: [DONE]`), `/v1/embeddings` (float or base64) and `/v1/models`, with OpenAI's shapes
 * and error bodies. A per-token delay stands in for a model's speed in benchmarks. Plain HTTP on
 * loopback: in the chain it sits behind the worker proxy in the same pod, as vLLM would.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  answerId,
  chatReply,
  choiceText,
  completionReply,
  contentText,
  countTokens,
  DEFAULT_EMBEDDING_DIMENSIONS,
  DEFAULT_MODEL,
  embedding,
  embeddingBase64,
  limitTokens,
  MAX_EMBEDDING_DIMENSIONS,
} from './answers.ts';

export const MODEL_SERVER_BODY_LIMIT_BYTES = 16 * 1024 * 1024;
const MAX_CHOICES = 16;

export interface ModelServerOptions {
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  /** The one model it serves (default attestor-echo). */
  model?: string;
  /** Wait this long per generated token (default 0). */
  tokenDelayMs?: number;
  /** Sees each request's path and parsed body (tests: what reached the model server). */
  onRequest?: (path: string, body: unknown) => void;
}

export interface ModelServer {
  /** The base URL of the API, e.g. http://127.0.0.1:PORT/v1. */
  url: string;
  port: number;
  model: string;
  close(): Promise<void>;
}

class RequestError extends Error {
  readonly status: number;
  readonly code: string | null;
  readonly param: string | null;

  constructor(status: number, message: string, code: string | null = null, param: string | null = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

export async function startModelServer(options: ModelServerOptions = {}): Promise<ModelServer> {
  const model = options.model ?? DEFAULT_MODEL;
  const delay = options.tokenDelayMs ?? 0;
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof RequestError) sendError(res, err);
      else sendError(res, new RequestError(500, 'The model server failed.'));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    // vLLM's health check, which the AIWorker's pods probe (readinessProbe GET /health).
    if (req.method === 'GET' && path === '/health') return sendJson(res, 200, {});
    if (req.method === 'GET' && path === '/v1/models') {
      options.onRequest?.(path, undefined);
      return sendJson(res, 200, { object: 'list', data: [modelObject(model)] });
    }
    if (req.method === 'GET' && path.startsWith('/v1/models/')) {
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (id !== model) throw new RequestError(404, `The model \`${id}\` does not exist.`, 'model_not_found', 'model');
      return sendJson(res, 200, modelObject(model));
    }
    const routes: Record<string, (body: Record<string, unknown>, res: ServerResponse) => Promise<void>> = {
      '/v1/chat/completions': chat,
      '/v1/completions': completions,
      '/v1/embeddings': embeddings,
    };
    const route = routes[path];
    if (route === undefined) throw new RequestError(404, `Not found: ${req.method} ${path}.`, 'not_found');
    if (req.method !== 'POST') throw new RequestError(405, `Use POST for ${path}.`, 'method_not_allowed');
    const body = await readJson(req);
    options.onRequest?.(path, body);
    if (body.model !== model)
      throw new RequestError(404, `The model \`${String(body.model)}\` does not exist.`, 'model_not_found', 'model');
    await route(body, res);
  }

  async function chat(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0)
      throw new RequestError(400, "'messages' must be a non-empty list.", null, 'messages');
    const reply = chatReply(messages as Array<{ role?: unknown; content?: unknown }>);
    const limit = tokenLimit(body.max_completion_tokens ?? body.max_tokens);
    const n = choices(body.n);
    const id = answerId('chatcmpl', body);
    const created = Math.floor(Date.now() / 1000);
    const promptTokens = messages.reduce(
      (sum: number, m) => sum + countTokens(contentText((m as { content?: unknown }).content)),
      0,
    );
    const answers = Array.from({ length: n }, (_, i) => limitTokens(choiceText(reply, i), limit));
    const completionTokens = answers.reduce((sum, a) => sum + a.parts.length, 0);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    if (body.stream !== true) {
      if (delay > 0) await sleep(delay * Math.max(...answers.map((a) => a.parts.length)));
      return sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: answers.map((a, index) => ({
          index,
          message: { role: 'assistant', content: a.parts.join(''), refusal: null },
          logprobs: null,
          finish_reason: a.finishReason,
        })),
        usage,
      });
    }
    const includeUsage = usageRequested(body);
    const chunk = chunkMaker({ id, object: 'chat.completion.chunk', created, model }, includeUsage);
    await streamEvents(res, async (send) => {
      for (let index = 0; index < n; index++) {
        send(chunk([{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]));
        for (const part of answers[index]!.parts) {
          if (delay > 0) await sleep(delay);
          send(chunk([{ index, delta: { content: part }, logprobs: null, finish_reason: null }]));
        }
        send(chunk([{ index, delta: {}, logprobs: null, finish_reason: answers[index]!.finishReason }]));
      }
      if (includeUsage) send(chunk([], { usage }));
    });
  }

  async function completions(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const prompts = typeof body.prompt === 'string' ? [body.prompt] : body.prompt;
    if (!Array.isArray(prompts) || prompts.length === 0 || !prompts.every((p) => typeof p === 'string'))
      throw new RequestError(400, "'prompt' must be a string or a non-empty list of strings.", null, 'prompt');
    const limit = tokenLimit(body.max_tokens ?? 16);
    const n = choices(body.n);
    const id = answerId('cmpl', body);
    const created = Math.floor(Date.now() / 1000);
    const answers = (prompts as string[]).flatMap((p) =>
      Array.from({ length: n }, (_, i) => limitTokens(choiceText(completionReply(p), i), limit)),
    );
    const promptTokens = (prompts as string[]).reduce((sum, p) => sum + countTokens(p), 0);
    const completionTokens = answers.reduce((sum, a) => sum + a.parts.length, 0);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    if (body.stream !== true) {
      if (delay > 0) await sleep(delay * Math.max(...answers.map((a) => a.parts.length)));
      return sendJson(res, 200, {
        id,
        object: 'text_completion',
        created,
        model,
        choices: answers.map((a, index) => ({
          text: a.parts.join(''),
          index,
          logprobs: null,
          finish_reason: a.finishReason,
        })),
        usage,
      });
    }
    const includeUsage = usageRequested(body);
    const chunk = chunkMaker({ id, object: 'text_completion', created, model }, includeUsage);
    await streamEvents(res, async (send) => {
      for (const [index, answer] of answers.entries()) {
        for (const part of answer.parts) {
          if (delay > 0) await sleep(delay);
          send(chunk([{ text: part, index, logprobs: null, finish_reason: null }]));
        }
        send(chunk([{ text: '', index, logprobs: null, finish_reason: answer.finishReason }]));
      }
      if (includeUsage) send(chunk([], { usage }));
    });
  }

  async function embeddings(body: Record<string, unknown>, res: ServerResponse): Promise<void> {
    const input = body.input;
    const texts: string[] | undefined =
      typeof input === 'string'
        ? [input]
        : Array.isArray(input) && input.length > 0
          ? input.every((i) => typeof i === 'string')
            ? (input as string[])
            : input.every((i) => typeof i === 'number')
              ? [JSON.stringify(input)]
              : input.every((i) => Array.isArray(i) && i.every((t) => typeof t === 'number'))
                ? input.map((i) => JSON.stringify(i))
                : undefined
          : undefined;
    if (texts === undefined)
      throw new RequestError(400, "'input' must be a string, a list of strings, or token lists.", null, 'input');
    const dimensions = body.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS;
    if (
      !Number.isSafeInteger(dimensions) ||
      (dimensions as number) < 1 ||
      (dimensions as number) > MAX_EMBEDDING_DIMENSIONS
    )
      throw new RequestError(
        400,
        `'dimensions' must be an integer from 1 to ${MAX_EMBEDDING_DIMENSIONS}.`,
        null,
        'dimensions',
      );
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64')
      throw new RequestError(400, "'encoding_format' must be float or base64.", null, 'encoding_format');
    const promptTokens = texts.reduce((sum, t) => sum + countTokens(t), 0);
    sendJson(res, 200, {
      object: 'list',
      data: texts.map((text, index) => {
        const vector = embedding(text, dimensions as number);
        return { object: 'embedding', index, embedding: format === 'base64' ? embeddingBase64(vector) : vector };
      }),
      model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/v1`,
    port: address.port,
    model,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether a streamed answer ends with a usage chunk (`stream_options.include_usage`). */
function usageRequested(body: Record<string, unknown>): boolean {
  return (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
}

/**
 * The chunks of one streamed answer: its id, object, created and model, the given choices, and
 * `usage: null` on each when the final usage chunk was asked for (as OpenAI sends them).
 */
function chunkMaker(head: { id: string; object: string; created: number; model: string }, includeUsage: boolean) {
  return (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    ...head,
    choices,
    ...(includeUsage ? { usage: null } : {}),
    ...extra,
  });
}

function modelObject(model: string) {
  return { id: model, object: 'model', created: 0, owned_by: 'attestor' };
}

function tokenLimit(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Number.isSafeInteger(value) || (value as number) < 1)
    throw new RequestError(400, "'max_tokens' must be a positive integer.", null, 'max_tokens');
  return value as number;
}

function choices(value: unknown): number {
  if (value === undefined || value === null) return 1;
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > MAX_CHOICES)
    throw new RequestError(400, `'n' must be an integer from 1 to ${MAX_CHOICES}.`, null, 'n');
  return value as number;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MODEL_SERVER_BODY_LIMIT_BYTES) throw new RequestError(413, 'The request body is too large.');
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new RequestError(400, 'The request body is not JSON.');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new RequestError(400, 'The request body is not a JSON object.');
  return body as Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, err: RequestError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const type = err.status >= 500 ? 'server_error' : err.status === 404 ? 'not_found_error' : 'invalid_request_error';
  sendJson(res, err.status, { error: { message: err.message, type, param: err.param, code: err.code } });
}

/** Server-sent events: one `data:` line per event, then `data: [DONE]`. */
async function streamEvents(
  res: ServerResponse,
  produce: (send: (event: unknown) => void) => Promise<void>,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  await produce((event) => res.write(`data: ${JSON.stringify(event)}\n\n`));
  res.end('data: [DONE]\n\n');
}
