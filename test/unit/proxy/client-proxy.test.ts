// The official openai npm client against the client proxy, which passes each request through an
// inference session to the real worker proxy in front of the embedded model server: chat, chat
// streaming, completions (streamed too), embeddings and models, with a secret from a real key
// exchange with the real secret service (a real etcd on loopback), which releases the secret to
// the worker proxy over mTLS with its workload certificate.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { type ModelServer, startModelServer } from '../../../src/model-server/server.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { secretServiceExchange } from '../../../src/proxy/secret-exchange.ts';
import { type ClientProxy, startClientProxy } from '../../../src/proxy/server.ts';
import { InferenceSession } from '../../../src/proxy/session.ts';
import { startWorkerProxy, type WorkerProxy } from '../../../src/worker/worker-proxy.ts';
import { meshCa, POLICIES, workerVolume } from './chain-fixture.ts';
import { type RealSecretService, startRealSecretService } from './real-secret-service.ts';
import { type Relay, startRelay } from './tampering-relay.ts';

const MARKER = `marker-${Math.random().toString(36).slice(2)}`;

describe('client proxy with the official openai client', () => {
  let mesh: CertificateAuthority;
  let model: ModelServer;
  let volume: Awaited<ReturnType<typeof workerVolume>>;
  let relayVolume: Awaited<ReturnType<typeof workerVolume>>;
  let worker: WorkerProxy;
  let relay: Relay;
  let session: InferenceSession;
  let proxy: ClientProxy;
  let client: OpenAI;
  let service: RealSecretService;
  const seen: string[] = [];

  before(async () => {
    mesh = await meshCa();
    model = await startModelServer({ host: '127.0.0.1', onRequest: (_p, b) => seen.push(JSON.stringify(b) ?? '') });
    service = await startRealSecretService(mesh);
    volume = await workerVolume(mesh);
    worker = await startWorkerProxy({
      host: '127.0.0.1',
      certificateDir: volume.dir,
      upstream: model.url.replace(/\/v1$/, ''),
      secrets: await service.releasedTo(volume.dir),
    });
    relayVolume = await workerVolume(mesh);
    relay = await startRelay({ cert: relayVolume.cert, key: relayVolume.key, target: worker.url, ca: mesh.pem });
    session = new InferenceSession({
      meshCA: mesh.pem,
      manifest: { policies: POLICIES },
      exchange: secretServiceExchange({ url: service.url, ca: mesh.pem, ignoreHostName: true }),
      endpoint: relay.url,
    });
    proxy = await startClientProxy({ listen: { host: '127.0.0.1', port: 0 }, session });
    client = new OpenAI({ baseURL: proxy.url, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    await proxy?.close();
    session?.close();
    await relay?.close();
    await worker?.close();
    await model?.close();
    await service?.close();
    await volume?.remove();
    await relayVolume?.remove();
  });
  beforeEach(() => {
    relay.rewrite = (text) => text;
    relay.requests.length = 0;
  });
  afterEach(() => {
    assert.ok(!relay.requests.some((r) => r.includes(MARKER)), 'a prompt crossed the network in plaintext');
  });

  it('chat: the answer repeats the prompt, which reached the model server and nothing between', async () => {
    const answer = await client.chat.completions.create({
      model: 'attestor-echo',
      messages: [{ role: 'user', content: `Say ${MARKER}` }],
    });
    assert.match(answer.choices[0]!.message.content ?? '', new RegExp(MARKER));
    assert.equal(answer.object, 'chat.completion');
    assert.ok(seen.some((b) => b.includes(MARKER)));
  });

  it('chat streaming: the deltas add up to the answer, and the stream ends cleanly', async () => {
    const stream = await client.chat.completions.create({
      model: 'attestor-echo',
      messages: [{ role: 'user', content: `Stream ${MARKER}` }],
      stream: true,
    });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.match(text, new RegExp(MARKER));
    assert.equal(finish, 'stop');
  });

  it('completions, whole and streamed', async () => {
    const whole = await client.completions.create({ model: 'attestor-echo', prompt: `Complete ${MARKER}` });
    assert.match(whole.choices[0]!.text, new RegExp(MARKER));
    const stream = await client.completions.create({
      model: 'attestor-echo',
      prompt: `Complete ${MARKER}`,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, whole.choices[0]!.text);
  });

  it('embeddings and models', async () => {
    const e = await client.embeddings.create({ model: 'attestor-echo', input: [MARKER, 'second'] });
    assert.equal(e.data.length, 2);
    assert.ok(e.data[0]!.embedding.length > 0);
    const models = await client.models.list();
    assert.deepEqual(
      models.data.map((m) => m.id),
      ['attestor-echo'],
    );
  });

  it('shows a stream ended by an injected plaintext [DONE] as an error, not as a complete answer', async () => {
    relay.rewrite = (text) => {
      const events = text.split(/(?<=\n\n)/).filter((e) => e.trim() !== '');
      return [...events.slice(0, -2), 'data: [DONE]\n\n'].join('');
    };
    const stream = await client.chat.completions.create({
      model: 'attestor-echo',
      messages: [{ role: 'user', content: `Stream ${MARKER}` }],
      stream: true,
    });
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (err: unknown) => err instanceof OpenAI.APIError && (err.error as { code?: string }).code === 'stream_truncated',
    );
  });

  it('shows a tampered answer as an OpenAI error with the code response_tampered', async () => {
    relay.rewrite = (text) => {
      const answer = JSON.parse(text);
      answer.encryption.iv = Buffer.alloc(12).toString('base64');
      return JSON.stringify(answer);
    };
    await assert.rejects(
      client.chat.completions.create({ model: 'attestor-echo', messages: [{ role: 'user', content: MARKER }] }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 502 && err.code === 'response_tampered',
    );
  });
});
