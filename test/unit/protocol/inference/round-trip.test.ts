// The whole inference protocol in one process: a client exchanges a secret with a secret service
// that holds a workload certificate from a test mesh CA, encrypts a chat request, a worker side
// decrypts it (secret looked up by ID, replay window), asks the embedded model server, and
// encrypts its answer, whole and streamed event by event; the client decrypts it. Nothing of the
// prompt or the answer is on the wire in plaintext.
import assert from 'node:assert/strict';
import { type ModelServer, startModelServer } from '../../../../src/model-server/server.ts';
import { inferenceErrorResponse } from '../../../../src/protocol/inference/errors.ts';
import { CHAT_COMPLETIONS_PATH, isEncryptedPath } from '../../../../src/protocol/inference/fields.ts';
import {
  acceptKeyExchange,
  answerKeyExchange,
  keyExchangeRequest,
  newClientKeyPair,
  parseKeyExchangeRequest,
} from '../../../../src/protocol/inference/key-exchange.ts';
import {
  newNonce,
  openBody,
  openResponse,
  type RecordContext,
  readWireBody,
  requestContext,
  sealRequest,
  sealResponse,
} from '../../../../src/protocol/inference/records.ts';
import { ReplayWindow } from '../../../../src/protocol/inference/replay-window.ts';
import { SseReader, sseEvent } from '../../../../src/protocol/inference/sse.ts';
import { StreamOpener, StreamSealer } from '../../../../src/protocol/inference/streams.ts';
import { NOW, POLICIES, serviceIdentity } from './service-identity.ts';

const MARKER = `marker-${Math.random().toString(36).slice(2)}`;

