/**
 * The client's call to the secret service: `POST /v1/secrets/exchange` over HTTPS. What the client
 * trusts is the signed answer (acceptKeyExchange checks the certificate chain to the attested mesh
 * CA, the secret-service policy and the signature over its own public key), not this connection:
 * TLS here only keeps the exchange private from the network. So the connection trusts `ca` when
 * given (the mesh CA, when the service serves its workload certificate) or the system's roots (a
 * gateway in front of the service).
 */
import type { IncomingMessage } from 'node:http';
import { request } from 'node:https';
import { inferenceErrorCode } from '../protocol/inference/errors.ts';
import { KEY_EXCHANGE_PATH, type KeyExchangeRequest } from '../protocol/inference/key-exchange.ts';
import type { SecretExchange } from './session.ts';

const ANSWER_LIMIT_BYTES = 64 * 1024;

export interface SecretServiceOptions {
  /** The secret service's base URL, https://host:port. */
  url: string;
  /** PEM trust anchors for its TLS certificate; default the system's. */
  ca?: string;
  /**
   * Skip the host name check: for `ca` = the attested mesh CA, whose workload certificates name
   * pods, not the address the client dials. The signed answer is what the client trusts.
   */
  ignoreHostName?: boolean;
  /** Sent as `Authorization: Bearer <apiKey>`, for a service or gateway that requires one. */
  apiKey?: string;
  timeoutMs?: number;
}

/** An exchange function for InferenceSession; it throws with the service's error code on a refusal. */
export function secretServiceExchange(options: SecretServiceOptions): SecretExchange {
  const target = new URL(KEY_EXCHANGE_PATH, options.url);
  if (target.protocol !== 'https:') throw new Error(`the secret service must be https, not ${options.url}`);
  return (body: KeyExchangeRequest) =>
    new Promise((resolve, reject) => {
      const payload = JSON.stringify(body);
      const call = request(
        target,
        {
          method: 'POST',
          timeout: options.timeoutMs ?? 30_000,
          ...(options.ca ? { ca: options.ca, allowPartialTrustChain: true } : {}),
          ...(options.ignoreHostName ? { checkServerIdentity: () => undefined } : {}),
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
          },
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > ANSWER_LIMIT_BYTES) res.destroy(new Error(`${target.href}: the answer is too large`));
            else chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            let answer: unknown;
            try {
              answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              return reject(new Error(`${target.href}: HTTP ${res.statusCode}, not JSON`));
            }
            if (res.statusCode !== 200)
              return reject(
                new Error(
                  `${target.href}: HTTP ${res.statusCode} ${inferenceErrorCode(answer) ?? 'without an error code'}`,
                ),
              );
            resolve(answer);
          });
        },
      );
      call.on('timeout', () => call.destroy(new Error(`${target.href}: no answer in time`)));
      call.on('error', (err: NodeJS.ErrnoException) => reject(new Error(`${target.href}: ${err.code ?? err.message}`)));
      call.end(payload);
    });
}
