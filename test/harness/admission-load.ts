/**
 * A bounded open loop of AdmissionReview requests against a webhook server on loopback, run in a
 * worker thread so that the client's CPU does not stall the server's event loop. Request i is due
 * at start + i / rate; its latency is measured from when it was due (a server that falls behind
 * shows it, rather than slowing the loop down). Every answer is checked: HTTP 200, the request's
 * uid, and `allowed` as expected; a refusal where an allowance was expected is an error, an
 * allowance where a refusal was expected is a fail-open.
 */
import { Agent, request } from 'node:https';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

export interface LoadRequest {
  /** e.g. /validate-pods */
  path: string;
  /** The AdmissionReview as JSON, with the uid written as `__UID__`. */
  body: string;
  expectAllowed: boolean;
  /** Names the kind of request in the report. */
  label: string;
}

export interface LoadOptions {
  port: number;
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  /** Requests per second. */
  rate: number;
  seconds: number;
  /** Cycled through in order. */
  requests: LoadRequest[];
  /** Open connections at most (default 64). */
  maxSockets?: number;
}

export interface LoadReport {
  sent: number;
  answered: number;
  /** Transport errors, non-200 answers, wrong uids, unreadable bodies, refusals of what should be allowed. */
  errors: number;
  /** Allowed where a refusal was expected. */
  failOpen: number;
  /** Refusals per label (each label's expected refusals are all counted here). */
  refusedByLabel: Record<string, number>;
  allowedByLabel: Record<string, number>;
  /** The first few problems, for the assertion message. */
  problems: string[];
  /** From the first request's due time to the last answer. */
  elapsedMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Runs the loop in a worker thread and resolves with its report. */
export function runAdmissionLoad(options: LoadOptions): Promise<LoadReport> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: options });
    worker.once('message', (report: LoadReport) => resolve(report));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the load worker exited with ${code}`));
    });
  });
}

/** Percentile of sorted values (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function load(options: LoadOptions): Promise<LoadReport> {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: options.maxSockets ?? 64,
    ca: options.caPem,
    cert: options.clientCertPem,
    key: options.clientKeyPem,
  });
  const total = Math.round(options.rate * options.seconds);
  const intervalMs = 1000 / options.rate;
  const latencies: number[] = [];
  const report: LoadReport = {
    sent: 0,
    answered: 0,
    errors: 0,
    failOpen: 0,
    refusedByLabel: {},
    allowedByLabel: {},
    problems: [],
    elapsedMs: 0,
    p50Ms: 0,
    p99Ms: 0,
    maxMs: 0,
  };
  const problem = (text: string) => {
    if (report.problems.length < 10) report.problems.push(text);
  };
  const start = performance.now();
  let lastAnswer = start;
  const one = (i: number, due: number) =>
    new Promise<void>((done) => {
      const r = options.requests[i % options.requests.length]!;
      const uid = `load-${i}`;
      const body = r.body.replace('__UID__', uid);
      const finish = (check: (status: number, text: string) => void) => (status: number, text: string) => {
        const now = performance.now();
        lastAnswer = Math.max(lastAnswer, now);
        latencies.push(now - due);
        check(status, text);
        done();
      };
      const judge = finish((status, text) => {
        if (status !== 200) {
          report.errors++;
          problem(`${r.label} ${uid}: HTTP ${status} ${text.slice(0, 200)}`);
          return;
        }
        let response: { uid?: string; allowed?: boolean } | undefined;
        try {
          response = (JSON.parse(text) as { response?: { uid?: string; allowed?: boolean } }).response;
        } catch {
          response = undefined;
        }
        if (response?.uid !== uid || typeof response.allowed !== 'boolean') {
          report.errors++;
          problem(`${r.label} ${uid}: not an answer to this request: ${text.slice(0, 200)}`);
          return;
        }
        report.answered++;
        const tally = response.allowed ? report.allowedByLabel : report.refusedByLabel;
        tally[r.label] = (tally[r.label] ?? 0) + 1;
        if (response.allowed && !r.expectAllowed) {
          report.failOpen++;
          problem(`${r.label} ${uid}: allowed, but must be refused`);
        } else if (!response.allowed && r.expectAllowed) {
          report.errors++;
          problem(`${r.label} ${uid}: refused, but must be allowed: ${text.slice(0, 300)}`);
        }
      });
      const req = request(
        {
          host: '127.0.0.1',
          port: options.port,
          path: r.path,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => judge(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
          res.on('error', (err) => judge(0, err.message));
        },
      );
      req.on('error', (err) => judge(0, err.message));
      req.end(body);
      report.sent++;
    });

  // Each tick sends every request that is due by then: the loop keeps the rate, whatever the answers do.
  const pending: Promise<void>[] = [];
  await new Promise<void>((loopDone) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * intervalMs <= now) {
        pending.push(one(next, start + next * intervalMs));
        next++;
      }
      if (next < total) setTimeout(tick, Math.max(0, Math.min(5, start + next * intervalMs - performance.now())));
      else loopDone();
    };
    tick();
  });
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  report.elapsedMs = lastAnswer - start;
  report.p50Ms = percentile(latencies, 50);
  report.p99Ms = percentile(latencies, 99);
  report.maxMs = latencies.at(-1) ?? Number.NaN;
  return report;
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  load(workerData as LoadOptions).then(
    (report) => port.postMessage(report),
    (err: unknown) => {
      throw err; // the worker's 'error' event rejects runAdmissionLoad
    },
  );
}
