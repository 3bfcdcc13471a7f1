/**
 * The agent's HTTPS client for the Coordinator API (undici, trusting only the given CA). Given a CA
 * file, it re-reads it before each request (as the token), so a renewed serving CA (the chart's
 * ConfigMap or cert-manager's Secret) is trusted without a restart; a file that cannot be read or
 * holds no certificate keeps the CA it has.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent as Dispatcher, request } from 'undici';

/** The CA that signed the Coordinator's serving certificate: PEM, or a file re-read before each request. */
export type CoordinatorCa = string | { file: string };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

function dispatcherFor(caPem: string): Dispatcher {
  return new Dispatcher({
    connect: { ca: caPem, rejectUnauthorized: true },
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
}

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
  readonly #caFile: string | undefined;
  #caPem: string;
  #dispatcher: Dispatcher;
  readonly #retired = new Set<Dispatcher>();
  readonly #token: () => Promise<string>;

  /** A CA file is read now (a missing one stops the start), and again before each request. */
  constructor(baseUrl: string, ca: CoordinatorCa, token: () => Promise<string>) {
    this.#base = baseUrl.replace(/\/$/, '');
    this.#caFile = typeof ca === 'string' ? undefined : ca.file;
    this.#caPem = typeof ca === 'string' ? ca : readFileSync(ca.file, 'utf8');
    this.#dispatcher = dispatcherFor(this.#caPem);
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
    await Promise.all([this.#dispatcher, ...this.#retired].map((d) => d.close()));
  }

  /** The dispatcher for the current CA: a changed, readable CA file replaces it (requests in flight finish on the old one). */
  async #currentDispatcher(): Promise<Dispatcher> {
    if (this.#caFile === undefined) return this.#dispatcher;
    let pem: string;
    try {
      pem = await readFile(this.#caFile, 'utf8');
    } catch {
      return this.#dispatcher;
    }
    if (pem === this.#caPem || !PEM_CERTIFICATE.test(pem)) return this.#dispatcher;
    const old = this.#dispatcher;
    this.#caPem = pem;
    this.#dispatcher = dispatcherFor(pem);
    this.#retired.add(old);
    void old.close().finally(() => this.#retired.delete(old));
    return this.#dispatcher;
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
      dispatcher: await this.#currentDispatcher(),
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
