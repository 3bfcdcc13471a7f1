// Field encryption of inference bodies: what stays plaintext per endpoint, the round trip of a
// request and a whole answer, and every refusal of a record that was changed, moved, spliced or
// sent in plaintext.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  CHAT_COMPLETIONS_PATH,
  COMPLETIONS_PATH,
  EMBEDDINGS_PATH,
  REQUEST_PLAINTEXT,
} from '../../../../src/protocol/inference/fields.ts';
import {
  newNonce,
  openBody,
  openRequest,
  openResponse,
  type RecordContext,
  readWireBody,
  recordAad,
  sealBody,
  sealBodyJson,
  sealRequest,
  sealResponse,
} from '../../../../src/protocol/inference/records.ts';

const TS = Date.parse('2026-06-01T00:00:00Z');
const MARKER = 'marker-7f3a';

function context(path: RecordContext['path'] = CHAT_COMPLETIONS_PATH): RecordContext {
  const secretId = createHash('sha256').update(randomBytes(32)).digest('base64');
  return { secret: new Uint8Array(randomBytes(32)), secretId, nonce: newNonce(), path };
}

const CHAT = {
  model: 'attestor-echo',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: `hello ${MARKER}` },
  ],
  temperature: 0.2,
  max_tokens: 64,
  n: 1,
  stream: false,
  user: 'alice',
  tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
};

const ANSWER = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1_780_000_000,
  model: 'attestor-echo',
  choices: [{ index: 0, message: { role: 'assistant', content: `You said: hello ${MARKER}` }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 },
};

const refusal = (result: object) => {
  assert.ok('refusal' in result, `refused: ${JSON.stringify(result)}`);
  return (result as { refusal: { code: string; detail?: string } }).refusal;
};

