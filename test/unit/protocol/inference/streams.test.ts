// Streamed answers in record version 1 (the default of a RecordContext; version 2 in batched-streams.test.ts): each
// client refuses a stream cut short, one ended by a plaintext [DONE], reordered or spliced events,
// and anything after the final record.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CHAT_COMPLETIONS_PATH } from '../../../../src/protocol/inference/fields.ts';
import { newNonce, type RecordContext, sealBody } from '../../../../src/protocol/inference/records.ts';
import { DONE, StreamOpener, StreamSealer } from '../../../../src/protocol/inference/streams.ts';

const TS = Date.parse('2026-06-01T00:00:00Z');

function context(): RecordContext {
  const secretId = createHash('sha256').update(randomBytes(32)).digest('base64');
  return { secret: new Uint8Array(randomBytes(32)), secretId, nonce: newNonce(), path: CHAT_COMPLETIONS_PATH };
}

const chunk = (i: number, content: string) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1_780_000_000,
  model: 'attestor-echo',
  choices: [{ index: i, delta: { content }, finish_reason: null }],
});

/** The wire payloads of a stream of `words`, ending with the final record and [DONE]. */
function stream(ctx: RecordContext, words: string[]): string[] {
  const sealer = new StreamSealer(ctx);
  return [...words.map((w, i) => sealer.event(chunk(i, w), TS + i)), ...sealer.finish(TS + words.length)];
}

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

describe('inference streams', () => {
  it('decrypts every event in order, then the authenticated final record, and passes the [DONE] after it', () => {
    const ctx = context();
    const payloads = stream(ctx, ['You ', 'said: ', 'hi']);
    assert.equal(payloads.length, 5);
    assert.equal(payloads.at(-1), DONE);
    assert.deepEqual(replay(ctx, payloads), { events: ['You ', 'said: ', 'hi', DONE] });
  });

  it('refuses a stream that ends without the final record (cut short)', () => {
    const ctx = context();
    const payloads = stream(ctx, ['a', 'b', 'c']);
    const r = replay(ctx, payloads.slice(0, 2));
    assert.equal(r.refusal?.code, 'stream_truncated');
    assert.deepEqual(r.events, ['a', 'b'], 'what arrived before is authentic, but the stream is refused');
  });

  it('refuses a plaintext [DONE] injected before the final record', () => {
    const ctx = context();
    const payloads = stream(ctx, ['a', 'b', 'c']);
    const r = replay(ctx, [payloads[0]!, DONE]);
    assert.equal(r.refusal?.code, 'stream_truncated');
    assert.match(r.refusal!.detail!, /plaintext \[DONE\]/);
  });

  it('refuses swapped events, a dropped event and a duplicated event (sequence numbers)', () => {
    const ctx = context();
    const p = stream(ctx, ['a', 'b', 'c']);
    for (const order of [
      [p[1]!, p[0]!, p[2]!, p[3]!],
      [p[0]!, p[2]!, p[3]!],
      [p[0]!, p[0]!, p[1]!],
    ])
      assert.equal(replay(ctx, order).refusal?.code, 'response_tampered');
  });

  it("refuses events spliced from another request's stream, and a final record from another stream", () => {
    const ctx = context();
    const other = { ...ctx, nonce: newNonce() };
    const mine = stream(ctx, ['a', 'b']);
    const theirs = stream(other, ['x', 'y']);
    assert.equal(replay(ctx, [mine[0]!, theirs[1]!, mine[2]!]).refusal?.code, 'response_tampered');
    assert.equal(replay(ctx, [mine[0]!, mine[1]!, theirs[2]!]).refusal?.code, 'response_tampered');
  });

  it('refuses an event whose protected fields arrive in plaintext (downgrade), and any record after the final one', () => {
    const ctx = context();
    const p = stream(ctx, ['a']);
    const plain = JSON.stringify(chunk(1, 'injected'));
    assert.equal(replay(ctx, [p[0]!, plain]).refusal?.code, 'response_downgrade');
    const beside = JSON.stringify({ ...JSON.parse(p[0]!), choices: [] });
    assert.equal(replay(ctx, [beside]).refusal?.code, 'response_downgrade');
    const after = new StreamSealer(ctx);
    const extra = after.event(chunk(0, 'late'), TS);
    assert.equal(replay(ctx, [p[0]!, p[1]!, extra]).refusal?.code, 'response_tampered');
  });

  it('refuses an event with a flipped ciphertext byte, and one that is not JSON', () => {
    const ctx = context();
    const p = stream(ctx, ['a', 'b']);
    const wire = JSON.parse(p[1]!);
    const ct = Buffer.from(wire.encryption.ciphertext, 'base64');
    ct[0]! ^= 0x80;
    wire.encryption.ciphertext = ct.toString('base64');
    assert.equal(replay(ctx, [p[0]!, JSON.stringify(wire)]).refusal?.code, 'response_tampered');
    assert.equal(replay(ctx, ['{not json']).refusal?.code, 'response_tampered');
  });

  it('refuses a final record that carries fields: the stream ends with an empty one', () => {
    const ctx = context();
    const p = stream(ctx, ['a']);
    const stuffed = JSON.stringify(
      sealBody(ctx, { direction: 'response', sequence: 1, timestamp: TS, final: true }, { choices: [] }),
    );
    const r = replay(ctx, [p[0]!, stuffed]);
    assert.equal(r.refusal?.code, 'response_tampered');
    assert.match(r.refusal!.detail!, /final record carries fields/);
  });

  it('seals nothing after finish()', () => {
    const sealer = new StreamSealer(context());
    sealer.finish(TS);
    assert.throws(() => sealer.event(chunk(0, 'a'), TS), /finished/);
    assert.throws(() => sealer.finish(TS), /finished/);
  });
});
