/**
 * The cost of encrypted inference records (node bench/inference-records.bench.ts): what the client
 * and the worker proxy add per request and per streamed event, against what any JSON proxy does
 * anyway.
 *
 * - baseline: JSON.stringify, then JSON.parse, of the same bodies (a proxy that only relays JSON).
 * - request: the client seals a typical chat request (system prompt, three turns, about 1.5 KB),
 *   the wire body is stringified and parsed, and the worker reads and opens it (AES-256-GCM, the
 *   AAD with the plaintext fields' RFC 8785 digest).
 * - stream: a 200-event streamed answer: the worker seals each chunk and the final record, the
 *   client opens each in order, against stringify + parse of the 200 chunks (record version 1).
 * - batched stream: the same answer in record version 2, the events sealed in batches of
 *   INFERENCE_BENCH_BATCH (default 20: what one read from the model server brings under load),
 *   the last batch in the final record.
 * - key exchange: one HPKE X-Wing exchange, the service's answer (encapsulation, export, ECDSA
 *   signature) and the client's whole check (chain, identity, signature, decapsulation), in ms.
 *
 * The measurements run interleaved INFERENCE_BENCH_ROUNDS times (default 5) for
 * INFERENCE_BENCH_SECONDS each (default 1); medians. Ratios are against the baseline of the same
 * round, so they carry over to other machines.
 */
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { CoordinatorPki } from '../src/pki/coordinator-pki.ts';
import { workloadLeafRequest } from '../src/pki/workload-certificate.ts';
import { CHAT_COMPLETIONS_PATH } from '../src/protocol/inference/fields.ts';
import {
  acceptKeyExchange,
  answerKeyExchange,
  keyExchangeRequest,
  newClientKeyPair,
  parseKeyExchangeRequest,
} from '../src/protocol/inference/key-exchange.ts';
import {
  BATCHED_RECORD_VERSION,
  newNonce,
  openRequest,
  type RecordContext,
  sealRequest,
} from '../src/protocol/inference/records.ts';
import { StreamOpener, StreamSealer } from '../src/protocol/inference/streams.ts';
import { median, rate } from './lib/rate.ts';

const SECONDS = Number(process.env.INFERENCE_BENCH_SECONDS ?? 1);
const ROUNDS = Number(process.env.INFERENCE_BENCH_ROUNDS ?? 5);
const EVENTS = 200;
const BATCH = Number(process.env.INFERENCE_BENCH_BATCH ?? 20);

/** One client's secret; every request a fresh nonce, as a client makes them. */
const secret = {
  secret: new Uint8Array(randomBytes(32)),
  secretId: createHash('sha256').update(randomBytes(32)).digest('base64'),
  path: CHAT_COMPLETIONS_PATH,
} as const;
const context = (): RecordContext => ({ ...secret, nonce: newNonce() });

const sentence = 'The quick brown fox jumps over the lazy dog while the model thinks about it. ';
const chat = {
  model: 'attestor-echo',
  messages: [
    { role: 'system', content: sentence.repeat(4) },
    { role: 'user', content: sentence.repeat(5) },
    { role: 'assistant', content: sentence.repeat(4) },
    { role: 'user', content: sentence.repeat(5) },
  ],
  temperature: 0.7,
  max_tokens: 256,
  stream: false,
};
const chunks = Array.from({ length: EVENTS }, (_, i) => ({
  id: 'chatcmpl-0123456789abcdef',
  object: 'chat.completion.chunk',
  created: 1_780_000_000,
  model: 'attestor-echo',
  choices: [{ index: 0, delta: { content: `token${i} ` }, logprobs: null, finish_reason: null }],
}));

function baselineRequest(): boolean {
  const parsed = JSON.parse(JSON.stringify(chat)) as typeof chat;
  return parsed.messages.length === 4;
}

function encryptedRequest(): boolean {
  const ctx = context();
  const wire = JSON.stringify(sealRequest(ctx, chat, Date.now()));
  const opened = openRequest(ctx, JSON.parse(wire));
  return 'body' in opened;
}

function baselineStream(): boolean {
  let n = 0;
  for (const chunk of chunks) n += (JSON.parse(JSON.stringify(chunk)) as typeof chunk).choices.length;
  return n === EVENTS;
}

/** Version 1: a record per event, then the empty final record. */
function encryptedStream(): boolean {
  const ctx = context();
  const sealer = new StreamSealer(ctx);
  const opener = new StreamOpener(ctx);
  let n = 0;
  for (const chunk of chunks) {
    const step = opener.next(sealer.event(chunk, Date.now()));
    if ('events' in step) n += step.events.length;
  }
  const [final, done] = sealer.finish(Date.now()) as [string, string];
  return n === EVENTS && 'done' in opener.next(final) && 'ignore' in opener.next(done) && opener.end() === undefined;
}

