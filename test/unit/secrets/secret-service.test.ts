// The secret service as real processes on loopback: a real etcd (bin/etcd) serving TLS with a
// secret-store certificate and requiring mesh client certificates, the service serving HTTPS with
// its workload certificate, curl and acceptKeyExchange as the client, and SecretReleaseClient with
// worker certificates. Release, refusals, the Manifest change, the limits, and no secret in
// plaintext in etcd (its API and its data files) or in the service's log.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../../src/dev/ports.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import {
  acceptKeyExchange,
  keyExchangeRequest,
  newClientKeyPair,
} from '../../../src/protocol/inference/key-exchange.ts';
import { ApiKeys } from '../../../src/secrets/api-keys.ts';
import { EtcdStore } from '../../../src/secrets/etcd-store.ts';
import type { SecretReleaseError } from '../../../src/secrets/release-client.ts';
import { SECRET_KEY_PREFIX, type SecretService, startSecretService } from '../../../src/secrets/secret-service.ts';
import { meshCa, workload, writeWorkloadFiles } from './identities.ts';
import {
  CapturedLog,
  curlExchange,
  exchange,
  filesUnder,
  forms,
  receivedKey,
  refusedWith,
  releaseClient,
  run,
  SERVICE_POLICIES,
  type Store,
  startStore,
} from './service-harness.ts';

