// The node agent's countersigning endpoint, driven with curl: the node's budget is spent before
// anything reaches the API server (429 with Retry-After), bodies are bounded (413), a body that is
// not JSON is a 400, and the countersigner's answer goes out as it is.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningCountersignServer, startCountersignServer } from '../../../src/agent/countersign-server.ts';
import { Countersigner } from '../../../src/agent/countersigner.ts';
import { KeyedRateLimiter } from '../../../src/coordinator/rate-limiter.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { COUNTERSIGN_PATH, MAX_COUNTERSIGN_BODY_BYTES } from '../../../src/protocol/countersignature.ts';

describe('the node agent countersigning endpoint (curl)', () => {
  let server: RunningCountersignServer;
  let dir: string;
  let reviews = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'countersign-server-'));
    const limiter = new KeyedRateLimiter({ burst: 3, intervalMs: 60_000 });
    server = await startCountersignServer({
      host: '127.0.0.1',
      port: 0,
      log: silentLogger,
      admit: () => limiter.take('node', new Date()),
      countersigner: new Countersigner({
        node: 'n1',
        authenticate: async () => {
          reviews++;
          return { ok: false, status: 401, reason: 'the token was not accepted' };
        },
        readPod: async () => undefined,
        sign: async () => ({ ok: false, final: false, reason: 'not attested yet' }),
      }),
    });
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function curl(body: string | Buffer): Promise<{ status: number; headers: string; body: string }> {
    const file = join(dir, 'body');
    await writeFile(file, body);
    const args = [
      '-sS',
      '-X',
      'POST',
      '-D',
      '-',
      '-H',
      'content-type: application/json',
      '-H',
      'authorization: Bearer t',
    ];
    args.push('--data-binary', `@${file}`, `http://127.0.0.1:${server.port}${COUNTERSIGN_PATH}`);
    const out = await new Promise<string>((resolve, reject) =>
      execFile('curl', args, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout),
      ),
    );
    const [head, ...rest] = out.split('\r\n\r\n');
    return { status: Number(head!.split(' ')[1]), headers: head!.toLowerCase(), body: rest.join('\r\n\r\n') };
  }

  it('answers a well-formed request with the countersigner (401 here), a larger body with 413, a body that is not JSON with 400, and beyond the budget with 429 before any TokenReview', async () => {
    const request = JSON.stringify({ nonce: 'a1'.repeat(32), spki: 'AAAA', proof: 'x.y.z' });
    const ok = await curl(request);
    assert.equal(ok.status, 401, ok.body);
    assert.match(JSON.parse(ok.body).error, /not accepted/);
    assert.equal(reviews, 1);

    const large = await curl(JSON.stringify({ nonce: 'a'.repeat(MAX_COUNTERSIGN_BODY_BYTES) }));
    assert.equal(large.status, 413);
    const garbage = await curl('{not json');
    assert.equal(garbage.status, 400);
    assert.equal(reviews, 1, 'neither reached the TokenReview');

    const limited = await curl(request);
    assert.equal(limited.status, 429);
    assert.match(limited.headers, /retry-after: \d+/);
    assert.equal(reviews, 1, 'a request beyond the budget reaches no TokenReview');
  });
});