/** Version 2: the events in batches of BATCH (as they arrive together from the model server), the last in the final record. */
function batchedStream(): boolean {
  const ctx = { ...context(), version: BATCHED_RECORD_VERSION } as const;
  const sealer = new StreamSealer(ctx);
  const opener = new StreamOpener(ctx);
  let n = 0;
  let done = false;
  for (let at = 0; at < EVENTS; at += BATCH) {
    const batch = chunks.slice(at, at + BATCH);
    const payloads = at + BATCH >= EVENTS ? sealer.finish(Date.now(), batch) : sealer.events(batch, Date.now());
    for (const payload of payloads) {
      const step = opener.next(payload);
      if ('events' in step) n += step.events.length;
      if ('done' in step) done = true;
    }
  }
  return n === EVENTS && done && opener.end() === undefined;
}

// The key exchange against a service certified by a mesh CA, as in the tests.
const now = new Date();
const pki = await CoordinatorPki.create(now);
const mesh = await pki.newMeshCa(now);
const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
  'sign',
  'verify',
])) as webcrypto.CryptoKeyPair;
const policyHash = 'a1'.repeat(32);
const certificate = await mesh.issue(
  workloadLeafRequest({
    publicKey: keys.publicKey,
    aiWorker: 'secret-service',
    namespace: 'attestor',
    identity: {
      role: 'secret-service',
      deploymentModel: 'pod-cvm',
      policyHash,
      evidenceDigest: 'b2'.repeat(32),
      manifestHash: 'c3'.repeat(32),
      podUid: 'bench',
    },
    lifetimeMs: 3_600_000,
    now,
  }),
);
async function exchangeMs(): Promise<number> {
  const started = performance.now();
  const pair = await newClientKeyPair();
  const request = parseKeyExchangeRequest(JSON.parse(JSON.stringify(keyExchangeRequest(pair))));
  if ('error' in request) throw new Error(request.error);
  const answer = await answerKeyExchange({
    clientPublicKey: request.publicKey,
    signingKey: keys.privateKey,
    certificateChain: [certificate.toString('pem')],
    expiresAt: new Date(now.getTime() + 3_600_000),
  });
  if ('error' in answer) throw new Error(answer.error);
  const accepted = await acceptKeyExchange({
    pair,
    response: JSON.parse(JSON.stringify(answer.response)),
    meshCA: mesh.pem,
    policies: [{ hash: policyHash, role: 'secret-service' }],
    at: new Date(),
  });
  if (!accepted.accepted) throw new Error(JSON.stringify(accepted.reasons));
  return performance.now() - started;
}

const results = {
  baseRequest: [] as number[],
  request: [] as number[],
  baseStream: [] as number[],
  stream: [] as number[],
  batched: [] as number[],
};
const ratios = { request: [] as number[], stream: [] as number[], batched: [] as number[] };
const exchanges: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const baseRequest = rate(SECONDS, baselineRequest, 50);
  const request = rate(SECONDS, encryptedRequest, 50);
  const baseStream = rate(SECONDS, baselineStream, 1);
  const stream = rate(SECONDS, encryptedStream, 1);
  const batched = rate(SECONDS, batchedStream, 1);
  results.baseRequest.push(baseRequest);
  results.request.push(request);
  results.baseStream.push(baseStream);
  results.stream.push(stream);
  results.batched.push(batched);
  ratios.request.push(request / baseRequest);
  ratios.stream.push(stream / baseStream);
  ratios.batched.push(batched / baseStream);
  for (let i = 0; i < 5; i++) exchanges.push(await exchangeMs());
}

const f = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const bodyBytes = JSON.stringify(chat).length;
const wireBytes = JSON.stringify(sealRequest(context(), chat, Date.now())).length;
console.log(
  `inference records, ${ROUNDS} rounds of ${SECONDS}s, medians (request body ${bodyBytes} B, on the wire ${wireBytes} B)`,
);
console.log(
  '| what | baseline: JSON stringify + parse | encrypted: seal + stringify + parse + open | ratio | added per unit |',
);
console.log('|---|---|---|---|---|');
const added = (base: number, enc: number, per: number) => `${f(((1 / enc - 1 / base) * 1e6) / per, 1)} µs`;
console.log(
  `| chat request (client + worker) | ${f(median(results.baseRequest))}/s | ${f(median(results.request))}/s | ${f(median(ratios.request), 3)} | ${added(median(results.baseRequest), median(results.request), 1)} per request |`,
);
console.log(
  `| ${EVENTS}-event stream (worker + client) | ${f(median(results.baseStream))}/s | ${f(median(results.stream))}/s | ${f(median(ratios.stream), 3)} | ${added(median(results.baseStream), median(results.stream), EVENTS)} per event |`,
);
console.log(
  `| ${EVENTS}-event stream, version 2 in batches of ${BATCH} | ${f(median(results.baseStream))}/s | ${f(median(results.batched))}/s | ${f(median(ratios.batched), 3)} | ${added(median(results.baseStream), median(results.batched), EVENTS)} per event |`,
);
console.log(
  `key exchange (service answer + client check), median of ${exchanges.length}: ${f(median(exchanges), 1)} ms`,
);