describe('secret service (real etcd, real processes on loopback)', function () {
  this.timeout(180_000);
  let dir: string;
  let mesh: CertificateAuthority;
  let store: Store;
  let service: SecretService;
  let log: CapturedLog;
  const released: Uint8Array[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'secret-service-'));
    mesh = await meshCa();
    store = await startStore(dir, mesh, await workload(mesh, 'secret-store'), mesh.pem);
    writeWorkloadFiles(join(dir, 'service'), mesh, await workload(mesh, 'secret-service'));
    log = new CapturedLog();
    service = await startSecretService({
      host: '127.0.0.1',
      port: 0,
      certDir: join(dir, 'service'),
      etcdEndpoints: [store.etcd.endpoint],
      rateLimit: { perMinute: 6000, burst: 1000 },
      log: log.logger,
    });
  });
  after(async () => {
    await service?.close();
    await store?.etcd.process.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exchanges a secret with a client (curl, acceptKeyExchange) and releases it to a worker of the same mesh CA', async () => {
    const accepted = await exchange(service, mesh, dir);
    const worker = releaseClient(service, mesh, await workload(mesh, 'worker'));
    try {
      const release = await worker.get(accepted.secretId);
      assert.ok(release);
      assert.deepEqual(release.secret, accepted.secret);
      assert.equal(release.id, accepted.secretId);
      assert.equal(release.expiresAt.getTime(), accepted.expiresAt.getTime());
      const lifetime = release.expiresAt.getTime() - Date.now();
      assert.ok(lifetime > 3_500_000 && lifetime <= 3_600_000, `a lease of 1 h, not ${lifetime} ms`);
      released.push(accepted.secret);
    } finally {
      worker.close();
    }
  });

  it('refuses a second exchange for the same public key, and keeps the first secret', async () => {
    const pair = await newClientKeyPair();
    writeFileSync(join(dir, 'ca.pem'), mesh.pem);
    writeFileSync(join(dir, 'same.json'), JSON.stringify(keyExchangeRequest(pair)));
    const first = await curlExchange(service, join(dir, 'ca.pem'), join(dir, 'same.json'));
    assert.equal(first.status, 200);
    const accepted = await acceptKeyExchange({
      pair,
      response: first.body,
      meshCA: mesh.pem,
      policies: SERVICE_POLICIES,
      at: new Date(),
    });
    assert.ok(accepted.accepted);
    released.push(accepted.secret);
    const again = await curlExchange(service, join(dir, 'ca.pem'), join(dir, 'same.json'));
    assert.equal(again.status, 400);
    assert.match(JSON.stringify(again.body), /used before/);
    const worker = releaseClient(service, mesh, await workload(mesh, 'worker'));
    try {
      assert.deepEqual((await worker.get(accepted.secretId))?.secret, accepted.secret);
    } finally {
      worker.close();
    }
  });

  it('pushes new secrets to a watching worker', async () => {
    const worker = releaseClient(service, mesh, await workload(mesh, 'worker'));
    const controller = new AbortController();
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const events = worker.watch({ signal: controller.signal, onReady: ready });
    const first = events.next();
    await isReady;
    const accepted = await exchange(service, mesh, dir);
    const event = await first;
    controller.abort();
    worker.close();
    assert.ok(!event.done);
    assert.equal(event.value.id, accepted.secretId);
    assert.deepEqual(event.value.secret, accepted.secret);
    released.push(accepted.secret);
  });

  it('refuses a worker certificate from another mesh CA, and a secret-store, secret-service or identity-less certificate', async () => {
    const accepted = await exchange(service, mesh, dir);
    released.push(accepted.secret);
    const other = await meshCa();
    const foreign = await refusedWith(releaseClient(service, mesh, await workload(other, 'worker')), accepted.secretId);
    assert.equal(foreign.code, 'release_refused');
    assert.equal(foreign.status, 403);
    assert.match(foreign.message, /another mesh CA/);
    for (const role of ['secret-store', 'secret-service']) {
      const err = await refusedWith(releaseClient(service, mesh, await workload(mesh, role)), accepted.secretId);
      assert.equal(err.code, 'release_refused', role);
      assert.match(err.message, new RegExp(`names the role ${role}, not worker`));
    }
    const bare = await refusedWith(releaseClient(service, mesh, await workload(mesh, undefined)), accepted.secretId);
    assert.match(bare.message, /no workload identity extension/);
  });

  it('refuses an expired worker certificate, and answers an unknown ID with nothing', async () => {
    const accepted = await exchange(service, mesh, dir);
    released.push(accepted.secret);
    const expired = await workload(mesh, 'worker', { now: new Date(Date.now() - 7_200_000), lifetimeMs: 3_600_000 });
    const err = await refusedWith(releaseClient(service, mesh, expired), accepted.secretId);
    assert.equal(err.code, 'release_refused');
    assert.match(err.message, /expired at/);
    const worker = releaseClient(service, mesh, await workload(mesh, 'worker'));
    try {
      assert.equal(await worker.get(Buffer.alloc(32, 9).toString('base64')), undefined);
    } finally {
      worker.close();
    }
  });

  it('refuses a worker watch with a certificate of another role', async () => {
    const client = releaseClient(service, mesh, await workload(mesh, 'secret-store'));
    try {
      await assert.rejects(client.watch().next(), (err: SecretReleaseError) => err.code === 'release_refused');
    } finally {
      client.close();
    }
  });

  it('refuses a body over the limit, and malformed exchanges (curl)', async () => {
    writeFileSync(join(dir, 'ca.pem'), mesh.pem);
    writeFileSync(join(dir, 'big.json'), JSON.stringify({ publicKey: 'A'.repeat(5000) }));
    const big = await curlExchange(service, join(dir, 'ca.pem'), join(dir, 'big.json'));
    assert.equal(big.status, 413);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ publicKey: 'AAAA' }));
    const bad = await curlExchange(service, join(dir, 'ca.pem'), join(dir, 'bad.json'));
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { error: { code: string } }).error.code, 'malformed_exchange');
  });

  it('rate-limits exchanges per client address, and needs an accepted API key when configured (curl)', async () => {
    const limited = await receivedKey(
      await startSecretService({
        host: '127.0.0.1',
        port: 0,
        certDir: join(dir, 'service'),
        etcdEndpoints: [store.etcd.endpoint],
        rateLimit: { perMinute: 1, burst: 2 },
        apiKeys: ApiKeys.parse(`${createHash('sha256').update('gateway-key').digest('hex')}\n`),
        keyShareIntervalMs: 100,
        log: log.logger,
      }),
    );
    try {
      writeFileSync(join(dir, 'ca.pem'), mesh.pem);
      const pair = await newClientKeyPair();
      writeFileSync(join(dir, 'ok.json'), JSON.stringify(keyExchangeRequest(pair)));
      const ask = (headers: string[]) => curlExchange(limited, join(dir, 'ca.pem'), join(dir, 'ok.json'), headers);
      const noKey = await ask([]);
      assert.equal(noKey.status, 401);
      assert.equal((noKey.body as { error: { code: string } }).error.code, 'unauthenticated');
      const withKey = await ask(['authorization: Bearer gateway-key']);
      assert.equal(withKey.status, 200, JSON.stringify(withKey.body));
      const third = await ask(['authorization: Bearer gateway-key']);
      assert.equal(third.status, 429);
      assert.equal((third.body as { error: { code: string } }).error.code, 'rate_limited');
    } finally {
      await limited.close();
    }
  });

  it('refuses an exchange once the store holds as many live secrets as allowed (curl)', async () => {
    const probe = new EtcdStore([store.etcd.endpoint], {
      ...(await workload(mesh, 'secret-service')),
      meshCa: mesh.pem,
    });
    const live = await probe.count(SECRET_KEY_PREFIX);
    probe.close();
    const capped = await receivedKey(
      await startSecretService({
        host: '127.0.0.1',
        port: 0,
        certDir: join(dir, 'service'),
        etcdEndpoints: [store.etcd.endpoint],
        maxSecrets: live + 1,
        keyShareIntervalMs: 100,
        log: log.logger,
      }),
    );
    try {
      writeFileSync(join(dir, 'ca.pem'), mesh.pem);
      const results: number[] = [];
      for (let i = 0; i < 2; i++) {
        writeFileSync(join(dir, `cap-${i}.json`), JSON.stringify(keyExchangeRequest(await newClientKeyPair())));
        const answer = await curlExchange(capped, join(dir, 'ca.pem'), join(dir, `cap-${i}.json`));
        results.push(answer.status);
        if (i === 1) assert.equal((answer.body as { error: { code: string } }).error.code, 'secret_capacity');
      }
      assert.deepEqual(results, [200, 503]);
    } finally {
      await capped.close();
    }
  });

  it('answers nothing while its certificate is withdrawn (attestor init removed cert.pem), and again once it returns', async () => {
    const certDir = join(dir, 'withdrawn');
    const identity = await workload(mesh, 'secret-service');
    writeWorkloadFiles(certDir, mesh, identity);
    const withdrawable = await receivedKey(
      await startSecretService({
        host: '127.0.0.1',
        port: 0,
        certDir,
        etcdEndpoints: [store.etcd.endpoint],
        reloadIntervalMs: 50,
        keyShareIntervalMs: 100,
        log: log.logger,
      }),
    );
    try {
      writeFileSync(join(dir, 'ca.pem'), mesh.pem);
      const ask = async () => {
        writeFileSync(join(dir, 'w.json'), JSON.stringify(keyExchangeRequest(await newClientKeyPair())));
        return curlExchange(withdrawable, join(dir, 'ca.pem'), join(dir, 'w.json'));
      };
      rmSync(join(certDir, 'cert.pem'));
      const refused = await waitFor(
        async () => {
          const answer = await ask();
          return answer.status === 503 && answer;
        },
        { timeoutMs: 30_000, description: 'the service to notice the withdrawal' },
      );
      assert.equal((refused.body as { error: { code: string } }).error.code, 'service_uncertified');
      writeFileSync(join(certDir, 'cert.pem'), identity.cert);
      await waitFor(async () => (await ask()).status === 200, {
        timeoutMs: 30_000,
        description: 'the service to answer again',
      });
    } finally {
      await withdrawable.close();
    }
  });

  it('runs as `attestor secret-service` (a process): exchange with curl, release to a worker, nothing secret on its output', async () => {
    const port = (await freePorts(1))[0]!;
    const child = spawn(
      process.execPath,
      [
        'src/cli/main.ts',
        'secret-service',
        '--listen',
        `127.0.0.1:${port}`,
        '--cert-dir',
        join(dir, 'service'),
        '--etcd',
        store.etcd.endpoint,
        '--key-share-interval',
        '100ms',
        '--log-level',
        'debug',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => output.includes(`secret service: https://127.0.0.1:${port}`), {
        timeoutMs: 60_000,
        description: 'attestor secret-service to listen',
      });
      // A second replica: it serves once the first handed it the storage key (curl on its readiness probe).
      writeFileSync(join(dir, 'ca.pem'), mesh.pem);
      await waitFor(
        async () => {
          const { stdout } = await run('curl', [
            '-sS',
            '--cacert',
            join(dir, 'ca.pem'),
            '-o',
            '/dev/null',
            '-w',
            '%{http_code}',
            `https://127.0.0.1:${port}/readyz`,
          ]);
          return stdout === '200';
        },
        { timeoutMs: 30_000, description: 'attestor secret-service to receive the storage key' },
      );
      const cli: SecretService = {
        url: `https://127.0.0.1:${port}`,
        port,
        ready: () => true,
        storageKeyForTests: () => undefined,
        close: async () => {},
      };
      const accepted = await exchange(cli, mesh, dir);
      const worker = releaseClient(cli, mesh, await workload(mesh, 'worker'));
      try {
        assert.deepEqual((await worker.get(accepted.secretId))?.secret, accepted.secret);
      } finally {
        worker.close();
      }
      released.push(accepted.secret);
      child.kill('SIGTERM');
      await exited;
      assert.match(output, /secret released to a worker/);
      for (const form of forms(accepted.secret))
        assert.equal(Buffer.from(output).indexOf(form), -1, "a secret in the process's output");
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("keeps every secret out of etcd's keys and values, its data files, and the service's log", async () => {
    assert.ok(released.length >= 3);
    // Every key and value, straight from etcd's API (curl with a mesh client certificate).
    const reader = await workload(mesh, 'secret-service');
    writeFileSync(join(dir, 'reader.pem'), reader.cert);
    writeFileSync(join(dir, 'reader-key.pem'), reader.key);
    writeFileSync(join(dir, 'ca.pem'), mesh.pem);
    const { stdout } = await run('curl', [
      '-sS',
      '--cacert',
      join(dir, 'ca.pem'),
      '--cert',
      join(dir, 'reader.pem'),
      '--key',
      join(dir, 'reader-key.pem'),
      '-X',
      'POST',
      `${store.etcd.endpoint}/v3/kv/range`,
      '-d',
      JSON.stringify({ key: Buffer.from([0]).toString('base64'), range_end: Buffer.from([0]).toString('base64') }),
    ]);
    const kvs = (JSON.parse(stdout) as { kvs: Array<{ key: string; value: string }> }).kvs;
    assert.ok(kvs.length >= released.length, `etcd holds ${kvs.length} keys`);
    const stored = Buffer.concat(
      kvs.flatMap((kv) => [Buffer.from(kv.key, 'base64'), Buffer.from(kv.value, 'base64'), Buffer.from(kv.value)]),
    );
    const dataFiles = filesUnder(store.etcd.dataDir).map((f) => readFileSync(f));
    for (const secret of released)
      for (const form of forms(secret)) {
        assert.equal(stored.indexOf(form), -1, "a secret in etcd's keys or values");
        for (const data of dataFiles) assert.equal(data.indexOf(form), -1, "a secret in etcd's data files");
        assert.equal(Buffer.from(log.text).indexOf(form), -1, "a secret in the service's log");
      }
    assert.match(log.text, /secret exchanged/, 'the log was captured');
  });
});

describe('secret service: the store and the Manifest change', function () {
  this.timeout(180_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'secret-store-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses an etcd whose certificate is not a secret-store one, or not from the current mesh CA', async () => {
    const mesh = await meshCa();
    const store = await startStore(dir, mesh, await workload(mesh, 'worker'), mesh.pem);
    const log = new CapturedLog();
    writeWorkloadFiles(join(dir, 'service'), mesh, await workload(mesh, 'secret-service'));
    const service = await startSecretService({
      host: '127.0.0.1',
      port: 0,
      certDir: join(dir, 'service'),
      etcdEndpoints: [store.etcd.endpoint],
      log: log.logger,
    });
    try {
      writeFileSync(join(dir, 'ca.pem'), mesh.pem);
      writeFileSync(join(dir, 'x.json'), JSON.stringify(keyExchangeRequest(await newClientKeyPair())));
      const answer = await curlExchange(service, join(dir, 'ca.pem'), join(dir, 'x.json'));
      // It cannot reach the store, so it holds no storage key: it serves nothing.
      assert.equal(answer.status, 503);
      assert.equal((answer.body as { error: { code: string } }).error.code, 'storage_key_unavailable');
      assert.equal(service.ready(), false);
      assert.match(log.text, /names the role worker, not secret-store/);
      // The same member, trusted under another mesh CA: the chain fails before the role is read.
      const other = await meshCa();
      const stranger = new EtcdStore([store.etcd.endpoint], {
        ...(await workload(mesh, 'secret-service')),
        meshCa: other.pem,
      });
      await assert.rejects(stranger.count('/'), /no etcd member answered/);
      stranger.close();
    } finally {
      await service.close();
      await store.etcd.process.stop();
    }
  });

  it('after a Manifest change (a new mesh CA), workers of the new CA get no secret exchanged under the old one', async () => {
    const old = await meshCa();
    const current = await meshCa();
    const storeDir = join(dir, 'change');
    mkdirSync(storeDir, { recursive: true });
    const store = await startStore(storeDir, old, await workload(old, 'secret-store'), old.pem + current.pem);
    const serviceDir = join(storeDir, 'service');
    writeWorkloadFiles(serviceDir, old, await workload(old, 'secret-service'));
    const service = await startSecretService({
      host: '127.0.0.1',
      port: 0,
      certDir: serviceDir,
      etcdEndpoints: [store.etcd.endpoint],
      reloadIntervalMs: 100,
      log: new CapturedLog().logger,
    });
    try {
      const before = await exchange(service, old, storeDir);
      // The Manifest changes: attestor init --renew brings certificates from the new mesh CA to the
      // service and to the store (etcd reads its certificate files at each handshake).
      const newStore = await workload(current, 'secret-store');
      writeFileSync(join(storeDir, 'etcd-cert.pem'), newStore.cert);
      writeFileSync(join(storeDir, 'etcd-key.pem'), newStore.key);
      writeWorkloadFiles(serviceDir, current, await workload(current, 'secret-service'));
      const after = await waitFor(() => exchange(service, current, storeDir).catch(() => undefined), {
        timeoutMs: 30_000,
        description: 'the service to serve its certificate from the new mesh CA',
      });
      const newWorker = releaseClient(service, current, await workload(current, 'worker'));
      try {
        const mine = await newWorker.get(after.secretId);
        assert.deepEqual(mine?.secret, after.secret);
      } finally {
        newWorker.close();
      }
      const refused = await refusedWith(
        releaseClient(service, current, await workload(current, 'worker')),
        before.secretId,
      );
      assert.equal(refused.code, 'release_refused');
      assert.match(refused.message, /another mesh CA/);
      const oldWorker = releaseClient(service, current, await workload(old, 'worker'));
      try {
        assert.equal((await oldWorker.get(before.secretId))?.id, before.secretId, "the old CA's worker still may");
      } finally {
        oldWorker.close();
      }
    } finally {
      await service.close();
      await store.etcd.process.stop();
    }
  });
});
