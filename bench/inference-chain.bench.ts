/**
 * What the encrypted inference chain costs end to end (node bench/inference-chain.bench.ts): a
 * request through the client proxy -> worker proxy (TLS) -> model server, against the same model
 * server called directly, in one run. The secret comes from a real key exchange with a test secret
 * service; the worker's certificate is a workload certificate of a test mesh CA.
 *
 * - latency: a small chat request (not streamed), one at a time, CHAIN_BENCH_REQUESTS times
 *   (default 300) each way, interleaved; p50 and p99 in ms, and the added p50.
 * - throughput at zero token delay, 16 concurrent clients for CHAIN_BENCH_SECONDS (default 3)
 *   each way: requests per second, and streamed events per second of a long streamed answer, as
 *   ratios to direct. The streamed events run through two client proxies in front of the same
 *   worker proxy: one in record version 2 (batched, the default) and one in version 1 (a record
 *   per event), so old and new are compared in the same run.
 *
 * CHAIN_BENCH_MODE: `separate` runs the model server, the worker proxy and the client proxy each
 * in its own process (bench/lib/chain-part.ts), as in production, with the load generator in this
 * one; `one` runs them all in this process (one event loop for everything, which understates the
 * chain); `both` (default) runs `separate`, then `one`. The direct baseline calls the same model
 * server process as the chain in each mode. Goals from issue 10: at most 2 ms added at p50, at
 * least 0.5 of direct throughput.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import {
  type KeyExchangeRequest,
  parseKeyExchangeRequest,
  secretIdOf,
} from '../src/protocol/inference/key-exchange.ts';
import { meshCa, POLICIES, testSecretService, workerVolume } from '../test/unit/proxy/chain-fixture.ts';
import { type Part, type PartConfig, type PartLinks, startPart } from './lib/chain-part.ts';

const REQUESTS = Number(process.env.CHAIN_BENCH_REQUESTS ?? 300);
const SECONDS = Number(process.env.CHAIN_BENCH_SECONDS ?? 3);
const MODE = process.env.CHAIN_BENCH_MODE ?? 'both';
const CONCURRENCY = 16;
const PART = fileURLToPath(new URL('./lib/chain-part.ts', import.meta.url));

const mesh = await meshCa();
const service = await testSecretService(mesh);
const volume = await workerVolume(mesh);
const dispatcher = new Agent({ connections: CONCURRENCY * 2 });

/** The secret service's answer to an exchange, after the worker's lookup holds the secret. */
async function answer(
  request: KeyExchangeRequest,
  give: (id: string, secret: { secret: Uint8Array; expiresAt: Date }) => Promise<void>,
): Promise<unknown> {
  const response = await service.exchange(request);
  const parsed = parseKeyExchangeRequest(request);
  if ('error' in parsed) throw new Error(parsed.error);
  const id = secretIdOf(parsed.publicKey);
  await give(id, service.secrets.get(id)!);
  return response;
}

interface Chain {
  direct: string;
  chain: string;
  /** A client proxy in record version 1, to the same worker proxy. */
  chainV1: string;
  close(): Promise<void>;
}

/** Every part in this process. */
async function oneProcess(): Promise<Chain> {
  const secrets: PartLinks['secrets'] = new Map();
  const links: PartLinks = {
    secrets,
    exchange: (request) => answer(request, async (id, s) => void secrets.set(id, s)),
  };
  const parts: Part[] = [];
  const start = async (config: PartConfig) => {
    const part = await startPart(config, links);
    parts.push(part);
    return part;
  };
  const model = await start({ role: 'model' });
  const worker = await start({
    role: 'worker',
    certificateDir: volume.dir,
    upstream: model.url.replace(/\/v1$/, ''),
  });
  const client = await start({ role: 'client', meshCA: mesh.pem, policies: POLICIES, endpoint: worker.url });
  const clientV1 = await start({
    role: 'client',
    meshCA: mesh.pem,
    policies: POLICIES,
    endpoint: worker.url,
    recordVersion: 1,
  });
  return {
    direct: model.url,
    chain: client.url,
    chainV1: clientV1.url,
    close: async () => {
      for (const part of parts.reverse()) await part.close();
    },
  };
}

