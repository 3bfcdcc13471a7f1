/** The agent's HTTPS client for the Coordinator API (undici, trusting only the given CA). */
import { Agent as Dispatcher, request } from 'undici';

export class CoordinatorHttpError extends Error {
  readonly status: number;
  readonly body: unknown;
  /** From Retry-After (429, 503), when the Coordinator sent one. */
  readonly retryAfterMs: number | undefined;
  constructor(status: number, body: unknown, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'CoordinatorHttpError';
    this.status = status;
    this.body = body;
    this.retryAfterMs = retryAfterMs;
  }
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** How long to wait for the answer (a long poll waits longer than the default 30 s). */
  timeoutMs?: number;
}

export class CoordinatorClient {
  readonly #base: string;
  readonly #dispatcher: Dispatcher;
  readonly #token: () => Promise<string>;

  constructor(baseUrl: string, caPem: string, token: () => Promise<string>) {
    this.#base = baseUrl.replace(/\/$/, '');
    this.#dispatcher = new Dispatcher({
      connect: { ca: caPem, rejectUnauthorized: true },
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    this.#token = token;
  }

  /** POST JSON; resolves with the status and parsed body for 2xx and for the statuses in `accept`. */
  async post<T>(path: string, body: unknown, accept: number[] = []): Promise<{ status: number; body: T }> {
    return this.#send('POST', path, body, accept);
  }

  async get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return (await this.#send<T>('GET', path, undefined, [], options)).body;
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  async #send<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    accept: number[],
    options: RequestOptions = {},
  ): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${await this.#token()}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const timeouts =
      options.timeoutMs === undefined ? {} : { headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs };
    const res = await request(this.#base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: this.#dispatcher,
      signal: options.signal,
      ...timeouts,
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if ((res.statusCode >= 200 && res.statusCode < 300) || accept.includes(res.statusCode))
      return { status: res.statusCode, body: parsed as T };
    const message =
      typeof parsed === 'object' && parsed && 'error' in parsed
        ? String((parsed as { error: unknown }).error)
        : text.slice(0, 200);
    const retryAfter = Number(res.headers['retry-after']);
    throw new CoordinatorHttpError(
      res.statusCode,
      parsed,
      `${method} ${path}: HTTP ${res.statusCode}: ${message}`,
      Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
    );
  }
}
