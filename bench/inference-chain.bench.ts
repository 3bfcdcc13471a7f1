/**
 * What the encrypted inference chain costs end to end (node bench/inference-chain.bench.ts): a
 * request through the client proxy -> worker proxy (TLS) -> embedded model server, against the same
 * model server called directly, in one run. The secret comes from a real key exchange answered in
 * the process (until the secret service lands); the worker's certificate is a workload
 * certificate of a test mesh CA.
 *
 * - latency: a small chat request (not streamed), one at a time, CHAIN_BENCH_REQUESTS times
 *   (default 300) each way, interleaved; p50 and p99 in ms, and the added p50.
 * - throughput at zero token delay, 16 concurrent clients for CHAIN_BENCH_SECONDS (default 3)
 *   each way: requests per second, and streamed events per second of a long streamed answer, as
 *   ratios to direct.
 *
 * Everything shares one process and one event loop (the load generator, both proxies and the model
 * server), so the ratios understate what separate processes on separate cores would reach.
 * Goals from issue 10: at most 2 ms added at p50, at least 0.5 of direct throughput.
 */
import { Agent, fetch } from 'undici';
import { startModelServer } from '../src/model-server/server.ts';
import { startClientProxy } from '../src/proxy/server.ts';
import { InferenceSession } from '../src/proxy/session.ts';
import { startWorkerProxy } from '../src/worker/worker-proxy.ts';
import { meshCa, POLICIES, testSecretService, workerVolume } from '../test/unit/proxy/chain-fixture.ts';

const REQUESTS = Number(process.env.CHAIN_BENCH_REQUESTS ?? 300);
const SECONDS = Number(process.env.CHAIN_BENCH_SECONDS ?? 3);
const CONCURRENCY = 16;

const mesh = await meshCa();
const service = await testSecretService(mesh);
const volume = await workerVolume(mesh);
const model = await startModelServer({ host: '127.0.0.1' });
const worker = await startWorkerProxy({
  host: '127.0.0.1',
  certificateDir: volume.dir,
  upstream: model.url.replace(/\/v1$/, ''),
  secrets: service.lookup,
});
const session = new InferenceSession({
  meshCA: mesh.pem,
  manifest: { policies: POLICIES },
  exchange: service.exchange,
  endpoint: worker.url,
});
const proxy = await startClientProxy({ listen: { host: '127.0.0.1', port: 0 }, session });
const dispatcher = new Agent({ connections: CONCURRENCY * 2 });

const small = { model: 'attestor-echo', messages: [{ role: 'user', content: 'Hello there, how are you?' }] };
const long = {
  model: 'attestor-echo',
  stream: true,
  messages: [{ role: 'user', content: 'word '.repeat(200) }],
};

async function chat(base: string, body: object): Promise<boolean> {
  const res = await fetch(`${base}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    dispatcher,
  });
  const answer = (await res.json()) as { choices?: unknown[] };
  return res.status === 200 && Array.isArray(answer.choices);
}

/** The number of events of a streamed answer; 0 when it did not end with [DONE]. */
async function stream(base: string): Promise<number> {
  const res = await fetch(`${base}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(long),
    dispatcher,
  });
  const text = await res.text();
  const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
  return events.at(-1) === 'data: [DONE]' ? events.length - 1 : 0;
}

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

async function timed(base: string): Promise<number> {
  const start = performance.now();
  if (!(await chat(base, small))) throw new Error(`a chat request to ${base} failed`);
  return performance.now() - start;
}

/** Work units per second with CONCURRENCY clients looping for SECONDS. */
async function throughput(work: () => Promise<number>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let total = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const n = await work();
        if (n === 0) throw new Error('benchmark body failed');
        total += n;
      }
    }),
  );
  return (total * 1000) / (performance.now() - start);
}

try {
  const direct = model.url;
  const chain = proxy.url;
  for (let i = 0; i < 20; i++) await Promise.all([timed(direct), timed(chain)]);
  const d: number[] = [];
  const c: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    d.push(await timed(direct));
    c.push(await timed(chain));
  }
  const rows: Array<[string, string]> = [
    ['direct p50 / p99 (ms)', `${percentile(d, 50).toFixed(2)} / ${percentile(d, 99).toFixed(2)}`],
    ['chain p50 / p99 (ms)', `${percentile(c, 50).toFixed(2)} / ${percentile(c, 99).toFixed(2)}`],
    [
      'added p50 / p99 (ms)',
      `${(percentile(c, 50) - percentile(d, 50)).toFixed(2)} / ${(percentile(c, 99) - percentile(d, 99)).toFixed(2)}`,
    ],
  ];
  const directRps = await throughput(async () => ((await chat(direct, small)) ? 1 : 0));
  const chainRps = await throughput(async () => ((await chat(chain, small)) ? 1 : 0));
  rows.push([
    `requests/s at ${CONCURRENCY} clients, direct / chain`,
    `${directRps.toFixed(0)} / ${chainRps.toFixed(0)}`,
  ]);
  rows.push(['  ratio chain/direct', (chainRps / directRps).toFixed(2)]);
  const directEps = await throughput(() => stream(direct));
  const chainEps = await throughput(() => stream(chain));
  rows.push([
    `streamed events/s at ${CONCURRENCY} clients, direct / chain`,
    `${directEps.toFixed(0)} / ${chainEps.toFixed(0)}`,
  ]);
  rows.push(['  ratio chain/direct', (chainEps / directEps).toFixed(2)]);
  rows.push(['key exchanges', String(session.exchanges)]);
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
} finally {
  await proxy.close();
  session.close();
  await worker.close();
  await model.close();
  await volume.remove();
  await dispatcher.close();
}
