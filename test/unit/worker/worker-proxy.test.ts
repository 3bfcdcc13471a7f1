// The worker proxy on loopback, in front of the real embedded model server: it serves TLS with the
// pod's workload certificate (and the renewed one once attestor init replaces it), decrypts a
// request sealed under a secret from a real key exchange, forwards the plaintext, seals the answer
// whole or event by event, and refuses what is not encrypted, tampered, replayed, under an unknown
// secret, too large or to another endpoint, before the model server sees anything of it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { waitFor } from '../../../src/dev/wait.ts';
import { type ModelServer, startModelServer } from '../../../src/model-server/server.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { inferenceErrorCode } from '../../../src/protocol/inference/errors.ts';
import {
  acceptKeyExchange,
  keyExchangeRequest,
  newClientKeyPair,
} from '../../../src/protocol/inference/key-exchange.ts';
import {
  BATCHED_RECORD_VERSION,
  newNonce,
  openResponse,
  RECORD_VERSION,
  type RecordContext,
  sealBody,
  sealRequest,
} from '../../../src/protocol/inference/records.ts';
import { SseReader } from '../../../src/protocol/inference/sse.ts';
import { StreamOpener } from '../../../src/protocol/inference/streams.ts';
import { startWorkerProxy, type WorkerProxy } from '../../../src/worker/worker-proxy.ts';
import { meshCa, POLICIES, renewVolume, testSecretService, workerVolume } from '../proxy/chain-fixture.ts';

const run = promisify(execFile);
const MARKER = `marker-${Math.random().toString(36).slice(2)}`;

interface Reply {
  status: number;
  text: string;
  json(): unknown;
}

function post(url: string, ca: string, path: string, body: unknown): Promise<Reply> {
  return send(url, ca, path, 'POST', typeof body === 'string' ? body : JSON.stringify(body));
}

function send(url: string, ca: string, path: string, method: string, payload?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const call = request(
      new URL(path, url),
      {
        method,
        ca,
        allowPartialTrustChain: true,
        checkServerIdentity: () => undefined,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) }));
      },
    );
    call.on('error', reject);
    call.end(payload);
  });
}

