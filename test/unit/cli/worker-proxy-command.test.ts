// `attestor worker-proxy` as the AI worker pod runs it: from a certificate volume as attestor init
// leaves it, in front of the embedded model server. curl (trusting only the mesh CA) gets the
// models through it; without a secret store wired in, an encrypted request is refused as
// unknown_secret and a plaintext one as not_encrypted: it fails closed.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../../src/dev/control-plane.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { type ModelServer, startModelServer } from '../../../src/model-server/server.ts';
import { newNonce, sealRequest } from '../../../src/protocol/inference/records.ts';
import { meshCa, workerVolume } from '../proxy/chain-fixture.ts';

const run = promisify(execFile);

describe('attestor worker-proxy', function () {
  this.timeout(120_000);
  let model: ModelServer;
  let volume: Awaited<ReturnType<typeof workerVolume>>;
  let child: ChildProcess;
  let url: string;
  let caFile: string;
  const seen: unknown[] = [];

  before(async () => {
    const mesh = await meshCa();
    volume = await workerVolume(mesh);
    caFile = join(volume.dir, 'test-mesh-ca.pem');
    await writeFile(caFile, mesh.pem);
    model = await startModelServer({ host: '127.0.0.1', onRequest: (path) => seen.push(path) });
    child = spawn(
      process.execPath,
      [
        join(projectRoot, 'src/cli/main.ts'),
        'worker-proxy',
        '--listen',
        '127.0.0.1:0',
        '--certificate-dir',
        volume.dir,
        '--upstream',
        model.url.replace(/\/v1$/, ''),
      ],
      { cwd: projectRoot },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    url = await waitFor(() => /"url":"(https:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1], {
      timeoutMs: 60_000,
      description: 'the worker proxy listening',
    });
    assert.match(out, /no secret service is configured/);
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGTERM');
    await model?.close();
    await volume?.remove();
  });

  const curl = async (path: string, body?: unknown) => {
    const args = ['-sS', '--cacert', caFile, '-w', '\n%{http_code}', `${url}${path}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '-d', JSON.stringify(body));
    const { stdout } = await run('curl', args);
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) };
  };

  it('passes /v1/models through over TLS with the workload certificate', async () => {
    const models = await curl('/v1/models');
    assert.equal(models.status, 200);
    assert.equal(models.body.data[0].id, 'attestor-echo');
  });

  it('refuses an encrypted request as unknown_secret and a plaintext one as not_encrypted; the model server sees neither', async () => {
    seen.length = 0;
    const context = {
      secret: new Uint8Array(32).fill(1),
      secretId: Buffer.alloc(32, 2).toString('base64'),
      nonce: newNonce(),
      path: '/v1/chat/completions' as const,
    };
    const chat = { model: 'attestor-echo', messages: [{ role: 'user', content: 'hi' }] };
    const sealed = await curl('/v1/chat/completions', sealRequest(context, chat, Date.now()));
    assert.equal(sealed.status, 401);
    assert.equal(sealed.body.error.code, 'unknown_secret');
    const plain = await curl('/v1/chat/completions', chat);
    assert.equal(plain.status, 400);
    assert.equal(plain.body.error.code, 'not_encrypted');
    assert.deepEqual(seen, []);
  });
});
