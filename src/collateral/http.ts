/**
 * The one way collateral reaches the network: a fetch function the store is given (tests pass a
 * plain function; production uses undici). It answers status, headers and at most maxBytes + 1
 * bytes of body, so that the caller can tell an oversize answer without holding all of it.
 * Transport failures throw; the store turns them into values.
 */
import { type Dispatcher, EnvHttpProxyAgent, request } from 'undici';

export interface HttpLimits {
  /** Whole request, connect to last byte. */
  readonly timeoutMs: number;
  /** Largest body accepted; vendor collateral is kilobytes (a RIM about 20 KB). */
  readonly maxBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { timeoutMs: 10_000, maxBytes: 1 << 20 };

export interface HttpAnswer {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** A request with a body (an OCSP POST); without one the fetch is a GET. */
export interface HttpRequestBody {
  readonly method: 'POST';
  readonly contentType: string;
  readonly body: Uint8Array;
}

export type FetchFunction = (url: string, limits: HttpLimits, request?: HttpRequestBody) => Promise<HttpAnswer>;

/**
 * GET (or POST with a body) with undici. HTTPS_PROXY / NO_PROXY are honoured (EnvHttpProxyAgent),
 * since connected clusters often reach vendors only through a proxy.
 */
export function undiciFetch(dispatcher: Dispatcher = new EnvHttpProxyAgent()): FetchFunction {
  return async (url, limits, body) => {
    const signal = AbortSignal.timeout(limits.timeoutMs);
    const res = await request(url, {
      method: body?.method ?? 'GET',
      dispatcher,
      signal,
      headersTimeout: limits.timeoutMs,
      bodyTimeout: limits.timeoutMs,
      ...(body ? { body: Buffer.from(body.body), headers: { 'content-type': body.contentType } } : {}),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      const room = limits.maxBytes + 1 - size;
      chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
      size += Math.min(chunk.length, room);
      if (size > limits.maxBytes) {
        res.body.destroy();
        break;
      }
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    return { status: res.statusCode, headers, body: new Uint8Array(Buffer.concat(chunks)) };
  };
}

/** A URL fit for a message or log: without user:password and query secrets a mirror's URL may hold. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    for (const key of [...u.searchParams.keys()])
      if (/key|token|secret|sig|password/i.test(key)) u.searchParams.set(key, 'REDACTED');
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}
