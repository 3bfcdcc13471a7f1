// The client's HTTPS call to the secret service's exchange endpoint, against an HTTPS server that
// serves the secret service's workload certificate and answers with answerKeyExchange: the session
// gets its secret through it, the API key travels as a bearer token, and the service's refusals
// come back as exchange_failed naming the code.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ModelServer } from '../../../src/model-server/server.ts';
import { startModelServer } from '../../../src/model-server/server.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { inferenceErrorResponse } from '../../../src/protocol/inference/errors.ts';
import { KEY_EXCHANGE_PATH } from '../../../src/protocol/inference/key-exchange.ts';
import { secretServiceExchange } from '../../../src/proxy/secret-exchange.ts';
import { InferenceSession } from '../../../src/proxy/session.ts';
import { startWorkerProxy, type WorkerProxy } from '../../../src/worker/worker-proxy.ts';
import { meshCa, POLICIES, testSecretService, workerVolume } from './chain-fixture.ts';

describe('secret service exchange over HTTPS', () => {
  let mesh: CertificateAuthority;
  let service: Awaited<ReturnType<typeof testSecretService>>;
  let server: Server;
  let url: string;
  let refuse: 'rate_limited' | undefined;
  const headers: Array<{ path?: string; authorization?: string }> = [];
  let model: ModelServer;
  let volume: Awaited<ReturnType<typeof workerVolume>>;
  let worker: WorkerProxy;
  let forwarded = 0;

  before(async () => {
    mesh = await meshCa();
    service = await testSecretService(mesh);
    server = createServer(service.tls, async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      headers.push({ path: req.url, authorization: req.headers.authorization });
      if (refuse) {
        const { status, body } = inferenceErrorResponse({ code: refuse });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
        return;
      }
      const answer = await service.exchange(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    model = await startModelServer({ host: '127.0.0.1', onRequest: () => forwarded++ });
    volume = await workerVolume(mesh);
    worker = await startWorkerProxy({
      host: '127.0.0.1',
      certificateDir: volume.dir,
      upstream: model.url.replace(/\/v1$/, ''),
      secrets: service.lookup,
    });
  });
  after(async () => {
    await worker?.close();
    await model?.close();
    await volume?.remove();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    refuse = undefined;
    headers.length = 0;
  });

  const session = (apiKey?: string) =>
    new InferenceSession({
      meshCA: mesh.pem,
      manifest: { policies: POLICIES },
      exchange: secretServiceExchange({ url, ca: mesh.pem, ...(apiKey ? { apiKey } : {}) }),
      endpoint: worker.url,
    });

  it('gets the session its secret: the chat request is answered', async () => {
    const s = session('key-1');
    try {
      const answer = await s.send('POST', '/v1/chat/completions', {
        model: 'attestor-echo',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.ok('body' in answer && answer.status === 200, JSON.stringify(answer));
      assert.deepEqual(headers, [{ path: KEY_EXCHANGE_PATH, authorization: 'Bearer key-1' }]);
    } finally {
      s.close();
    }
  });

  it("turns the service's refusal into exchange_failed naming its code, and sends nothing to the worker", async () => {
    refuse = 'rate_limited';
    forwarded = 0;
    const s = session();
    try {
      const answer = await s.send('POST', '/v1/chat/completions', { model: 'attestor-echo', messages: [] });
      assert.ok('refusal' in answer, JSON.stringify(answer));
      assert.equal(answer.refusal.code, 'exchange_failed');
      assert.match(answer.refusal.detail ?? '', /HTTP 429 rate_limited/);
      assert.equal(headers[0]!.authorization, undefined);
      assert.equal(forwarded, 0, 'the model server got a request');
    } finally {
      s.close();
    }
  });

  it('refuses a plain-HTTP secret service URL', () => {
    assert.throws(() => secretServiceExchange({ url: 'http://127.0.0.1:1' }), /must be https/);
  });
});
