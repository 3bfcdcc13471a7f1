// The client's inference session against the real worker proxy and the embedded model server on
// loopback, with a secret from a real key exchange: it sends only to a worker certified by the
// attested mesh CA with the worker role of a pinned policy, renews and re-exchanges its secret, and
// refuses answers that were changed on the way: a flipped byte, protected fields in plaintext,
// swapped events, a stream cut short or ended by a plaintext [DONE].
import assert from 'node:assert/strict';
import { type ModelServer, startModelServer } from '../../../src/model-server/server.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { InferenceSession, type SessionAnswer, type StreamItem } from '../../../src/proxy/session.ts';
import { startWorkerProxy, type WorkerProxy } from '../../../src/worker/worker-proxy.ts';
import { meshCa, POLICIES, testSecretService, workerVolume } from './chain-fixture.ts';
import { type Relay, startRelay } from './tampering-relay.ts';

const MARKER = `marker-${Math.random().toString(36).slice(2)}`;
const chat = { model: 'attestor-echo', messages: [{ role: 'user', content: `Hello ${MARKER}` }] };

function body(answer: SessionAnswer): { status: number; body: Record<string, unknown> } {
  assert.ok('body' in answer, JSON.stringify(answer));
  return answer as { status: number; body: Record<string, unknown> };
}

function refusal(answer: SessionAnswer): string {
  assert.ok('refusal' in answer, `expected a refusal, got ${JSON.stringify(answer)}`);
  return answer.refusal.code;
}

async function collect(answer: SessionAnswer): Promise<StreamItem[]> {
  assert.ok('events' in answer, JSON.stringify(answer));
  const items: StreamItem[] = [];
  for await (const item of answer.events) items.push(item);
  return items;
}

/** The SSE events of a stream's text, each as its whole `data: ...\n\n` block. */
const events = (text: string) => text.split(/(?<=\n\n)/).filter((e) => e.trim() !== '');

