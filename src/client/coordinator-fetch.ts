/**
 * Asks a Coordinator to prove itself: POST /v1/coordinator/attest with a nonce, over HTTPS
 * without checking the server's certificate (the evidence in the answer carries the trust, not
 * TLS), or over plain HTTP when the URL says so. What comes back is not trusted here: see
 * verify-coordinator.ts.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { COORDINATOR_ATTEST_PATH, MAX_COORDINATOR_ATTEST_RESPONSE_BYTES } from '../protocol/coordinator-attest.ts';

/** The Coordinator could not be asked, or did not answer 200: nothing to verify (exit 2). */
export class CoordinatorUnreachable extends Error {
  override name = 'CoordinatorUnreachable';
}

/** The attestation URL for a Coordinator URL given with or without the path. */
export function coordinatorAttestUrl(coordinator: string): URL {
  let url: URL;
  try {
    url = new URL(coordinator);
  } catch {
    throw new CoordinatorUnreachable(`not a URL: "${coordinator}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new CoordinatorUnreachable(`expected an https:// or http:// URL, got "${coordinator}"`);
  if (!url.pathname.endsWith(COORDINATOR_ATTEST_PATH))
    url.pathname = url.pathname.replace(/\/+$/, '') + COORDINATOR_ATTEST_PATH;
  return url;
}

/** The parsed JSON answer (unverified; its text when it is no JSON); CoordinatorUnreachable for a network error or another status than 200. */
export function fetchCoordinatorAttestation(
  coordinator: string,
  nonce: Uint8Array,
  timeoutMs = 30_000,
): Promise<unknown> {
  const url = coordinatorAttestUrl(coordinator);
  const body = JSON.stringify({ nonce: Buffer.from(nonce).toString('hex') });
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
        // The TLS certificate is not what the client trusts: REPORT_DATA binds the answer.
        ...(url.protocol === 'https:' ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_COORDINATOR_ATTEST_RESPONSE_BYTES) {
            req.destroy(
              new CoordinatorUnreachable(`the answer exceeds ${MAX_COORDINATOR_ATTEST_RESPONSE_BYTES} bytes`),
            );
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          if (res.statusCode !== 200) {
            const error = (json as { error?: unknown } | undefined)?.error;
            reject(
              new CoordinatorUnreachable(
                `${url.href} answered HTTP ${res.statusCode}${typeof error === 'string' ? `: ${error}` : ''}`,
              ),
            );
            return;
          }
          // A 200 that is no JSON is an answer that proves nothing: the verification refuses it.
          resolve(json ?? text);
        });
        res.on('error', (err) => reject(new CoordinatorUnreachable(`${url.href}: ${err.message}`)));
      },
    );
    req.on('timeout', () => req.destroy(new CoordinatorUnreachable(`${url.href}: no answer within ${timeoutMs} ms`)));
    req.on('error', (err) =>
      reject(err instanceof CoordinatorUnreachable ? err : new CoordinatorUnreachable(`${url.href}: ${err.message}`)),
    );
    req.end(body);
  });
}