/** The worker's side, in-process: what the worker proxy will do, with the I/O of HTTP left out. */
function worker(secrets: Map<string, Uint8Array>, model: ModelServer) {
  const replay = new ReplayWindow();
  return async (path: string, wireBody: unknown): Promise<{ status: number; text: string }> => {
    if (!isEncryptedPath(path)) return { status: 404, text: '' };
    const wire = readWireBody(wireBody, path, 'request');
    if ('refusal' in wire) return refuse(wire.refusal);
    const secret = secrets.get(wire.envelope.secretId);
    if (secret === undefined) return refuse({ code: 'unknown_secret' });
    const context = requestContext(wire, path, secret);
    const opened = openBody(context, wire, { direction: 'request', sequence: 0, final: true });
    if ('refusal' in opened) return refuse(opened.refusal);
    const nonce = Buffer.from(wire.envelope.nonce).toString('base64');
    const fresh = replay.accept(wire.envelope.secretId, nonce, opened.timestamp, Date.now());
    if (!fresh.accepted) return refuse({ code: fresh.reason === 'replayed' ? 'replayed' : 'stale_timestamp' });
    const upstream = await fetch(`${model.url.replace(/\/v1$/, '')}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(opened.body),
    });
    if (opened.body.stream !== true)
      return {
        status: upstream.status,
        text: JSON.stringify(sealResponse(context, (await upstream.json()) as Record<string, unknown>, Date.now())),
      };
    const sealer = new StreamSealer(context);
    const reader = new SseReader();
    let out = '';
    const decoder = new TextDecoder();
    for await (const piece of upstream.body as AsyncIterable<Uint8Array>)
      for (const data of reader.push(decoder.decode(piece, { stream: true })))
        if (data === '[DONE]') for (const end of sealer.finish(Date.now())) out += sseEvent(end);
        else out += sseEvent(sealer.event(JSON.parse(data), Date.now()));
    return { status: upstream.status, text: out };
  };
}

function refuse(refusal: Parameters<typeof inferenceErrorResponse>[0]) {
  const { status, body } = inferenceErrorResponse(refusal);
  return { status, text: JSON.stringify(body) };
}

describe('inference protocol round trip (key exchange, encrypted chat, streamed answer)', () => {
  let model: ModelServer;
  const seenByModel: string[] = [];
  before(async () => {
    model = await startModelServer({ onRequest: (_path, body) => seenByModel.push(JSON.stringify(body)) });
  });
  after(async () => {
    await model?.close();
  });

  it('answers an encrypted chat, whole and streamed, with the prompt and answer in plaintext only at the ends', async () => {
    // The key exchange, through JSON as it travels.
    const service = await serviceIdentity();
    const secrets = new Map<string, Uint8Array>();
    const pair = await newClientKeyPair();
    const request = parseKeyExchangeRequest(JSON.parse(JSON.stringify(keyExchangeRequest(pair))));
    assert.ok(!('error' in request));
    const exchanged = await answerKeyExchange({
      clientPublicKey: request.publicKey,
      signingKey: service.signingKey,
      certificateChain: service.certificateChain,
      expiresAt: new Date(NOW.getTime() + 3_600_000),
    });
    assert.ok(!('error' in exchanged));
    secrets.set(exchanged.secretId, exchanged.secret);
    const accepted = await acceptKeyExchange({
      pair,
      response: JSON.parse(JSON.stringify(exchanged.response)),
      meshCA: service.mesh.pem,
      policies: POLICIES,
      at: NOW,
    });
    assert.ok(accepted.accepted, JSON.stringify(!accepted.accepted && accepted.reasons));
    const serve = worker(secrets, model);
    const wireSeen: string[] = [];

    // A whole answer.
    const chat = { model: 'attestor-echo', messages: [{ role: 'user', content: `tell me ${MARKER}` }] };
    const whole: RecordContext = { ...accepted, nonce: newNonce(), path: CHAT_COMPLETIONS_PATH };
    const wireRequest = JSON.stringify(sealRequest(whole, chat, Date.now()));
    wireSeen.push(wireRequest);
    const answer = await serve(CHAT_COMPLETIONS_PATH, JSON.parse(wireRequest));
    wireSeen.push(answer.text);
    assert.equal(answer.status, 200, answer.text);
    const opened = openResponse(whole, JSON.parse(answer.text));
    assert.ok('body' in opened, JSON.stringify(opened));
    const choices = opened.body.choices as Array<{ message: { content: string } }>;
    assert.equal(choices[0]!.message.content, `You said: tell me ${MARKER}`);

    // The same request again is a replay.
    const again = await serve(CHAT_COMPLETIONS_PATH, JSON.parse(wireRequest));
    assert.equal(again.status, 400);
    assert.equal(JSON.parse(again.text).error.code, 'replayed');

    // A streamed answer, every event a record, ending with the authenticated final record.
    const streamed: RecordContext = { ...accepted, nonce: newNonce(), path: CHAT_COMPLETIONS_PATH };
    const streamRequest = JSON.stringify(sealRequest(streamed, { ...chat, stream: true }, Date.now()));
    wireSeen.push(streamRequest);
    const stream = await serve(CHAT_COMPLETIONS_PATH, JSON.parse(streamRequest));
    wireSeen.push(stream.text);
    const opener = new StreamOpener(streamed);
    const reader = new SseReader();
    let text = '';
    let done = false;
    for (const data of reader.push(stream.text)) {
      const step = opener.next(data);
      assert.ok(!('refusal' in step), JSON.stringify(step));
      if ('events' in step)
        for (const event of step.events)
          text += (event.choices as Array<{ delta: { content?: string } }>)[0]?.delta.content ?? '';
      if ('done' in step) done = true;
    }
    assert.equal(opener.end(), undefined);
    assert.ok(done);
    assert.equal(text, `You said: tell me ${MARKER}`);
    assert.ok(stream.text.endsWith('data: [DONE]\n\n'));

    // Only the ends saw the marker: the model server's input, and the client's output.
    assert.ok(seenByModel.some((body) => body.includes(MARKER)));
    for (const wire of wireSeen) assert.ok(!wire.includes(MARKER), `the marker on the wire: ${wire.slice(0, 200)}`);
  });

  it('refuses a plaintext request before the model server sees it, and a request under an unknown secret', async () => {
    const serve = worker(new Map(), model);
    const before = seenByModel.length;
    const plain = await serve(CHAT_COMPLETIONS_PATH, {
      model: 'attestor-echo',
      messages: [{ role: 'user', content: MARKER }],
    });
    assert.equal(plain.status, 400);
    assert.equal(JSON.parse(plain.text).error.code, 'not_encrypted');
    const stranger: RecordContext = {
      secret: new Uint8Array(32),
      secretId: Buffer.alloc(32, 1).toString('base64'),
      nonce: newNonce(),
      path: CHAT_COMPLETIONS_PATH,
    };
    const unknown = await serve(CHAT_COMPLETIONS_PATH, sealRequest(stranger, { model: 'attestor-echo' }, Date.now()));
    assert.equal(unknown.status, 401);
    assert.equal(JSON.parse(unknown.text).error.code, 'unknown_secret');
    assert.equal(seenByModel.length, before, 'the model server saw neither');
  });
});
