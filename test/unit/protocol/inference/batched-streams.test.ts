// Record version 2: a streamed answer as one record per batch of events, the last batch in the
// authenticated final record. The client emits the events one by one, in order, and refuses
// reordered, spliced, replayed, truncated and downgraded streams and an injected plaintext [DONE],
// each as in version 1; the version itself is bound in the AAD, so no record or request moves
// between versions.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CHAT_COMPLETIONS_PATH } from '../../../../src/protocol/inference/fields.ts';
import {
  BATCHED_RECORD_VERSION,
  newNonce,
  openRequest,
  openResponse,
  RECORD_VERSION,
  type RecordContext,
  type RecordHeader,
  readWireBody,
  recordAad,
  requestContext,
  sealBatchJson,
  sealBody,
  sealRequest,
  sealResponse,
} from '../../../../src/protocol/inference/records.ts';
import {
  DONE,
  MAX_BATCH_BYTES,
  MAX_BATCH_EVENTS,
  StreamOpener,
  StreamSealer,
} from '../../../../src/protocol/inference/streams.ts';

const TS = Date.parse('2026-06-01T00:00:00Z');

function context(version: RecordContext['version'] = BATCHED_RECORD_VERSION): RecordContext {
  const secretId = createHash('sha256').update(randomBytes(32)).digest('base64');
  return {
    secret: new Uint8Array(randomBytes(32)),
    secretId,
    nonce: newNonce(),
    path: CHAT_COMPLETIONS_PATH,
    version,
  };
}