describe('worker proxy', () => {
  let mesh: CertificateAuthority;
  let volume: Awaited<ReturnType<typeof workerVolume>>;
  let model: ModelServer;
  let proxy: WorkerProxy;
  let service: Awaited<ReturnType<typeof testSecretService>>;
  let secret: { secret: Uint8Array; secretId: string };
  const seen: string[] = [];

  before(async () => {
    mesh = await meshCa();
    volume = await workerVolume(mesh);
    service = await testSecretService(mesh);
    model = await startModelServer({
      host: '127.0.0.1',
      onRequest: (_p, body) => seen.push(JSON.stringify(body) ?? ''),
    });
    proxy = await startWorkerProxy({
      host: '127.0.0.1',
      certificateDir: volume.dir,
      upstream: model.url.replace(/\/v1$/, ''),
      secrets: service.lookup,
      bodyLimitBytes: 64 * 1024,
    });
    const pair = await newClientKeyPair();
    const accepted = await acceptKeyExchange({
      pair,
      response: await service.exchange(keyExchangeRequest(pair)),
      meshCA: mesh.pem,
      policies: POLICIES,
      at: new Date(),
    });
    assert.ok(accepted.accepted);
    secret = accepted;
  });
  after(async () => {
    await proxy?.close();
    await model?.close();
    await volume?.remove();
  });
  beforeEach(() => {
    seen.length = 0;
  });

  const context = (path: RecordContext['path'] = '/v1/chat/completions'): RecordContext => ({
    secret: secret.secret,
    secretId: secret.secretId,
    nonce: newNonce(),
    path,
  });
  const chat = (content = `Hello ${MARKER}`) => ({
    model: 'attestor-echo',
    messages: [{ role: 'user', content }],
  });
  const assertUnseen = () => assert.ok(!seen.some((b) => b.includes(MARKER)), 'the model server saw the request');

  it('decrypts a chat request, forwards the plaintext, and seals the answer as one record', async () => {
    const c = context();
    const reply = await post(proxy.url, mesh.pem, c.path, sealRequest(c, chat(), Date.now()));
    assert.equal(reply.status, 200, reply.text);
    assert.ok(!reply.text.includes(MARKER), 'the answer travels encrypted');
    const opened = openResponse(c, reply.json());
    assert.ok('body' in opened, JSON.stringify(opened));
    const choices = opened.body.choices as Array<{ message: { content: string } }>;
    assert.match(choices[0]!.message.content, new RegExp(MARKER));
    assert.ok(
      seen.some((b) => b.includes(MARKER)),
      'the model server got the plaintext',
    );
  });

  it('seals every event of a streamed answer and ends with the authenticated final record', async () => {
    const c = context();
    const reply = await post(proxy.url, mesh.pem, c.path, sealRequest(c, { ...chat(), stream: true }, Date.now()));
    assert.equal(reply.status, 200);
    assert.ok(!reply.text.includes(MARKER));
    const opener = new StreamOpener(c);
    const reader = new SseReader();
    let text = '';
    let done = false;
    for (const data of reader.push(reply.text)) {
      const step = opener.next(data);
      assert.ok(!('refusal' in step), JSON.stringify(step));
      if ('events' in step)
        for (const event of step.events) {
          const delta = (event.choices as Array<{ delta: { content?: string } }>)[0]?.delta.content;
          text += delta ?? '';
        }
      if ('done' in step) done = true;
    }
    assert.equal(opener.end(), undefined);
    assert.ok(done);
    assert.match(text, new RegExp(MARKER));
  });

  it('answers a version 2 request with batched records (the events of a read together) and a version 1 request with a record per event', async () => {
    const long = { ...chat(`${'word '.repeat(150)}${MARKER}`), stream: true };
    const texts: Record<number, { records: number; events: number; text: string }> = {};
    for (const version of [BATCHED_RECORD_VERSION, RECORD_VERSION] as const) {
      const c = { ...context(), version };
      const reply = await post(proxy.url, mesh.pem, c.path, sealRequest(c, long, Date.now()));
      assert.equal(reply.status, 200);
      assert.ok(!reply.text.includes(MARKER));
      const opener = new StreamOpener(c);
      const reader = new SseReader();
      let records = 0;
      let events = 0;
      let text = '';
      let done = false;
      for (const data of reader.push(reply.text)) {
        if (data !== '[DONE]') {
          records++;
          assert.equal(JSON.parse(data).encryption.version, version);
        }
        const step = opener.next(data);
        assert.ok(!('refusal' in step), JSON.stringify(step));
        if ('events' in step)
          for (const event of step.events) {
            events++;
            text += (event.choices as Array<{ delta: { content?: string } }>)[0]?.delta.content ?? '';
          }
        if ('done' in step) done = true;
      }
      assert.ok(done && opener.end() === undefined);
      texts[version] = { records, events, text };
    }
    const v1 = texts[RECORD_VERSION]!;
    const v2 = texts[BATCHED_RECORD_VERSION]!;
    assert.equal(v2.text, v1.text);
    assert.match(v2.text, new RegExp(MARKER));
    assert.equal(v2.events, v1.events);
    assert.equal(v1.records, v1.events + 1, 'version 1: a record per event and the empty final record');
    assert.ok(v2.records < v2.events / 2, `version 2: ${v2.records} records for ${v2.events} events`);
  });

  it('seals completions and embeddings, and passes /v1/models through', async () => {
    const completions = context('/v1/completions');
    const c = await post(
      proxy.url,
      mesh.pem,
      completions.path,
      sealRequest(completions, { model: 'attestor-echo', prompt: MARKER }, Date.now()),
    );
    const cBody = openResponse(completions, c.json());
    assert.ok('body' in cBody, JSON.stringify(cBody));
    assert.match(JSON.stringify(cBody.body.choices), new RegExp(MARKER));
    const embeddings = context('/v1/embeddings');
    const e = await post(
      proxy.url,
      mesh.pem,
      embeddings.path,
      sealRequest(embeddings, { model: 'attestor-echo', input: MARKER }, Date.now()),
    );
    const eBody = openResponse(embeddings, e.json());
    assert.ok('body' in eBody, JSON.stringify(eBody));
    assert.equal((eBody.body.data as unknown[]).length, 1);
    const models = await send(proxy.url, mesh.pem, '/v1/models', 'GET');
    assert.equal(models.status, 200);
    assert.equal((models.json() as { data: Array<{ id: string }> }).data[0]!.id, 'attestor-echo');
  });

  it('refuses a plaintext request (curl) with not_encrypted, and the model server never sees it', async () => {
    const caFile = join(volume.dir, 'test-mesh-ca.pem');
    await writeFile(caFile, mesh.pem);
    const { stdout } = await run('curl', [
      '-sS',
      '--cacert',
      caFile,
      '-w',
      '\n%{http_code}',
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify(chat()),
      `${proxy.url}/v1/chat/completions`,
    ]);
    const [body, status] = stdout.split('\n');
    assert.equal(status, '400');
    assert.equal(inferenceErrorCode(JSON.parse(body!)), 'not_encrypted');
    assertUnseen();
  });

  it('refuses a flipped ciphertext byte (tampered) before the model server sees it', async () => {
    const c = context();
    const wire = sealRequest(c, chat(), Date.now()) as { encryption: { ciphertext: string } };
    const bytes = Buffer.from(wire.encryption.ciphertext, 'base64');
    bytes[3]! ^= 0x01;
    wire.encryption.ciphertext = bytes.toString('base64');
    const reply = await post(proxy.url, mesh.pem, c.path, wire);
    assert.equal(reply.status, 400);
    assert.equal(inferenceErrorCode(reply.json()), 'tampered');
    assertUnseen();
  });

  it('refuses a changed plaintext field and a sequence number other than 0 (tampered)', async () => {
    const c = context();
    const wire = sealRequest(c, { ...chat(), max_tokens: 4 }, Date.now());
    const reply = await post(proxy.url, mesh.pem, c.path, { ...wire, max_tokens: 400 });
    assert.equal(inferenceErrorCode(reply.json()), 'tampered');
    const s = context();
    const swapped = sealBody(s, { direction: 'request', sequence: 1, timestamp: Date.now(), final: true }, chat());
    const reply2 = await post(proxy.url, mesh.pem, s.path, swapped);
    assert.equal(reply2.status, 400);
    assert.equal(inferenceErrorCode(reply2.json()), 'tampered');
    assertUnseen();
  });

  it('refuses a replayed request: the first is answered, the same bytes again are not', async () => {
    const c = context();
    const wire = sealRequest(c, chat(), Date.now());
    assert.equal((await post(proxy.url, mesh.pem, c.path, wire)).status, 200);
    seen.length = 0;
    const again = await post(proxy.url, mesh.pem, c.path, wire);
    assert.equal(again.status, 400);
    assert.equal(inferenceErrorCode(again.json()), 'replayed');
    assertUnseen();
  });

  it('refuses a request outside the clock skew (stale_timestamp)', async () => {
    const c = context();
    const reply = await post(proxy.url, mesh.pem, c.path, sealRequest(c, chat(), Date.now() - 10 * 60_000));
    assert.equal(inferenceErrorCode(reply.json()), 'stale_timestamp');
    assertUnseen();
  });

  it('refuses an unknown secret ID with 401 unknown_secret', async () => {
    const c = { ...context(), secretId: Buffer.alloc(32, 7).toString('base64') };
    const reply = await post(proxy.url, mesh.pem, c.path, sealRequest(c, chat(), Date.now()));
    assert.equal(reply.status, 401);
    assert.equal(inferenceErrorCode(reply.json()), 'unknown_secret');
    assertUnseen();
  });

  it('refuses protected fields in plaintext beside the envelope (downgrade)', async () => {
    const c = context();
    const wire = sealRequest(c, { model: 'attestor-echo', messages: [] }, Date.now());
    const reply = await post(proxy.url, mesh.pem, c.path, { ...wire, messages: chat().messages });
    assert.equal(inferenceErrorCode(reply.json()), 'downgrade');
    assertUnseen();
  });

  it("answers the kubelet's probe on GET /healthz (curl, as an HTTPS probe) without reaching the model server, and refuses other methods there", async () => {
    const caFile = join(volume.dir, 'test-mesh-ca.pem');
    await writeFile(caFile, mesh.pem);
    const { stdout } = await run('curl', ['-sS', '--cacert', caFile, '-w', '%{http_code}', `${proxy.url}/healthz`]);
    assert.equal(stdout, 'ok\n200');
    assert.deepEqual(seen, [], 'the probe does not reach the model server');
    const posted = await post(proxy.url, mesh.pem, '/healthz', { input: MARKER });
    assert.equal(posted.status, 404);
    assert.equal(inferenceErrorCode(posted.json()), 'endpoint_not_allowed');
  });

  it('refuses other endpoints (endpoint_not_allowed) and bodies over the limit (request_too_large)', async () => {
    const other = await post(proxy.url, mesh.pem, '/v1/audio/speech', { input: MARKER });
    assert.equal(other.status, 404);
    assert.equal(inferenceErrorCode(other.json()), 'endpoint_not_allowed');
    const c = context();
    const big = await post(proxy.url, mesh.pem, c.path, sealRequest(c, chat(MARKER.repeat(10_000)), Date.now()));
    assert.equal(big.status, 413);
    assert.equal(inferenceErrorCode(big.json()), 'request_too_large');
    assertUnseen();
  });

  it('refuses a secret past its expiry as unknown_secret, and answers secret_store_unavailable when the lookup fails', async () => {
    const stores = [
      { get: async () => ({ secret: secret.secret, expiresAt: new Date(Date.now() - 1) }) },
      {
        get: async (): Promise<undefined> => {
          throw new Error('etcd unreachable');
        },
      },
    ];
    const expected = [
      [401, 'unknown_secret'],
      [503, 'secret_store_unavailable'],
    ];
    for (const [i, secrets] of stores.entries()) {
      const other = await startWorkerProxy({
        host: '127.0.0.1',
        certificateDir: volume.dir,
        upstream: model.url.replace(/\/v1$/, ''),
        secrets,
      });
      try {
        const c = context();
        const reply = await post(other.url, mesh.pem, c.path, sealRequest(c, chat(), Date.now()));
        assert.deepEqual([reply.status, inferenceErrorCode(reply.json())], expected[i]);
      } finally {
        await other.close();
      }
    }
    assertUnseen();
  });

  it('answers upstream_unavailable when the model server does not answer', async () => {
    const down = await startWorkerProxy({
      host: '127.0.0.1',
      certificateDir: volume.dir,
      upstream: 'http://127.0.0.1:9',
      secrets: service.lookup,
    });
    try {
      const c = context();
      const reply = await post(down.url, mesh.pem, c.path, sealRequest(c, chat(), Date.now()));
      assert.equal(reply.status, 502);
      assert.equal(inferenceErrorCode(reply.json()), 'upstream_unavailable');
    } finally {
      await down.close();
    }
  });

  it('serves the renewed certificate once attestor init replaces cert.pem and key.pem', async () => {
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const call = request(
          new URL('/v1/models', proxy.url),
          { ca: mesh.pem, allowPartialTrustChain: true, checkServerIdentity: () => undefined, agent: false },
          (res) => {
            const cert = (res.socket as TLSSocket).getPeerX509Certificate();
            res.resume();
            resolve(cert?.serialNumber ?? '');
          },
        );
        call.on('error', reject);
        call.end();
      });
    const before = await served();
    assert.equal(before, new X509Certificate(volume.cert).serialNumber);
    const renewed = new X509Certificate(await renewVolume(mesh, volume.dir)).serialNumber;
    assert.notEqual(renewed, before);
    await waitFor(async () => (await served()) === renewed, {
      timeoutMs: 10_000,
      description: 'the renewed certificate',
    });
  });
});
