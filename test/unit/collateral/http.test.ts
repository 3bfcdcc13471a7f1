// The default fetch against a loopback server: the size limit and the timeout hold in the real
// HTTP client, not only in the store's own checks.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { redactUrl, undiciFetch } from '../../../src/collateral/http.ts';

describe('collateral: the default fetch (undici)', () => {
  let server: Server;
  let base: string;
  const agent = new Agent();
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/small') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'TCB-Info-Issuer-Chain': 'chain%20pem' });
        res.end(Buffer.from('hello'));
      } else if (req.url === '/large') {
        res.writeHead(200);
        // Streamed without a length: the client has to stop reading by itself.
        for (let i = 0; i < 64; i++) res.write(Buffer.alloc(1024, 1));
        res.end();
      } else if (req.url === '/silent') {
        // Never answers: only the client's timeout ends the request.
      } else {
        res.writeHead(404);
        res.end('no');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await agent.close();
  });

  it('answers status, lower-case headers and the body', async () => {
    const a = await undiciFetch(agent)(`${base}/small`, { timeoutMs: 5000, maxBytes: 100 });
    assert.equal(a.status, 200);
    assert.equal(a.headers['tcb-info-issuer-chain'], 'chain%20pem');
    assert.equal(Buffer.from(a.body).toString(), 'hello');
    assert.equal((await undiciFetch(agent)(`${base}/nothing`, { timeoutMs: 5000, maxBytes: 100 })).status, 404);
  });

  it('stops reading one byte past the limit', async () => {
    const a = await undiciFetch(agent)(`${base}/large`, { timeoutMs: 5000, maxBytes: 1000 });
    assert.equal(a.body.length, 1001);
  });

  it('gives up after the timeout', async () => {
    const started = Date.now();
    await assert.rejects(undiciFetch(agent)(`${base}/silent`, { timeoutMs: 200, maxBytes: 100 }));
    assert.ok(Date.now() - started < 4000, 'the timeout, not the server, ended the request');
  });

  it('redacts credentials and key-like query parameters from URLs for messages', () => {
    assert.equal(
      redactUrl('https://user:pw@mirror.example/vcek/v1/Milan/crl'),
      'https://mirror.example/vcek/v1/Milan/crl',
    );
    assert.equal(
      redactUrl('https://mirror.example/tcb?fmspc=50806f000000&apikey=s3cret'),
      'https://mirror.example/tcb?fmspc=50806f000000&apikey=REDACTED',
    );
  });
});