describe('inference session', () => {
  let mesh: CertificateAuthority;
  let model: ModelServer;
  let service: Awaited<ReturnType<typeof testSecretService>>;
  let volume: Awaited<ReturnType<typeof workerVolume>>;
  let worker: WorkerProxy;
  let relay: Relay;
  /** A relay to a worker whose model server paces its tokens: each read one event, so a stream is several records. */
  let pacedRelay: Relay;
  const seen: string[] = [];
  const cleanup: Array<() => Promise<void> | void> = [];

  const session = (endpoint: string, exchange = service.exchange, renewBeforeMs?: number) => {
    const s = new InferenceSession({
      meshCA: mesh.pem,
      manifest: { policies: POLICIES },
      exchange,
      endpoint,
      ...(renewBeforeMs === undefined ? {} : { renewBeforeMs }),
    });
    cleanup.push(() => s.close());
    return s;
  };
  const workerWith = async (dir: string, lookup = service.lookup) => {
    const w = await startWorkerProxy({
      host: '127.0.0.1',
      certificateDir: dir,
      upstream: model.url.replace(/\/v1$/, ''),
      secrets: lookup,
    });
    cleanup.push(() => w.close());
    return w;
  };
  const unseen = () => assert.ok(!seen.some((b) => b.includes(MARKER)), 'the model server saw the prompt');

  before(async () => {
    mesh = await meshCa();
    model = await startModelServer({ host: '127.0.0.1', onRequest: (_p, b) => seen.push(JSON.stringify(b) ?? '') });
    service = await testSecretService(mesh);
    volume = await workerVolume(mesh);
    worker = await workerWith(volume.dir);
    const relayVolume = await workerVolume(mesh);
    cleanup.push(() => relayVolume.remove());
    relay = await startRelay({ cert: relayVolume.cert, key: relayVolume.key, target: worker.url, ca: mesh.pem });
    const paced = await startModelServer({ host: '127.0.0.1', tokenDelayMs: 20 });
    cleanup.push(() => paced.close());
    const pacedWorker = await startWorkerProxy({
      host: '127.0.0.1',
      certificateDir: volume.dir,
      upstream: paced.url.replace(/\/v1$/, ''),
      secrets: service.lookup,
    });
    cleanup.push(() => pacedWorker.close());
    pacedRelay = await startRelay({
      cert: relayVolume.cert,
      key: relayVolume.key,
      target: pacedWorker.url,
      ca: mesh.pem,
    });
    cleanup.push(() => pacedRelay.close());
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
    await relay?.close();
    await model?.close();
    await volume?.remove();
  });
  beforeEach(() => {
    seen.length = 0;
    relay.rewrite = (text) => text;
    relay.requests.length = 0;
    if (pacedRelay) pacedRelay.rewrite = (text) => text;
  });

  it('sends a chat request encrypted and decrypts the answer; neither travels in plaintext', async () => {
    const s = session(relay.url);
    const answer = body(await s.send('POST', '/v1/chat/completions', chat));
    assert.equal(answer.status, 200);
    const choices = answer.body.choices as Array<{ message: { content: string } }>;
    assert.match(choices[0]!.message.content, new RegExp(MARKER));
    assert.ok(
      seen.some((b) => b.includes(MARKER)),
      'the model server got the prompt',
    );
    assert.equal(relay.requests.length, 1);
    assert.ok(!relay.requests[0]!.includes(MARKER), 'the request was on the wire in plaintext');
    assert.equal(JSON.parse(relay.requests[0]!).encryption.version, 2, 'the client sends record version 2');
  });

  it('decrypts a stream event by event and completes only at the final record', async () => {
    const s = session(worker.url);
    const items = await collect(await s.send('POST', '/v1/chat/completions', { ...chat, stream: true }));
    assert.ok(items.length > 1);
    assert.ok(
      items.every((i) => 'event' in i),
      JSON.stringify(items),
    );
    type Chunk = { choices: Array<{ delta: { content?: string } }> };
    const text = items.map((i) => ('event' in i ? ((i.event as Chunk).choices[0]?.delta.content ?? '') : '')).join('');
    assert.match(text, new RegExp(MARKER));
  });

  it('still speaks record version 1 when told to (workers that do not speak 2 yet), whole and streamed, and refuses an unknown version', async () => {
    const s = new InferenceSession({
      meshCA: mesh.pem,
      manifest: { policies: POLICIES },
      exchange: service.exchange,
      endpoint: relay.url,
      recordVersion: 1,
    });
    cleanup.push(() => s.close());
    const whole = body(await s.send('POST', '/v1/chat/completions', chat));
    assert.match(JSON.stringify(whole.body), new RegExp(MARKER));
    assert.equal(JSON.parse(relay.requests.at(-1)!).encryption.version, 1);
    const items = await collect(await s.send('POST', '/v1/chat/completions', { ...chat, stream: true }));
    assert.ok(items.length > 1 && items.every((i) => 'event' in i), JSON.stringify(items));
    assert.throws(
      () =>
        new InferenceSession({
          meshCA: mesh.pem,
          manifest: { policies: POLICIES },
          exchange: service.exchange,
          endpoint: relay.url,
          recordVersion: 3 as 1,
        }),
      /record version 3/,
    );
  });

  it('passes /v1/models through and refuses other endpoints without sending them', async () => {
    const s = session(worker.url);
    const models = body(await s.send('GET', '/v1/models'));
    assert.equal((models.body.data as Array<{ id: string }>)[0]!.id, 'attestor-echo');
    assert.equal(refusal(await s.send('POST', '/v1/images/generations', { prompt: MARKER })), 'endpoint_not_allowed');
    unseen();
  });

  it('exchanges one secret for many requests, and renews it within 15 minutes of its expiry', async () => {
    const s = session(worker.url);
    body(await s.send('POST', '/v1/chat/completions', chat));
    body(await s.send('POST', '/v1/embeddings', { model: 'attestor-echo', input: MARKER }));
    assert.equal(s.exchanges, 1);
    const short = await testSecretService(mesh, 10 * 60_000);
    const w = await workerWith(volume.dir, short.lookup);
    const renewing = session(w.url, short.exchange);
    body(await renewing.send('POST', '/v1/chat/completions', chat));
    body(await renewing.send('POST', '/v1/chat/completions', chat));
    assert.equal(renewing.exchanges, 2, 'a secret 10 minutes from expiry is renewed before the next request');
  });

  it('exchanges again once when the worker does not know the secret, then gives up with unknown_secret', async () => {
    const s = session(worker.url);
    body(await s.send('POST', '/v1/chat/completions', chat));
    service.secrets.clear();
    const again = body(await s.send('POST', '/v1/chat/completions', chat));
    assert.equal(again.status, 200);
    assert.equal(s.exchanges, 2);
    const forgetful = await workerWith(volume.dir, { get: async () => undefined });
    const lost = session(forgetful.url);
    const answer = body(await lost.send('POST', '/v1/chat/completions', chat));
    assert.equal(answer.status, 401);
    assert.equal((answer.body as { error: { code: string } }).error.code, 'unknown_secret');
    assert.equal(lost.exchanges, 2, 'exactly one more exchange');
  });

  it('refuses to send to a worker whose certificate comes from another mesh CA', async () => {
    const foreign = await workerVolume(await meshCa());
    cleanup.push(() => foreign.remove());
    const w = await workerWith(foreign.dir);
    seen.length = 0;
    assert.equal(refusal(await session(w.url).send('POST', '/v1/chat/completions', chat)), 'worker_unverified');
    unseen();
  });

  it('refuses to send to a workload of the mesh CA without the worker role or without an identity', async () => {
    for (const options of [{ role: 'secret-service' }, { withoutIdentity: true }]) {
      const other = await workerVolume(mesh, options);
      cleanup.push(() => other.remove());
      const w = await workerWith(other.dir);
      const answer = await session(w.url).send('POST', '/v1/chat/completions', chat);
      assert.equal(refusal(answer), 'worker_unverified');
      assert.match(
        (answer as { refusal: { detail: string } }).refusal.detail,
        /role secret-service|no workload identity/,
      );
    }
    unseen();
  });

  it('refuses a secret service certified by another mesh CA, and sends nothing', async () => {
    const foreign = await testSecretService(await meshCa());
    const answer = await session(worker.url, foreign.exchange).send('POST', '/v1/chat/completions', chat);
    assert.equal(refusal(answer), 'exchange_failed');
    assert.match((answer as { refusal: { detail: string } }).refusal.detail, /secret-service\.chain/);
    unseen();
  });

  it('verifies the Coordinator again when an exchange fails, and goes on under the mesh CA it attests now', async () => {
    const stale = await meshCa();
    let reverified = 0;
    const s = new InferenceSession({
      meshCA: stale.pem,
      manifest: { policies: POLICIES },
      exchange: service.exchange,
      endpoint: worker.url,
      reverify: async () => {
        reverified++;
        return { meshCA: mesh.pem, manifest: { policies: POLICIES } };
      },
    });
    cleanup.push(() => s.close());
    const answer = body(await s.send('POST', '/v1/chat/completions', chat));
    assert.equal(answer.status, 200);
    assert.equal(reverified, 1);
    assert.equal(s.exchanges, 1);
  });

  it('refuses with coordinator_unverified when the Coordinator no longer verifies, and sends nothing', async () => {
    const s = new InferenceSession({
      meshCA: (await meshCa()).pem,
      manifest: { policies: POLICIES },
      exchange: service.exchange,
      endpoint: worker.url,
      reverify: async () => undefined,
    });
    cleanup.push(() => s.close());
    assert.equal(refusal(await s.send('POST', '/v1/chat/completions', chat)), 'coordinator_unverified');
    unseen();
  });

  it('refuses an answer with a flipped ciphertext byte (response_tampered)', async () => {
    relay.rewrite = (text) => {
      const answer = JSON.parse(text);
      const bytes = Buffer.from(answer.encryption.ciphertext, 'base64');
      bytes[0]! ^= 0x80;
      answer.encryption.ciphertext = bytes.toString('base64');
      return JSON.stringify(answer);
    };
    assert.equal(refusal(await session(relay.url).send('POST', '/v1/chat/completions', chat)), 'response_tampered');
  });

  it('refuses an answer with its choices in plaintext (response_downgrade)', async () => {
    relay.rewrite = (text) =>
      JSON.stringify({
        ...JSON.parse(text),
        choices: [{ index: 0, message: { role: 'assistant', content: 'forged' } }],
      });
    assert.equal(refusal(await session(relay.url).send('POST', '/v1/chat/completions', chat)), 'response_downgrade');
    relay.rewrite = () => JSON.stringify({ id: 'x', object: 'chat.completion', choices: [] });
    assert.equal(refusal(await session(relay.url).send('POST', '/v1/chat/completions', chat)), 'response_downgrade');
  });

  it('refuses a stream whose records were swapped (response_tampered)', async () => {
    pacedRelay.rewrite = (text) => {
      const e = events(text);
      assert.ok(e.length >= 4, 'two records, the final record and [DONE] at least');
      [e[0], e[1]] = [e[1]!, e[0]!];
      return e.join('');
    };
    const items = await collect(
      await session(pacedRelay.url).send('POST', '/v1/chat/completions', { ...chat, stream: true }),
    );
    const last = items.at(-1)!;
    assert.ok('refusal' in last && last.refusal.code === 'response_tampered', JSON.stringify(last));
    assert.equal(items.filter((i) => 'event' in i).length, 0, 'nothing of a refused stream is passed on');
  });

  it('refuses a stream that the model server broke off: the worker proxy sends no final record', async () => {
    const slow = await startModelServer({ host: '127.0.0.1', tokenDelayMs: 20 });
    let closed: Promise<void> | undefined;
    try {
      const w = await startWorkerProxy({
        host: '127.0.0.1',
        certificateDir: volume.dir,
        upstream: slow.url.replace(/\/v1$/, ''),
        secrets: service.lookup,
      });
      cleanup.push(() => w.close());
      const long = { ...chat, messages: [{ role: 'user', content: 'word '.repeat(100) }], stream: true };
      const answer = await session(w.url).send('POST', '/v1/chat/completions', long);
      assert.ok('events' in answer, JSON.stringify(answer));
      const items: StreamItem[] = [];
      for await (const item of answer.events) {
        items.push(item);
        // The model server goes down after the first event.
        closed ??= slow.close();
      }
      const last = items.at(-1)!;
      assert.ok('refusal' in last && last.refusal.code === 'stream_truncated', JSON.stringify(last));
      assert.ok(items.length < 50, 'the stream did not run to its end');
    } finally {
      await (closed ?? slow.close());
    }
  });

  it('refuses a stream cut short, and one ended by a plaintext [DONE] (stream_truncated)', async () => {
    for (const injectDone of [false, true]) {
      // Drop the final record and the [DONE] after it; then inject a plaintext [DONE], or not.
      pacedRelay.rewrite = (text) => {
        const e = events(text);
        assert.equal(e.at(-1), 'data: [DONE]\n\n');
        return [...e.slice(0, -2), ...(injectDone ? ['data: [DONE]\n\n'] : [])].join('');
      };
      const items = await collect(
        await session(pacedRelay.url).send('POST', '/v1/chat/completions', { ...chat, stream: true }),
      );
      const last = items.at(-1)!;
      assert.ok('refusal' in last && last.refusal.code === 'stream_truncated', JSON.stringify(last));
      assert.ok(
        items.some((i) => 'event' in i),
        'the events before the cut decrypted',
      );
    }
  });
});
