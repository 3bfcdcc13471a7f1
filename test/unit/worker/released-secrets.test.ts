// The worker proxy's secrets come from the real secret service: a real etcd (bin/etcd) with a
// secret-store certificate and mesh client certificates required, the service serving HTTPS with
// its workload certificate, and the worker's own `attestor init` volume (cert.pem, key.pem,
// mesh-ca.pem) for mutual TLS. The lookup prefetches by the watch and asks by ID on a miss;
// `attestor worker-proxy --secret-service` as a process answers an InferenceSession whose secret
// the service exchanged, and refuses one that no service knows.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createPrivateKey, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../../src/dev/control-plane.ts';
import { freePorts } from '../../../src/dev/ports.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { type ModelServer, startModelServer } from '../../../src/model-server/server.ts';
import { createLogger } from '../../../src/observability/log.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import {
  acceptKeyExchange,
  answerKeyExchange,
  keyExchangeRequest,
  newClientKeyPair,
  parseKeyExchangeRequest,
} from '../../../src/protocol/inference/key-exchange.ts';
import { secretServiceExchange } from '../../../src/proxy/secret-exchange.ts';
import { InferenceSession } from '../../../src/proxy/session.ts';
import { type LocalEtcd, startLocalEtcd } from '../../../src/secrets/local-etcd.ts';
import { type SecretService, startSecretService } from '../../../src/secrets/secret-service.ts';
import { startReleasedSecrets } from '../../../src/worker/released-secrets.ts';
import { POLICIES, workerVolume } from '../proxy/chain-fixture.ts';
import { meshCa, workload, writeWorkloadFiles } from '../secrets/identities.ts';

const run = promisify(execFile);

