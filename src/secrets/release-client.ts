/**
 * The worker proxy's side of secret release (docs/protocol.md, "Secret release"): fetches a secret
 * by ID, or watches for new ones, over mutual TLS with the worker's workload certificate. It
 * trusts only the mesh CA for the service, and only a certificate that names the
 * `secret-service` role. Refusals come back as SecretReleaseError with the error table's code.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import * as x509 from '@peculiar/x509';
import { type InferenceErrorCode, inferenceErrorCode } from '../protocol/inference/errors.ts';
import { SECRET_SERVICE_ROLE } from '../protocol/inference/key-exchange.ts';
import {
  type ParsedSecretRelease,
  parseSecretRelease,
  SECRET_WATCH_PATH,
  secretReleasePath,
} from '../protocol/inference/secret-release.ts';
import { SseReader } from '../protocol/inference/sse.ts';
import { readWorkloadIdentity } from '../protocol/workload-certificate.ts';

export interface SecretReleaseClientOptions {
  /** The secret service's base URL, https://. */
  url: string;
  /** The worker's workload certificate and key (PEM), and the mesh CA that must have issued the service's. */
  cert: string;
  key: string;
  meshCa: string;
}

/** The service refused (with its error code), or answered something that is not a release. */
export class SecretReleaseError extends Error {
  readonly status: number | undefined;
  readonly code: InferenceErrorCode | undefined;
  constructor(message: string, status?: number, code?: InferenceErrorCode) {
    super(message);
    this.name = 'SecretReleaseError';
    this.status = status;
    this.code = code;
  }
}

export class SecretReleaseClient {
  readonly #base: URL;
  readonly #agent: Agent;

  constructor(options: SecretReleaseClientOptions) {
    this.#base = new URL(options.url);
    this.#agent = new Agent({
      keepAlive: true,
      cert: options.cert,
      key: options.key,
      ca: options.meshCa,
      // The mesh CA is an intermediate under the Coordinator's root: it is the anchor.
      allowPartialTrustChain: true,
      rejectUnauthorized: true,
      checkServerIdentity: (_host, certificate) => {
        const problem = secretServiceProblem(new Uint8Array(certificate.raw));
        return problem === undefined ? undefined : new Error(problem);
      },
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  /** The secret of `id` (standard base64, as the key exchange names it); undefined when the service holds none. */
  async get(id: string): Promise<ParsedSecretRelease | undefined> {
    const res = await this.#get(secretReleasePath(id));
    const text = await readText(res);
    const body = parseJson(text);
    if (res.statusCode === 404 && inferenceErrorCode(body) === 'secret_not_found') return undefined;
    if (res.statusCode !== 200) throw refusal(res.statusCode, body);
    const parsed = parseSecretRelease(body);
    if ('errors' in parsed) throw new SecretReleaseError(`the release is malformed: ${parsed.errors.join('; ')}`);
    if (parsed.id !== id) throw new SecretReleaseError(`the service released secret ${parsed.id}, not ${id}`);
    return parsed;
  }

  /**
   * The secrets exchanged from now on that this worker may have, as they come, until `signal`
   * aborts (then the iteration ends) or the stream breaks (then it throws). `onReady` once the
   * service's watch is established.
   */
  async *watch(options: { signal?: AbortSignal; onReady?: () => void } = {}): AsyncGenerator<ParsedSecretRelease> {
    const res = await this.#get(SECRET_WATCH_PATH, options.signal);
    if (res.statusCode !== 200) throw refusal(res.statusCode, parseJson(await readText(res)));
    const reader = new SseReader();
    res.setEncoding('utf8');
    try {
      for await (const chunk of res as AsyncIterable<string>) {
        for (const data of reader.push(chunk)) {
          const body = parseJson(data);
          if (typeof body === 'object' && body !== null && Object.keys(body).length === 0) {
            options.onReady?.();
            continue;
          }
          const parsed = parseSecretRelease(body);
          if ('errors' in parsed)
            throw new SecretReleaseError(`a watch event is malformed: ${parsed.errors.join('; ')}`);
          yield parsed;
        }
      }
    } catch (err) {
      if (options.signal?.aborted) return;
      throw err;
    }
    if (!options.signal?.aborted) throw new SecretReleaseError('the secret service ended the watch');
  }

  #get(path: string, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.#base), { method: 'GET', agent: this.#agent, signal }, resolve);
      req.on('error', reject);
      req.end();
    });
  }
}

/** Why `der` is not a secret service's certificate (beyond the chain, which TLS checks); undefined when it is one. */
function secretServiceProblem(der: Uint8Array): string | undefined {
  try {
    const leaf = new X509Certificate(der);
    if (leaf.ca) return "the secret service's certificate is a CA certificate";
    const identity = readWorkloadIdentity(new x509.X509Certificate(leaf.raw));
    if (identity === undefined) return "the secret service's certificate has no workload identity extension";
    if ('error' in identity) return identity.error;
    if (identity.role !== SECRET_SERVICE_ROLE)
      return `the secret service's certificate names the role ${identity.role}, not ${SECRET_SERVICE_ROLE}`;
    return undefined;
  } catch {
    return "the secret service's certificate does not parse";
  }
}

function refusal(status: number | undefined, body: unknown): SecretReleaseError {
  const code = inferenceErrorCode(body);
  const message =
    (body as { error?: { message?: string } } | undefined)?.error?.message ??
    `the secret service answered HTTP ${status}`;
  return new SecretReleaseError(message, status, code);
}

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