describe('inference field encryption', () => {
  it('keeps only routing fields in plaintext (model, stream and options, token limits, n) and encrypts all others, unknown ones too', () => {
    const ctx = context();
    const wire = sealRequest(ctx, CHAT, TS);
    assert.deepEqual(Object.keys(wire).sort(), ['encryption', 'max_tokens', 'model', 'n', 'stream']);
    assert.ok(!JSON.stringify(wire).includes(MARKER), 'the prompt is not in the wire body');
    assert.ok(!JSON.stringify(wire).includes('alice'), 'nor the user field');
    assert.deepEqual(REQUEST_PLAINTEXT[EMBEDDINGS_PATH], ['model']);
    const embed = sealRequest(context(EMBEDDINGS_PATH), { model: 'm', input: [MARKER], dimensions: 8 }, TS);
    assert.deepEqual(Object.keys(embed).sort(), ['encryption', 'model']);
    const answer = sealResponse(ctx, ANSWER, TS);
    assert.deepEqual(Object.keys(answer).sort(), ['created', 'encryption', 'id', 'model', 'object']);
    assert.ok(!JSON.stringify(answer).includes(MARKER));
  });

  it('round-trips a request and its answer, for each endpoint', () => {
    for (const path of [CHAT_COMPLETIONS_PATH, COMPLETIONS_PATH, EMBEDDINGS_PATH] as const) {
      const ctx = context(path);
      const request = path === EMBEDDINGS_PATH ? { model: 'm', input: MARKER } : CHAT;
      const opened = openRequest(ctx, JSON.parse(JSON.stringify(sealRequest(ctx, request, TS))));
      assert.ok('body' in opened, JSON.stringify(opened));
      assert.deepEqual(opened.body, request);
      assert.equal(opened.timestamp, TS);
      const answer = openResponse(ctx, JSON.parse(JSON.stringify(sealResponse(ctx, ANSWER, TS + 5))));
      assert.ok('body' in answer);
      assert.deepEqual(answer.body, ANSWER);
    }
  });

  it('carries fields named like Object.prototype members and __proto__ as plain data', () => {
    const ctx = context();
    const body = JSON.parse('{"model":"m","toString":"a","constructor":{"x":1},"__proto__":{"polluted":true}}');
    const opened = openRequest(ctx, JSON.parse(JSON.stringify(sealRequest(ctx, body, TS))));
    assert.ok('body' in opened, JSON.stringify(opened));
    assert.deepEqual(Object.keys(opened.body).sort(), ['__proto__', 'constructor', 'model', 'toString']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('uses a fresh IV for every record', () => {
    const ctx = context();
    const a = sealRequest(ctx, CHAT, TS).encryption as { iv: string; ciphertext: string };
    const b = sealRequest(ctx, CHAT, TS).encryption as { iv: string; ciphertext: string };
    assert.notEqual(a.iv, b.iv);
    assert.notEqual(a.ciphertext, b.ciphertext);
  });

  it('refuses a flipped ciphertext byte, IV byte or tag byte (tampered)', () => {
    const ctx = context();
    for (const [field, at] of [
      ['ciphertext', 0],
      ['ciphertext', -1],
      ['iv', 3],
    ] as const) {
      const wire = sealRequest(ctx, CHAT, TS) as { encryption: Record<string, string> };
      const bytes = Buffer.from(wire.encryption[field]!, 'base64');
      bytes[at < 0 ? bytes.length + at : at]! ^= 0x01;
      wire.encryption[field] = bytes.toString('base64');
      assert.equal(refusal(openRequest(ctx, wire)).code, 'tampered', `${field}[${at}]`);
    }
  });

  it('refuses a changed plaintext field: model, max_tokens or n cannot be altered on the way', () => {
    const ctx = context();
    for (const change of [{ model: 'other' }, { max_tokens: 4096 }, { n: 8 }, { stream: true }]) {
      const wire = { ...sealRequest(ctx, CHAT, TS), ...change };
      assert.equal(refusal(openRequest(ctx, wire)).code, 'tampered', JSON.stringify(change));
    }
    const dropped = sealRequest(ctx, CHAT, TS);
    delete dropped.max_tokens;
    assert.equal(refusal(openRequest(ctx, dropped)).code, 'tampered', 'a removed plaintext field');
  });

  it('refuses a record under another secret, and one whose secret ID was swapped', () => {
    const ctx = context();
    const wire = sealRequest(ctx, CHAT, TS);
    assert.equal(refusal(openRequest({ ...ctx, secret: new Uint8Array(randomBytes(32)) }, wire)).code, 'tampered');
    const other = context();
    const swapped = { ...wire, encryption: { ...(wire.encryption as object), secretId: other.secretId } };
    assert.equal(refusal(openRequest({ ...ctx, secretId: other.secretId }, swapped)).code, 'tampered');
  });

  it('refuses records spliced from another request (another nonce), another direction, or another endpoint', () => {
    const ctx = context();
    const second = { ...ctx, nonce: newNonce() };
    const answerToSecond = sealResponse(second, ANSWER, TS);
    assert.match(refusal(openResponse(ctx, answerToSecond)).detail!, /another request/);
    const renonced = {
      ...answerToSecond,
      encryption: { ...(answerToSecond.encryption as object), nonce: Buffer.from(ctx.nonce).toString('base64') },
    };
    assert.equal(refusal(openResponse(ctx, renonced)).code, 'response_tampered');
    // A request record presented as an answer (same secret, nonce and position): the direction is in the AAD.
    const request = sealBody(ctx, { direction: 'request', sequence: 0, timestamp: TS, final: true }, { id: 'x' });
    assert.equal(refusal(openResponse(ctx, request)).code, 'response_tampered');
    const completions = sealRequest({ ...ctx, path: COMPLETIONS_PATH }, { model: 'm', prompt: 'p' }, TS);
    assert.equal(refusal(openRequest(ctx, completions)).code, 'tampered');
  });

  it('refuses a record whose sequence number or final flag was changed', () => {
    const ctx = context();
    const wire = sealResponse(ctx, ANSWER, TS);
    const envelope = wire.encryption as Record<string, unknown>;
    const read = readWireBody({ ...wire, encryption: { ...envelope, sequence: 1 } }, ctx.path, 'response');
    assert.ok(!('refusal' in read));
    assert.equal(refusal(openBody(ctx, read, { direction: 'response', sequence: 1 })).code, 'response_tampered');
    assert.match(
      refusal(openResponse(ctx, { ...wire, encryption: { ...envelope, sequence: 1 } })).detail!,
      /Record 1 arrived where record 0/,
    );
    const notFinal = readWireBody({ ...wire, encryption: { ...envelope, final: false } }, ctx.path, 'response');
    assert.ok(!('refusal' in notFinal));
    assert.equal(refusal(openBody(ctx, notFinal, { direction: 'response', sequence: 0 })).code, 'response_tampered');
  });

  it('refuses a plaintext request (not encrypted) and protected fields in plaintext beside the envelope (downgrade)', () => {
    const ctx = context();
    const plain = refusal(openRequest(ctx, CHAT));
    assert.equal(plain.code, 'not_encrypted');
    assert.match(plain.detail!, /messages/);
    const wire = sealRequest(ctx, CHAT, TS);
    const added = refusal(openRequest(ctx, { ...wire, messages: CHAT.messages }));
    assert.equal(added.code, 'downgrade');
    assert.match(added.detail!, /messages/);
    const answer = sealResponse(ctx, ANSWER, TS);
    assert.equal(refusal(openResponse(ctx, { ...answer, choices: ANSWER.choices })).code, 'response_downgrade');
    assert.equal(refusal(openResponse(ctx, ANSWER)).code, 'response_downgrade');
  });

  it('refuses malformed envelopes: sizes, base64, types, unknown fields, another version', () => {
    const ctx = context();
    const wire = sealRequest(ctx, CHAT, TS);
    const envelope = wire.encryption as Record<string, unknown>;
    const cases: Array<[Record<string, unknown> | string, string, RegExp]> = [
      [{ ...envelope, iv: 'AAAA' }, 'malformed_encryption', /iv is 3 bytes/],
      [{ ...envelope, nonce: 'not base64!' }, 'malformed_encryption', /nonce/],
      [{ ...envelope, ciphertext: 'AAAA' }, 'malformed_encryption', /ciphertext is 3 bytes, not at least 16/],
      [{ ...envelope, sequence: -1, timestamp: 1.5 }, 'malformed_encryption', /sequence.*timestamp/],
      [{ ...envelope, final: 'yes' }, 'malformed_encryption', /final/],
      [{ ...envelope, extra: true }, 'malformed_encryption', /unknown fields extra/],
      [{ ...envelope, version: 3 }, 'unsupported_version', /Version 3/],
      ['text', 'malformed_encryption', /not an object/],
    ];
    for (const [bad, code, detail] of cases) {
      const r = refusal(openRequest(ctx, { ...wire, encryption: bad }));
      assert.equal(r.code, code, JSON.stringify(bad).slice(0, 80));
      assert.match(r.detail!, detail);
    }
    assert.equal(refusal(openRequest(ctx, [wire])).code, 'malformed_encryption');
  });

  it('binds the AAD to every field it names (secret ID, nonce, direction, sequence, timestamp, final, path, plaintext fields)', () => {
    const ctx = context();
    const header = { direction: 'request', sequence: 0, timestamp: TS, final: true } as const;
    const base = recordAad(ctx, header, { model: 'm' });
    const variants = [
      recordAad({ ...ctx, secretId: context().secretId }, header, { model: 'm' }),
      recordAad({ ...ctx, nonce: newNonce() }, header, { model: 'm' }),
      recordAad(ctx, { ...header, direction: 'response' }, { model: 'm' }),
      recordAad(ctx, { ...header, sequence: 1 }, { model: 'm' }),
      recordAad(ctx, { ...header, timestamp: TS + 1 }, { model: 'm' }),
      recordAad(ctx, { ...header, final: false }, { model: 'm' }),
      recordAad({ ...ctx, path: COMPLETIONS_PATH }, header, { model: 'm' }),
      recordAad(ctx, header, { model: 'n' }),
    ];
    for (const v of variants) assert.notDeepEqual(v, base);
    assert.deepEqual(recordAad(ctx, header, { model: 'm' }), base, 'and nothing else');
  });

  it('keeps the AAD of a reused context in step when its nonce, secret ID or path change in place', () => {
    const ctx = context();
    const header = { direction: 'response', sequence: 3, timestamp: TS, final: false } as const;
    const first = recordAad(ctx, header, { model: 'm' });
    ctx.nonce.set(newNonce());
    const afterNonce = recordAad(ctx, header, { model: 'm' });
    assert.notDeepEqual(afterNonce, first);
    assert.deepEqual(afterNonce, recordAad({ ...ctx }, header, { model: 'm' }), 'as for a fresh context');
    ctx.secretId = context().secretId;
    assert.notDeepEqual(recordAad(ctx, header, { model: 'm' }), afterNonce);
    ctx.path = COMPLETIONS_PATH;
    assert.deepEqual(recordAad(ctx, header, { model: 'm' }), recordAad({ ...ctx }, header, { model: 'm' }));
  });

  it('writes the timestamp as an unsigned 64-bit integer and refuses one that is not', () => {
    const ctx = context();
    const at = (timestamp: number) =>
      recordAad(ctx, { direction: 'request', sequence: 0, timestamp, final: true }, {}).subarray(
        -32 - 2 - 20 - 1 - 8,
        -32 - 2 - 20 - 1,
      );
    assert.equal(at(TS).readBigUInt64BE(), BigInt(TS));
    assert.equal(at(Number.MAX_SAFE_INTEGER).readBigUInt64BE(), BigInt(Number.MAX_SAFE_INTEGER));
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 64]) assert.throws(() => at(bad), RangeError);
  });

  it('seals to JSON text equal to JSON.stringify of the sealed body, with and without plaintext fields', () => {
    const iv = new Uint8Array(12).fill(7);
    const cases: Array<[RecordContext, Parameters<typeof sealBody>[1], Record<string, unknown>]> = [
      [context(), { direction: 'request', sequence: 0, timestamp: TS, final: true }, CHAT],
      [context(), { direction: 'response', sequence: 5, timestamp: TS, final: false }, { id: 'x', choices: [] }],
      [context(), { direction: 'response', sequence: 6, timestamp: TS, final: true }, {}],
      [context(EMBEDDINGS_PATH), { direction: 'request', sequence: 0, timestamp: TS, final: true }, { input: MARKER }],
    ];
    for (const [ctx, header, body] of cases) {
      const text = sealBodyJson(ctx, header, body, iv);
      assert.equal(text, JSON.stringify(sealBody(ctx, header, body, iv)));
      assert.deepEqual(openBody(ctx, readWireBody(JSON.parse(text), ctx.path, header.direction) as never, header), {
        body,
        timestamp: TS,
        final: header.final,
      });
    }
  });
});