describe('the worker proxy with the secret service (real etcd, real processes on loopback)', function () {
  this.timeout(180_000);
  let dir: string;
  let mesh: CertificateAuthority;
  let etcd: LocalEtcd;
  let service: SecretService;
  let worker: Awaited<ReturnType<typeof workerVolume>>;

  /** A client's exchange with the service, checked as a client does. */
  async function exchange() {
    const pair = await newClientKeyPair();
    const answer = await secretServiceExchange({ url: service.url, ca: mesh.pem, ignoreHostName: true })(
      keyExchangeRequest(pair),
    );
    const accepted = await acceptKeyExchange({
      pair,
      response: answer,
      meshCA: mesh.pem,
      policies: POLICIES,
      at: new Date(),
    });
    assert.ok(accepted.accepted, JSON.stringify(!accepted.accepted && accepted.reasons));
    return accepted;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'released-secrets-'));
    mesh = await meshCa();
    const [clientPort, peerPort] = await freePorts(2);
    const store = await workload(mesh, 'secret-store');
    writeFileSync(join(dir, 'etcd-cert.pem'), store.cert);
    writeFileSync(join(dir, 'etcd-key.pem'), store.key, { mode: 0o600 });
    writeFileSync(join(dir, 'etcd-trusted.pem'), mesh.pem);
    etcd = startLocalEtcd({
      dir: join(dir, 'etcd'),
      clientPort: clientPort!,
      peerPort: peerPort!,
      certFile: join(dir, 'etcd-cert.pem'),
      keyFile: join(dir, 'etcd-key.pem'),
      trustedCaFile: join(dir, 'etcd-trusted.pem'),
    });
    writeWorkloadFiles(join(dir, 'service'), mesh, await workload(mesh, 'secret-service'));
    const probe = ['-sk', '--cert', join(dir, 'service/cert.pem'), '--key', join(dir, 'service/key.pem')];
    await waitFor(
      async () => (await run('curl', [...probe, `${etcd.endpoint}/health`])).stdout.includes('"health":"true"'),
      { timeoutMs: 60_000, description: 'the secret-store etcd to answer' },
    );
    service = await startSecretService({
      host: '127.0.0.1',
      port: 0,
      certDir: join(dir, 'service'),
      etcdEndpoints: [etcd.endpoint],
      rateLimit: { perMinute: 6000, burst: 1000 },
      log: createLogger({ level: 'error' }),
    });
    worker = await workerVolume(mesh);
    writeFileSync(join(worker.dir, 'mesh-ca.pem'), mesh.pem);
  });
  after(async () => {
    await service?.close();
    await etcd?.process.stop();
    await worker?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prefetches a secret exchanged after the watch is up, and asks by ID for one exchanged before', async () => {
    const before = await exchange();
    const secrets = await startReleasedSecrets({ url: service.url, certificateDir: worker.dir });
    try {
      await waitFor(() => secrets.watching.then(() => true), { timeoutMs: 30_000, description: 'the watch' });
      assert.equal(secrets.size(), 0, 'the watch brings only secrets exchanged from now on');
      const after = await exchange();
      await waitFor(() => secrets.size() === 1, { timeoutMs: 30_000, description: 'the watch to bring the secret' });
      assert.deepEqual((await secrets.get(after.secretId))?.secret, after.secret);
      const fetched = await secrets.get(before.secretId);
      assert.deepEqual(fetched?.secret, before.secret, 'a miss asks the service by ID');
      assert.equal(secrets.size(), 2);
      assert.equal(await secrets.get(Buffer.alloc(32, 7).toString('base64')), undefined, 'an unknown ID');
    } finally {
      secrets.close();
    }
  });

  it('a worker certificate from another mesh CA is refused by the service, so the lookup fails', async () => {
    const accepted = await exchange();
    const other = await meshCa();
    const stranger = await workerVolume(other);
    writeFileSync(join(stranger.dir, 'mesh-ca.pem'), mesh.pem);
    const secrets = await startReleasedSecrets({ url: service.url, certificateDir: stranger.dir });
    try {
      await assert.rejects(secrets.get(accepted.secretId));
      assert.equal(secrets.size(), 0);
    } finally {
      secrets.close();
      await stranger.remove();
    }
  });

  describe('attestor worker-proxy --secret-service as a process', () => {
    let model: ModelServer;
    let child: ChildProcess;
    let out = '';
    let url: string;
    const prompts: string[] = [];

    before(async () => {
      model = await startModelServer({
        host: '127.0.0.1',
        onRequest: (_path, body) => prompts.push(JSON.stringify(body)),
      });
      child = spawn(
        process.execPath,
        [
          join(projectRoot, 'src/cli/main.ts'),
          'worker-proxy',
          '--listen',
          '127.0.0.1:0',
          '--certificate-dir',
          worker.dir,
          '--secret-service',
          service.url,
          '--upstream',
          model.url.replace(/\/v1$/, ''),
        ],
        { cwd: projectRoot },
      );
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr!.on('data', (d: Buffer) => {
        out += d.toString();
      });
      url = await waitFor(() => /"url":"(https:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1], {
        timeoutMs: 60_000,
        description: 'the worker proxy listening',
      });
      await waitFor(() => out.includes('watching the secret service'), {
        timeoutMs: 60_000,
        description: 'the worker proxy watching the secret service',
      });
      assert.doesNotMatch(out, /no secret service is configured/);
    });
    after(async () => {
      if (child && child.exitCode === null) child.kill('SIGTERM');
      await model?.close();
    });

    it('answers a session whose secret the service exchanged; the model server sees the prompt, the log does not', async () => {
      const session = new InferenceSession({
        meshCA: mesh.pem,
        manifest: { policies: POLICIES },
        exchange: secretServiceExchange({ url: service.url, ca: mesh.pem, ignoreHostName: true }),
        endpoint: url,
      });
      const marker = `released-${Math.random().toString(36).slice(2)}`;
      const answer = await session.send('POST', '/v1/chat/completions', {
        model: 'attestor-echo',
        messages: [{ role: 'user', content: marker }],
      });
      assert.ok('body' in answer, JSON.stringify(answer));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.match(JSON.stringify(answer.body), new RegExp(marker));
      assert.equal(session.exchanges, 1);
      assert.ok(prompts.some((p) => p.includes(marker)));
      assert.ok(!out.includes(marker));
    });

    it('refuses a request under a secret the service never exchanged as unknown_secret', async () => {
      const session = new InferenceSession({
        meshCA: mesh.pem,
        manifest: { policies: POLICIES },
        // A client that agreed its secret elsewhere: the worker's service does not know it.
        exchange: async (request) => {
          const parsed = parseKeyExchangeRequest(request);
          if ('error' in parsed) throw new Error(parsed.error);
          const identity = await workload(mesh, 'secret-service');
          const der = createPrivateKey(identity.key).export({ type: 'pkcs8', format: 'der' });
          const signingKey = await webcrypto.subtle.importKey(
            'pkcs8',
            der,
            { name: 'ECDSA', namedCurve: 'P-256' },
            false,
            ['sign'],
          );
          const answer = await answerKeyExchange({
            clientPublicKey: parsed.publicKey,
            signingKey,
            certificateChain: [identity.cert],
            expiresAt: new Date(Date.now() + 3_600_000),
          });
          if ('error' in answer) throw new Error(answer.error);
          return answer.response;
        },
        endpoint: url,
      });
      const before = prompts.length;
      const answer = await session.send('POST', '/v1/chat/completions', {
        model: 'attestor-echo',
        messages: [{ role: 'user', content: 'hello' }],
      });
      assert.ok('body' in answer, JSON.stringify(answer));
      assert.equal(answer.status, 401);
      assert.equal((answer.body as { error: { code: string } }).error.code, 'unknown_secret');
      assert.equal(session.exchanges, 2, 'the session exchanged once more on unknown_secret');
      assert.equal(prompts.length, before, 'the model server saw nothing');
    });
  });
});
