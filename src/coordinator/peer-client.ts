/**
 * How a replica reaches the leading replica's Coordinator API for peer recovery: HTTPS (undici)
 * trusting only the given CA, with the operator's own service account token (re-read for every
 * request, as the kubelet rotates it). In a cluster the one URL is the Coordinator Service, which
 * selects the leader's pod; given several (one per replica), it tries each in turn until one does
 * not answer 503 (not the leader) and keeps to it for the rest of the exchange.
 */
import { Agent as Dispatcher, request } from 'undici';
import { errorMessage } from '../errors.ts';
import { MAX_PEER_RECOVER_RESPONSE_BYTES } from '../protocol/peer-recovery.ts';

export interface PeerAnswer {
  status: number;
  body: unknown;
  /** The URL that answered: pass it back to stay with the same replica. */
  via: string;
}

/** What peer-sync.ts needs of a transport (interface where it is used). */
export interface PeerTransport {
  post(path: string, body: unknown, via?: string): Promise<PeerAnswer>;
}

export interface PeerClientOptions {
  urls: readonly string[];
  /** The CA that signed the Coordinator's serving certificate (PEM). */
  ca: string;
  /** The operator's service account token (audience: the peer audience). */
  token: () => Promise<string>;
  timeoutMs?: number;
}

export class PeerClient implements PeerTransport {
  readonly #urls: string[];
  readonly #dispatcher: Dispatcher;
  readonly #token: () => Promise<string>;

  constructor(options: PeerClientOptions) {
    if (options.urls.length === 0) throw new Error('peer recovery needs at least one URL of the Coordinator API');
    this.#urls = options.urls.map((u) => u.replace(/\/$/, ''));
    const timeout = options.timeoutMs ?? 30_000;
    this.#dispatcher = new Dispatcher({
      connect: { ca: options.ca, rejectUnauthorized: true },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      maxResponseSize: MAX_PEER_RECOVER_RESPONSE_BYTES,
    });
    this.#token = options.token;
  }

  async post(path: string, body: unknown, via?: string): Promise<PeerAnswer> {
    const token = await this.#token();
    let last: PeerAnswer | undefined;
    const failures: string[] = [];
    for (const base of via ? [via] : this.#urls) {
      try {
        const res = await request(base + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(body),
          dispatcher: this.#dispatcher,
        });
        const text = await res.body.text();
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = text;
        }
        last = { status: res.statusCode, body: parsed, via: base };
        if (res.statusCode !== 503) return last;
      } catch (err) {
        failures.push(`${base}: ${errorMessage(err)}`);
      }
    }
    if (last) return last;
    throw new Error(`no Coordinator replica answered (${failures.join('; ')})`);
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}
