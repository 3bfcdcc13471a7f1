// Something on the path between the client and the worker proxy that changes what passes: a TLS
// relay holding a worker certificate of the same mesh CA (as a gateway that terminates TLS would),
// forwarding each request to the real worker proxy and rewriting its answer before the client gets
// it. It shows that the records, not the TLS connection, make an answer trustworthy.
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Relay {
  url: string;
  /** How the next answers are rewritten (text of the whole answer, its content type). */
  rewrite: (text: string, contentType: string) => string;
  /** The request bodies that passed, as sent. */
  requests: string[];
  close(): Promise<void>;
}

export async function startRelay(options: { cert: string; key: string; target: string; ca: string }): Promise<Relay> {
  const relay: Relay = {
    url: '',
    rewrite: (text) => text,
    requests: [],
    close: async () => {},
  };
  const server: Server = createServer({ cert: options.cert, key: options.key }, async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks).toString('utf8');
    relay.requests.push(body);
    const forward = request(
      new URL(req.url ?? '/', options.target),
      {
        method: req.method,
        ca: options.ca,
        allowPartialTrustChain: true,
        checkServerIdentity: () => undefined,
        headers: { 'content-type': 'application/json' },
      },
      async (answer) => {
        const parts: Buffer[] = [];
        for await (const part of answer as AsyncIterable<Buffer>) parts.push(part);
        const type = answer.headers['content-type'] ?? 'application/json';
        res.writeHead(answer.statusCode ?? 502, { 'content-type': type });
        res.end(relay.rewrite(Buffer.concat(parts).toString('utf8'), type));
      },
    );
    forward.on('error', () => res.destroy());
    forward.end(req.method === 'POST' ? body : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  relay.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  relay.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return relay;
}
