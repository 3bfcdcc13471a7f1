/**
 * Fixed-seed fuzzing of the inference wire format: random character changes in the JSON of a
 * request, a streamed answer and a key-exchange answer. Nothing throws (refusals are data), nothing
 * takes long, and whatever is accepted decrypts to exactly what was sent.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { CHAT_COMPLETIONS_PATH } from '../../../../src/protocol/inference/fields.ts';
import {
  acceptKeyExchange,
  answerKeyExchange,
  newClientKeyPair,
} from '../../../../src/protocol/inference/key-exchange.ts';
import {
  BATCHED_RECORD_VERSION,
  newNonce,
  openRequest,
  RECORD_VERSION,
  type RecordContext,
  sealRequest,
} from '../../../../src/protocol/inference/records.ts';
import { StreamOpener, StreamSealer } from '../../../../src/protocol/inference/streams.ts';
import { SLOWEST_INPUT_MS } from '../../../harness/fuzz-bounds.ts';
import { prng } from '../../../harness/prng.ts';
import { NOW, POLICIES, serviceIdentity } from './service-identity.ts';

const ALPHABET = '{}[]":,0123456789abcdefABCDEF+/=-_ .truefalsn\\';

/** `text` with 1 to 4 characters replaced, deterministically from `next`. */
function mutate(text: string, next: () => number): string {
  const chars = [...text];
  for (let k = 1 + Math.floor(next() * 4); k > 0; k--)
    chars[Math.floor(next() * chars.length)] = ALPHABET[Math.floor(next() * ALPHABET.length)]!;
  return chars.join('');
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function context(): RecordContext {
  return {
    secret: new Uint8Array(randomBytes(32)),
    secretId: createHash('sha256').update(randomBytes(32)).digest('base64'),
    nonce: newNonce(),
    path: CHAT_COMPLETIONS_PATH,
  };
}

describe('inference wire format fuzzing', () => {
  it('refuses mutated requests without throwing, and accepts only what decrypts to the request sent', () => {
    const next = prng(0x1f0);
    const ctx = context();
    const body = { model: 'attestor-echo', messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, n: 1 };
    const wire = JSON.stringify(sealRequest(ctx, body, 1_780_000_000_000));
    let refused = 0;
    let slowest = 0;
    for (let i = 0; i < 3000; i++) {
      const parsed = parse(mutate(wire, next));
      if (parsed === undefined) continue;
      const started = performance.now();
      const opened = openRequest(ctx, parsed);
      slowest = Math.max(slowest, performance.now() - started);
      if ('refusal' in opened) refused++;
      else assert.deepEqual(opened.body, body, `accepted a changed request: ${JSON.stringify(parsed)}`);
    }
    assert.ok(refused > 500, `${refused} refusals`);
    assert.ok(slowest < SLOWEST_INPUT_MS, `${slowest} ms`);
  });

  for (const version of [RECORD_VERSION, BATCHED_RECORD_VERSION] as const)
    it(`refuses mutated streams of record version ${version} without throwing, and completes only with the events sent`, () => {
      const next = prng(0x2f0 + version);
      const ctx = { ...context(), version };
      const chunks = ['a', 'b', 'c'].map((content, i) => ({
        id: 'x',
        object: 'chat.completion.chunk',
        choices: [{ index: i, delta: { content } }],
      }));
      const sealer = new StreamSealer(ctx);
      // Version 2: two events in one record, the third in the final record.
      const payloads =
        version === RECORD_VERSION
          ? [...chunks.map((c) => sealer.event(c, 1)), ...sealer.finish(2)]
          : [...sealer.events(chunks.slice(0, 2), 1), ...sealer.finish(2, chunks.slice(2))];
      let refused = 0;
      for (let i = 0; i < 2000; i++) {
        const target = Math.floor(next() * payloads.length);
        const mutated = payloads.map((p, j) => (j === target ? mutate(p, next) : p));
        const opener = new StreamOpener(ctx);
        const events: unknown[] = [];
        let refusal = false;
        for (const p of mutated) {
          const step = opener.next(p);
          if ('refusal' in step) {
            refusal = true;
            break;
          }
          if ('events' in step) events.push(...step.events);
        }
        if (refusal || opener.end() !== undefined) refused++;
        else assert.deepEqual(events, chunks, `accepted a changed stream at ${target}: ${mutated[target]}`);
      }
      assert.ok(refused > 500, `${refused} refusals`);
    });

  it('refuses mutated key-exchange answers without throwing, and accepts only the secret the service made', async function () {
    this.timeout(120_000);
    const next = prng(0x3f0);
    const service = await serviceIdentity();
    const pair = await newClientKeyPair();
    const answer = await answerKeyExchange({
      clientPublicKey: pair.publicKey,
      signingKey: service.signingKey,
      certificateChain: service.certificateChain,
      expiresAt: new Date(NOW.getTime() + 3_600_000),
    });
    assert.ok(!('error' in answer));
    const { response, secret } = answer;
    const wire = JSON.stringify(response);
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const parsed = parse(mutate(wire, next));
      if (parsed === undefined) continue;
      const result = await acceptKeyExchange({
        pair,
        response: parsed,
        meshCA: service.mesh.pem,
        policies: POLICIES,
        at: NOW,
      });
      if (!result.accepted) {
        refused++;
        assert.ok(result.reasons.length > 0);
      } else assert.deepEqual(result.secret, secret);
    }
    assert.ok(refused > 30, `${refused} refusals`);
  });
});