/** A part in a child process of its own. */
async function child(config: PartConfig, worker?: ChildProcess): Promise<{ url: string; process: ChildProcess }> {
  const proc = fork(PART, [], { serialization: 'advanced', stdio: 'inherit' });
  let acks = 0;
  const give = (id: string, s: { secret: Uint8Array; expiresAt: Date }) =>
    new Promise<void>((resolve) => {
      const ack = acks++;
      const onAck = (m: { type: string; ack?: number }) => {
        if (m.type === 'ack' && m.ack === ack) {
          worker?.off('message', onAck);
          resolve();
        }
      };
      worker?.on('message', onAck);
      worker?.send({ type: 'secret', id, secret: s.secret, expiresAt: s.expiresAt.getTime(), ack });
    });
  const started = new Promise<string>((resolve, reject) => {
    proc.on('message', async (m: { type: string; url?: string; call?: number; request?: KeyExchangeRequest }) => {
      if (m.type === 'started') resolve(m.url!);
      else if (m.type === 'exchange') {
        try {
          proc.send({ type: 'exchanged', call: m.call, response: await answer(m.request!, give) });
        } catch (err) {
          proc.send({ type: 'exchanged', call: m.call, error: (err as Error).message });
        }
      }
    });
    proc.once('exit', (code) => reject(new Error(`the ${config.role} process exited (${code})`)));
  });
  proc.send({ type: 'start', config });
  return { url: await started, process: proc };
}

/** Each part in its own process. */
async function separateProcesses(): Promise<Chain> {
  const model = await child({ role: 'model' });
  const worker = await child({
    role: 'worker',
    certificateDir: volume.dir,
    upstream: model.url.replace(/\/v1$/, ''),
  });
  const client = await child(
    { role: 'client', meshCA: mesh.pem, policies: POLICIES, endpoint: worker.url },
    worker.process,
  );
  const clientV1 = await child(
    { role: 'client', meshCA: mesh.pem, policies: POLICIES, endpoint: worker.url, recordVersion: 1 },
    worker.process,
  );
  return {
    direct: model.url,
    chain: client.url,
    chainV1: clientV1.url,
    close: async () => {
      for (const part of [client, clientV1, worker, model]) {
        const exited = new Promise((resolve) => part.process.once('exit', resolve));
        part.process.send({ type: 'close' });
        await exited;
      }
    },
  };
}

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

async function measure(mode: string, parts: Chain): Promise<Array<[string, string]>> {
  const { direct, chain, chainV1 } = parts;
  for (let i = 0; i < 20; i++) await Promise.all([timed(direct), timed(chain)]);
  const d: number[] = [];
  const c: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    d.push(await timed(direct));
    c.push(await timed(chain));
  }
  const rows: Array<[string, string]> = [
    [`${mode}: direct p50 / p99 (ms)`, `${percentile(d, 50).toFixed(2)} / ${percentile(d, 99).toFixed(2)}`],
    [`${mode}: chain p50 / p99 (ms)`, `${percentile(c, 50).toFixed(2)} / ${percentile(c, 99).toFixed(2)}`],
    [
      `${mode}: added p50 / p99 (ms)`,
      `${(percentile(c, 50) - percentile(d, 50)).toFixed(2)} / ${(percentile(c, 99) - percentile(d, 99)).toFixed(2)}`,
    ],
  ];
  const directRps = await throughput(async () => ((await chat(direct, small)) ? 1 : 0));
  const chainRps = await throughput(async () => ((await chat(chain, small)) ? 1 : 0));
  rows.push([
    `${mode}: requests/s at ${CONCURRENCY} clients, direct / chain`,
    `${directRps.toFixed(0)} / ${chainRps.toFixed(0)}`,
  ]);
  rows.push([`${mode}:   ratio chain/direct`, (chainRps / directRps).toFixed(2)]);
  const directEps = await throughput(() => stream(direct));
  const chainEps = await throughput(() => stream(chain));
  const chainV1Eps = await throughput(() => stream(chainV1));
  rows.push([
    `${mode}: streamed events/s at ${CONCURRENCY} clients, direct / chain v2 / chain v1`,
    `${directEps.toFixed(0)} / ${chainEps.toFixed(0)} / ${chainV1Eps.toFixed(0)}`,
  ]);
  rows.push([
    `${mode}:   ratio chain/direct, v2 (batched) / v1`,
    `${(chainEps / directEps).toFixed(2)} / ${(chainV1Eps / directEps).toFixed(2)}`,
  ]);
  return rows;
}

try {
  const rows: Array<[string, string]> = [];
  for (const mode of MODE === 'both' ? ['separate', 'one'] : [MODE]) {
    const parts = mode === 'one' ? await oneProcess() : await separateProcesses();
    try {
      rows.push(...(await measure(mode === 'one' ? 'one process' : 'separate processes', parts)));
    } finally {
      await parts.close();
    }
  }
  rows.push(['key exchanges', String(service.exchanges)]);
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
} finally {
  await volume.remove();
  await dispatcher.close();
}