const chunk = (i: number, content: string) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1_780_000_000,
  model: 'attestor-echo',
  choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null, seq: i }],
});

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i} `);

/** A version 2 stream: `reads` are the events of each read from the model server; the last read ends with [DONE]. */
function stream(ctx: RecordContext, reads: string[][]): string[] {
  const sealer = new StreamSealer(ctx);
  const payloads: string[] = [];
  reads.forEach((read, r) => {
    const chunks = read.map((w, i) => chunk(i, w));
    if (r === reads.length - 1) payloads.push(...sealer.finish(TS + r, chunks));
    else payloads.push(...sealer.events(chunks, TS + r));
  });
  return payloads;
}

/** What the client makes of `payloads`: the contents of the events in order, [DONE] once complete. */
function replay(ctx: RecordContext, payloads: string[]) {
  const opener = new StreamOpener(ctx);
  const events: string[] = [];
  for (const payload of payloads) {
    const step = opener.next(payload);
    if ('refusal' in step) return { refusal: step.refusal, events };
    if ('events' in step)
      for (const event of step.events)
        events.push((event.choices as Array<{ delta: { content: string } }>)[0]!.delta.content);
    if ('done' in step) events.push(DONE);
  }
  const end = opener.end();
  return end ? { refusal: end.refusal, events } : { events };
}

const envelopeOf = (payload: string) => (JSON.parse(payload) as { encryption: Record<string, unknown> }).encryption;

describe('inference streams in batched records (version 2)', () => {
  it('seals the events of one read as one record, the last read in the final record, and the client emits every event in order', () => {
    const ctx = context();
    const payloads = stream(ctx, [['a', 'b', 'c'], ['d'], ['e', 'f']]);
    assert.equal(payloads.length, 4, 'three records (one per read, the last final) and [DONE]');
    assert.deepEqual(
      payloads.slice(0, 3).map((p) => [envelopeOf(p).version, envelopeOf(p).sequence, envelopeOf(p).final]),
      [
        [2, 0, false],
        [2, 1, false],
        [2, 2, true],
      ],
    );
    assert.equal(payloads[3], DONE);
    assert.deepEqual(replay(ctx, payloads), { events: ['a', 'b', 'c', 'd', 'e', 'f', DONE] });
  });

  it('keeps the plaintext fields of every event readable, and gives each event back whole', () => {
    const ctx = context();
    const [first] = stream(ctx, [['secret words'], []]);
    const wire = JSON.parse(first!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(wire), ['id', 'object', 'created', 'model', 'encryption']);
    assert.ok(!first!.includes('secret words'));
    const step = new StreamOpener(ctx).next(first!);
    assert.ok('events' in step);
    assert.deepEqual(step.events, [chunk(0, 'secret words')]);
  });

  it('carries an event field named __proto__ as plain data', () => {
    const ctx = context();
    const event = JSON.parse('{"id":"x","choices":[],"__proto__":{"polluted":true}}') as Record<string, unknown>;
    const sealer = new StreamSealer(ctx);
    const step = new StreamOpener(ctx).next(sealer.events([event], TS)[0]!);
    assert.ok('events' in step, JSON.stringify(step));
    assert.deepEqual(Object.keys(step.events[0]!), ['id', 'choices', '__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('ends with an empty final record when [DONE] comes alone', () => {
    const ctx = context();
    const payloads = stream(ctx, [['a'], []]);
    assert.equal(payloads.length, 3);
    assert.deepEqual(replay(ctx, payloads), { events: ['a', DONE] });
  });

  it(`bounds a record to ${MAX_BATCH_EVENTS} events and ${MAX_BATCH_BYTES} bytes, and starts a new one where the plaintext fields change`, () => {
    const ctx = context();
    const many = new StreamSealer(ctx).events(
      words(MAX_BATCH_EVENTS + 10).map((w, i) => chunk(i, w)),
      TS,
    );
    assert.equal(many.length, 2);
    const big = 'x'.repeat(MAX_BATCH_BYTES / 4);
    const large = new StreamSealer(ctx).events(
      Array.from({ length: 8 }, (_, i) => chunk(i, big)),
      TS,
    );
    assert.equal(large.length, 3, 'at most 3 events of a quarter of the bound each per record');
    const alone = new StreamSealer(ctx).events([chunk(0, 'x'.repeat(MAX_BATCH_BYTES * 2))], TS);
    assert.equal(alone.length, 1, 'an event over the bound goes alone');
    const mixed = new StreamSealer(ctx).events(
      [chunk(0, 'a'), { ...chunk(1, 'b'), model: 'other' }, chunk(2, 'c')],
      TS,
    );
    assert.equal(mixed.length, 3);
    const opener = new StreamOpener(ctx);
    const models = mixed.flatMap((p) => {
      const step = opener.next(p);
      assert.ok('events' in step, JSON.stringify(step));
      return step.events.map((e) => e.model);
    });
    assert.deepEqual(models, ['attestor-echo', 'other', 'attestor-echo']);
  });

  it('binds the version in the AAD: the label is attestor-inference-v2, every other byte as in version 1', () => {
    const ctx = context();
    const header: RecordHeader = { direction: 'response', sequence: 3, timestamp: TS, final: true };
    const v2 = recordAad(ctx, header, { id: 'x' });
    const v1 = recordAad({ ...ctx, version: RECORD_VERSION }, header, { id: 'x' });
    assert.equal(v2.subarray(0, 21).toString('ascii'), 'attestor-inference-v2');
    assert.equal(v1.subarray(0, 21).toString('ascii'), 'attestor-inference-v1');
    assert.deepEqual(v2.subarray(21), v1.subarray(21));
  });

  it('refuses a record whose sequence, timestamp, final flag, nonce, secret ID or plaintext fields were changed', () => {
    const ctx = context();
    const payloads = stream(ctx, [['a', 'b'], ['c']]);
    const changed = (edit: (wire: { encryption: Record<string, unknown> } & Record<string, unknown>) => void) => {
      const wire = JSON.parse(payloads[0]!);
      edit(wire);
      return replay(ctx, [JSON.stringify(wire), ...payloads.slice(1)]).refusal?.code;
    };
    assert.equal(
      changed((w) => {
        w.encryption.timestamp = TS + 1;
      }),
      'response_tampered',
    );
    assert.equal(
      changed((w) => {
        w.encryption.final = true;
      }),
      'response_tampered',
    );
    assert.equal(
      changed((w) => {
        w.encryption.nonce = Buffer.from(newNonce()).toString('base64');
      }),
      'response_tampered',
    );
    assert.equal(
      changed((w) => {
        w.encryption.secretId = createHash('sha256').update('other').digest('base64');
      }),
      'response_tampered',
    );
    assert.equal(
      changed((w) => {
        w.model = 'other';
      }),
      'response_tampered',
    );
    assert.equal(
      changed((w) => {
        w.encryption.sequence = 1;
      }),
      'response_tampered',
    );
    const ct = Buffer.from(envelopeOf(payloads[0]!).ciphertext as string, 'base64');
    ct[3]! ^= 1;
    assert.equal(
      changed((w) => {
        w.encryption.ciphertext = ct.toString('base64');
      }),
      'response_tampered',
    );
  });

  it('refuses reordered, dropped and repeated records', () => {
    const ctx = context();
    const p = stream(ctx, [['a', 'b'], ['c'], ['d']]);
    for (const order of [
      [p[1]!, p[0]!, p[2]!, p[3]!],
      [p[0]!, p[2]!, p[3]!],
      [p[0]!, p[0]!, p[1]!, p[2]!, p[3]!],
    ])
      assert.equal(replay(ctx, order).refusal?.code, 'response_tampered');
  });

  it("refuses records spliced from another request's stream, and a whole earlier stream replayed as this one's answer", () => {
    const ctx = context();
    const other = { ...ctx, nonce: newNonce() };
    const mine = stream(ctx, [['a'], ['b']]);
    const theirs = stream(other, [['x'], ['y']]);
    assert.equal(replay(ctx, [mine[0]!, theirs[1]!, mine[2]!]).refusal?.code, 'response_tampered');
    assert.equal(replay(ctx, theirs).refusal?.code, 'response_tampered');
  });

  it('refuses a stream cut short (with or without the events of its last read) and an injected plaintext [DONE]', () => {
    const ctx = context();
    const p = stream(ctx, [
      ['a', 'b'],
      ['c', 'd'],
    ]);
    const cut = replay(ctx, [p[0]!]);
    assert.equal(cut.refusal?.code, 'stream_truncated');
    assert.deepEqual(cut.events, ['a', 'b']);
    const injected = replay(ctx, [p[0]!, DONE]);
    assert.equal(injected.refusal?.code, 'stream_truncated');
    assert.match(injected.refusal!.detail!, /plaintext \[DONE\]/);
    // The final record is the only way to end: an attacker cannot turn a non-final record into one.
    const last = JSON.parse(p[0]!);
    last.encryption.final = true;
    assert.equal(replay(ctx, [JSON.stringify(last)]).refusal?.code, 'response_tampered');
  });

  it('refuses any record after the final one', () => {
    const ctx = context();
    const p = stream(ctx, [['a'], ['b']]);
    const extra = sealBatchJson(
      ctx,
      { direction: 'response', sequence: 2, timestamp: TS, final: false },
      {
        clear: {},
        clearJson: '{}',
        events: ['{"choices":[]}'],
      },
    );
    assert.equal(replay(ctx, [p[0]!, p[1]!, extra]).refusal?.code, 'response_tampered');
  });

  it('refuses a version 1 stream as the answer to a version 2 request (a downgrade), and a version 2 stream to a version 1 request', () => {
    const v2 = context();
    const v1 = { ...v2, version: RECORD_VERSION } as const;
    const old = new StreamSealer(v1);
    const downgraded = [old.event(chunk(0, 'a'), TS), ...old.finish(TS)];
    const r = replay(v2, downgraded);
    assert.equal(r.refusal?.code, 'response_tampered');
    assert.match(r.refusal!.detail!, /version 1 record arrived where version 2 was due/);
    assert.deepEqual(r.events, []);
    assert.equal(replay(v1, stream(v2, [['a'], []])).refusal?.code, 'response_tampered');
    // Relabelling the envelope does not help: the version is in the AAD.
    const relabelled = JSON.parse(downgraded[0]!);
    relabelled.encryption.version = 2;
    assert.equal(replay(v2, [JSON.stringify(relabelled)]).refusal?.code, 'response_tampered');
  });

  it('refuses a whole answer and a request moved between versions', () => {
    const v2 = context();
    const v1 = { ...v2, version: RECORD_VERSION } as const;
    const answer = { id: 'a', object: 'chat.completion', choices: [] };
    assert.ok('body' in openResponse(v2, sealResponse(v2, answer, TS)));
    assert.equal(
      (openResponse(v2, sealResponse(v1, answer, TS)) as { refusal: { code: string } }).refusal.code,
      'response_tampered',
    );
    // The worker answers in the request's version, which the request's tag authenticates.
    const request = sealRequest(v2, { model: 'm', messages: [] }, TS) as { encryption: Record<string, unknown> };
    const wire = readWireBody(request, CHAT_COMPLETIONS_PATH, 'request');
    assert.ok(!('refusal' in wire));
    assert.equal(requestContext(wire, CHAT_COMPLETIONS_PATH, v2.secret).version, 2);
    const relabelled = { ...request, encryption: { ...request.encryption, version: 1 } };
    const worker = readWireBody(relabelled, CHAT_COMPLETIONS_PATH, 'request');
    assert.ok(!('refusal' in worker));
    const opened = openRequest(requestContext(worker, CHAT_COMPLETIONS_PATH, v2.secret), relabelled);
    assert.equal((opened as { refusal: { code: string } }).refusal.code, 'tampered');
  });

  it('refuses protected fields in plaintext beside a batched record, and a plaintext event (downgrades)', () => {
    const ctx = context();
    const p = stream(ctx, [['a'], []]);
    const beside = JSON.stringify({ ...JSON.parse(p[0]!), choices: [] });
    assert.equal(replay(ctx, [beside]).refusal?.code, 'response_downgrade');
    assert.equal(replay(ctx, [JSON.stringify(chunk(0, 'injected'))]).refusal?.code, 'response_downgrade');
  });

  it('refuses a batched record that decrypts to anything but a list of event objects, or an empty record that is not final', () => {
    const ctx = context();
    const header: RecordHeader = { direction: 'response', sequence: 0, timestamp: TS, final: false };
    const cases: Array<[string, RegExp]> = [
      [JSON.stringify(sealBody(ctx, header, { choices: [] })), /holds only "events"/],
      [sealBatchJson(ctx, header, { clear: {}, clearJson: '{}', events: ['1'] }), /not a JSON object/],
      [
        sealBatchJson(ctx, header, { clear: { id: 'x' }, clearJson: '{"id":"x"}', events: ['{"id":"y"}'] }),
        /repeats a plaintext field/,
      ],
      [sealBatchJson(ctx, header, { clear: {}, clearJson: '{}', events: [] }), /not final carries no events/],
    ];
    for (const [payload, detail] of cases) {
      const r = replay(ctx, [payload]);
      assert.equal(r.refusal?.code, 'response_tampered', payload.slice(0, 80));
      assert.match(r.refusal!.detail!, detail);
    }
  });
});
