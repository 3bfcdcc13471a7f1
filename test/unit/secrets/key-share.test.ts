// Secret-service replicas sharing one storage key, as real services on loopback over a real etcd
// (bin/etcd, TLS both ways): two replicas started together make one key and release each other's
// secrets; a replica with a worker certificate or none of the identity extension, and a request
// signed under another mesh CA, get no key; a restarted replica gets the key back from the other;
// etcd's keys, values and data files and the logs hold neither the storage key nor a secret; and
// once the last holder is gone, the next replica makes a new key.
import assert from 'node:assert/strict';
import { createPrivateKey, webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../../src/dev/wait.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { TransferKeyPair } from '../../../src/pki/key-transfer.ts';
import { keyExchangeRequest, newClientKeyPair } from '../../../src/protocol/inference/key-exchange.ts';
import { EtcdStore } from '../../../src/secrets/etcd-store.ts';
import { meshPrefix, STORAGE_KEY_PREFIX } from '../../../src/secrets/key-share.ts';
import { meshCaSha256 } from '../../../src/secrets/sealed-record.ts';
import { type SecretService, startSecretService } from '../../../src/secrets/secret-service.ts';
import { makeKeyRequest, requestId } from '../../../src/secrets/storage-key-transfer.ts';
import { filesUnder } from '../../harness/plaintext-search.ts';
import { meshCa, type Workload, workload, writeWorkloadFiles } from './identities.ts';
import {
  CapturedLog,
  curlExchange,
  exchange,
  forms,
  releaseClient,
  type Store,
  startStore,
} from './service-harness.ts';

describe('secret service replicas share one storage key (real etcd, real TLS)', function () {
  this.timeout(180_000);
  let dir: string;
  let mesh: CertificateAuthority;
  let store: Store;
  let admin: EtcdStore;
  const log = new CapturedLog();
  const running = new Set<SecretService>();
  /** Secrets exchanged so far, searched for at the end. */
  const exchanged: Uint8Array[] = [];
  let storageKey: Uint8Array;

  /** A replica with a certificate of `role`; null: one without the identity extension. */
  async function replica(name: string, role: string | null = 'secret-service'): Promise<SecretService> {
    const certDir = join(dir, name);
    writeWorkloadFiles(certDir, mesh, await workload(mesh, role ?? undefined));
    return start(certDir);
  }

  async function start(certDir: string): Promise<SecretService> {
    const service = await startSecretService({
      host: '127.0.0.1',
      port: 0,
      certDir,
      etcdEndpoints: [store.etcd.endpoint],
      rateLimit: { perMinute: 6000, burst: 1000 },
      keyShareIntervalMs: 100,
      keyLeaseSeconds: 3,
      log: log.logger,
    });
    running.add(service);
    return service;
  }

  async function stop(service: SecretService): Promise<void> {
    running.delete(service);
    await service.close();
  }

  const ready = (service: SecretService, description: string) =>
    waitFor(() => service.ready(), { timeoutMs: 30_000, description });

  async function rawKey(service: SecretService): Promise<Buffer> {
    const key = service.storageKeyForTests();
    assert.ok(key, 'the replica holds a storage key');
    return Buffer.from(await webcrypto.subtle.exportKey('raw', key));
  }

  async function released(service: SecretService, id: string): Promise<Uint8Array | undefined> {
    const worker = releaseClient(service, mesh, await workload(mesh, 'worker'));
    try {
      return (await worker.get(id))?.secret;
    } finally {
      worker.close();
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'key-share-'));
    mesh = await meshCa();
    store = await startStore(dir, mesh, await workload(mesh, 'secret-store'), mesh.pem);
    const reader: Workload = await workload(mesh, 'worker');
    admin = new EtcdStore([store.etcd.endpoint], { cert: reader.cert, key: reader.key, meshCa: mesh.pem });
  });
  after(async () => {
    for (const service of running) await service.close();
    admin?.close();
    await store?.etcd.process.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let a: SecretService;
  let b: SecretService;

  it('makes one storage key for two replicas started together, and releases through B a secret exchanged through A', async () => {
    [a, b] = await Promise.all([replica('a'), replica('b')]);
    await ready(a, 'replica A to hold the storage key');
    await ready(b, 'replica B to hold the storage key');
    const records = (await admin.list(STORAGE_KEY_PREFIX)).map((kv) => kv.key);
    assert.deepEqual(records, [`${meshPrefix(meshCaSha256(mesh.pem))}key`], 'one key record, no request left');
    assert.deepEqual(await rawKey(a), await rawKey(b), 'both hold the same key');
    storageKey = await rawKey(a);
    const viaA = await exchange(a, mesh, dir);
    assert.deepEqual(await released(b, viaA.secretId), viaA.secret);
    const viaB = await exchange(b, mesh, dir);
    assert.deepEqual(await released(a, viaB.secretId), viaB.secret);
    exchanged.push(viaA.secret, viaB.secret);
    assert.match(log.text, /made the storage key of this mesh CA/);
    assert.match(log.text, /received the storage key of this mesh CA from another replica/);
  });

  it("lets exactly one of many racing creations of a key record win (etcd's transaction on the create revision)", async () => {
    const leases = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        admin.createWithLease('/attestor/race-test', Buffer.from(`replica ${i}`), 30),
      ),
    );
    assert.equal(leases.filter((l) => l !== undefined).length, 1);
    const winner = leases.findIndex((l) => l !== undefined);
    assert.equal(Buffer.from((await admin.get('/attestor/race-test'))!).toString(), `replica ${winner}`);
    await admin.delete('/attestor/race-test');
  });

  it('writes an answer only while its request exists, in the transaction that writes it (the maker deletes the request, then the answer)', async () => {
    await admin.create('/attestor/race-test/request', Buffer.from('request'), 30);
    assert.equal(
      await admin.create('/attestor/race-test/answer', Buffer.from('first'), 30, {
        whileExists: '/attestor/race-test/request',
      }),
      true,
    );
    // The maker took the answer: it deletes the request, then the answer. A holder that listed the
    // request before then must not leave a second answer behind.
    await admin.delete('/attestor/race-test/request');
    await admin.delete('/attestor/race-test/answer');
    assert.equal(
      await admin.create('/attestor/race-test/answer', Buffer.from('late'), 30, {
        whileExists: '/attestor/race-test/request',
      }),
      false,
    );
    assert.deepEqual(await admin.list('/attestor/race-test/'), []);
  });

  it('hands no key to a replica with a worker certificate or no identity extension, nor to a request signed under another mesh CA', async () => {
    const worker = await replica('c', 'worker');
    const bare = await replica('d', null);
    // The admin writes a well-formed request, signed with a secret-service certificate of another mesh CA.
    const other = await meshCa();
    const foreign = await workload(other, 'secret-service');
    const pair = await TransferKeyPair.generate();
    const signingKey = createPrivateKey(foreign.key).toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
    ]);
    const meshSha = meshCaSha256(mesh.pem);
    const request = await makeKeyRequest({ certificate: foreign.cert, signingKey }, pair, meshSha);
    await admin.create(
      `${meshPrefix(meshSha)}requests/${requestId(pair.publicJwk)}`,
      Buffer.from(JSON.stringify(request)),
      300,
    );
    for (const reason of [
      /names the role worker, not secret-service/,
      /no workload identity extension/,
      /the replica is not certified under the current mesh CA/,
    ])
      await waitFor(() => reason.test(log.text), { timeoutMs: 30_000, description: `a refusal matching ${reason}` });
    assert.match(log.text, /storage key request refused/);
    const requests = await admin.list(`${meshPrefix(meshSha)}requests/`);
    assert.equal(requests.length, 3, 'three requests, each refused');
    assert.deepEqual(await admin.list(`${meshPrefix(meshSha)}answers/`), [], 'no answer for any of them');
    writeFileSync(join(dir, 'ca.pem'), mesh.pem);
    writeFileSync(join(dir, 'none.json'), JSON.stringify(keyExchangeRequest(await newClientKeyPair())));
    for (const refused of [worker, bare]) {
      assert.equal(refused.ready(), false);
      assert.equal(refused.storageKeyForTests(), undefined);
      const answer = await curlExchange(refused, join(dir, 'ca.pem'), join(dir, 'none.json'));
      assert.equal(answer.status, 503);
      assert.equal((answer.body as { error: { code: string } }).error.code, 'storage_key_unavailable');
      await stop(refused);
    }
  });

  it('gives a restarted replica the key back from the other: it releases the secrets exchanged before', async () => {
    const before = await exchange(a, mesh, dir);
    exchanged.push(before.secret);
    await stop(b);
    b = await start(join(dir, 'b'));
    await ready(b, 'the restarted replica to receive the storage key');
    assert.deepEqual(await released(b, before.secretId), before.secret);
    // And the other way round: A restarts while B holds the key.
    const viaB = await exchange(b, mesh, dir);
    exchanged.push(viaB.secret);
    await stop(a);
    a = await start(join(dir, 'a'));
    await ready(a, 'the restarted replica A to receive the storage key');
    assert.deepEqual(await released(a, viaB.secretId), viaB.secret);
    assert.deepEqual(await rawKey(a), storageKey);
  });

  it("keeps the storage key and every secret out of etcd's keys, values and data files, and the log", async () => {
    assert.ok(exchanged.length >= 4);
    const kvs = await admin.list('/');
    assert.ok(
      kvs.some((kv) => kv.key.startsWith(STORAGE_KEY_PREFIX)),
      'the key record is there',
    );
    const stored = Buffer.concat(kvs.flatMap((kv) => [Buffer.from(kv.key), Buffer.from(kv.value)]));
    const dataFiles = filesUnder(store.etcd.dataDir).map((f) => readFileSync(f));
    for (const secret of [storageKey, ...exchanged])
      for (const form of forms(secret)) {
        assert.equal(stored.indexOf(form), -1, "the storage key or a secret in etcd's keys or values");
        for (const data of dataFiles)
          assert.equal(data.indexOf(form), -1, "the storage key or a secret in etcd's files");
        assert.equal(Buffer.from(log.text).indexOf(form), -1, 'the storage key or a secret in the log');
      }
  });

  it('makes a new storage key once the last holder is gone and its key record ended; the old secrets no longer open', async () => {
    const old = await exchange(a, mesh, dir);
    await stop(a);
    await stop(b);
    const next = await start(join(dir, 'a'));
    await ready(next, 'a replica to make a new storage key once the record ended');
    assert.notDeepEqual(await rawKey(next), storageKey);
    assert.equal(await released(next, old.secretId), undefined, 'sealed under the key nobody holds any more');
    const fresh = await exchange(next, mesh, dir);
    assert.deepEqual(await released(next, fresh.secretId), fresh.secret);
  });
});

describe('secret service replicas across a Manifest change (a new mesh CA)', function () {
  this.timeout(180_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'key-share-change-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("makes a new storage key for the new mesh CA; replicas that held the old one still release old secrets to the old CA's workers, a new replica gets only the new key", async () => {
    const old = await meshCa();
    const current = await meshCa();
    const store = await startStore(dir, old, await workload(old, 'secret-store'), old.pem + current.pem);
    const services: SecretService[] = [];
    const start = async (name: string, mesh: CertificateAuthority) => {
      writeWorkloadFiles(join(dir, name), mesh, await workload(mesh, 'secret-service'));
      const service = await startSecretService({
        host: '127.0.0.1',
        port: 0,
        certDir: join(dir, name),
        etcdEndpoints: [store.etcd.endpoint],
        keyShareIntervalMs: 100,
        reloadIntervalMs: 100,
        log: new CapturedLog().logger,
      });
      services.push(service);
      await waitFor(() => service.ready(), { timeoutMs: 30_000, description: `${name} to hold the storage key` });
      return service;
    };
    const raw = async (service: SecretService) =>
      Buffer.from(await webcrypto.subtle.exportKey('raw', service.storageKeyForTests()!));
    const releasedTo = async (
      service: SecretService,
      mesh: CertificateAuthority,
      trusted: CertificateAuthority,
      id: string,
    ) => {
      const worker = releaseClient(service, trusted, await workload(mesh, 'worker'));
      try {
        return (await worker.get(id))?.secret;
      } finally {
        worker.close();
      }
    };
    try {
      const a = await start('a', old);
      const b = await start('b', old);
      const oldKey = await raw(a);
      const before = await exchange(a, old, dir);
      // The Manifest changes: attestor init --renew brings certificates of the new mesh CA to the
      // store and to both replicas.
      const newStore = await workload(current, 'secret-store');
      writeFileSync(join(dir, 'etcd-cert.pem'), newStore.cert);
      writeFileSync(join(dir, 'etcd-key.pem'), newStore.key);
      writeWorkloadFiles(join(dir, 'a'), current, await workload(current, 'secret-service'));
      writeWorkloadFiles(join(dir, 'b'), current, await workload(current, 'secret-service'));
      const newKeys = await waitFor(
        async () => {
          const keys = await Promise.all([a, b].map((s) => (s.ready() ? raw(s) : undefined)));
          return keys.every((k) => k && !k.equals(oldKey)) && keys;
        },
        { timeoutMs: 30_000, description: 'both replicas to hold the storage key of the new mesh CA' },
      );
      assert.deepEqual(newKeys[0], newKeys[1], 'one new key for the new mesh CA');
      const after = await exchange(b, current, dir);
      assert.deepEqual(await releasedTo(a, current, current, after.secretId), after.secret);
      // The old secret: to the old CA's workers, from both replicas that held the old key (D124).
      for (const service of [a, b])
        assert.deepEqual(await releasedTo(service, old, current, before.secretId), before.secret);
      // A replica certified only under the new mesh CA gets the new key, never the old one.
      const c = await start('c', current);
      assert.deepEqual(await raw(c), newKeys[0]);
      assert.deepEqual(await releasedTo(c, current, current, after.secretId), after.secret);
      assert.equal(await releasedTo(c, old, current, before.secretId), undefined, 'the old secret does not open there');
    } finally {
      for (const service of services) await service.close();
      await store.etcd.process.stop();
    }
  });
});

describe('a withdrawn secret-service replica', function () {
  this.timeout(180_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'key-share-withdrawn-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('hands the storage key to nobody while its certificate is withdrawn, and again once it returns', async () => {
    const mesh = await meshCa();
    const store = await startStore(dir, mesh, await workload(mesh, 'secret-store'), mesh.pem);
    const log = new CapturedLog();
    const services: SecretService[] = [];
    const start = async (name: string) => {
      const identity = await workload(mesh, 'secret-service');
      writeWorkloadFiles(join(dir, name), mesh, identity);
      const service = await startSecretService({
        host: '127.0.0.1',
        port: 0,
        certDir: join(dir, name),
        etcdEndpoints: [store.etcd.endpoint],
        keyShareIntervalMs: 100,
        reloadIntervalMs: 100,
        keyLeaseSeconds: 3,
        log: log.logger,
      });
      services.push(service);
      return { service, identity };
    };
    try {
      const holder = await start('holder');
      assert.equal(holder.service.ready(), true);
      rmSync(join(dir, 'holder', 'cert.pem'));
      await waitFor(() => !holder.service.ready(), { timeoutMs: 30_000, description: 'the holder to notice' });
      const asking = await start('asking');
      await waitFor(() => log.text.includes('asked the other replicas for the storage key'), {
        timeoutMs: 30_000,
        description: 'the new replica to ask',
      });
      // A window longer than the record's lease (3 s): what is asserted is that nothing happens in
      // it (the withdrawn holder keeps the record alive, but answers nothing).
      const deadline = Date.now() + 5000;
      await waitFor(() => Date.now() > deadline, { timeoutMs: 10_000, description: 'a window past the lease' });
      assert.equal(asking.service.ready(), false);
      const reader = await workload(mesh, 'worker');
      const etcd = new EtcdStore([store.etcd.endpoint], { cert: reader.cert, key: reader.key, meshCa: mesh.pem });
      const keyRecords = (await etcd.list(STORAGE_KEY_PREFIX)).filter((kv) => kv.key.endsWith('/key'));
      const answers = (await etcd.list(STORAGE_KEY_PREFIX)).filter((kv) => kv.key.includes('/answers/'));
      etcd.close();
      assert.equal(keyRecords.length, 1, 'the record outlived its lease: the withdrawn holder renewed it');
      assert.deepEqual(answers, []);
      assert.doesNotMatch(log.text, /handed the storage key/);
      assert.doesNotMatch(log.text, /made it again/);
      writeFileSync(join(dir, 'holder', 'cert.pem'), holder.identity.cert);
      await waitFor(() => asking.service.ready(), {
        timeoutMs: 30_000,
        description: 'the new replica to receive the key once the holder is certified again',
      });
      assert.deepEqual(
        Buffer.from(await webcrypto.subtle.exportKey('raw', asking.service.storageKeyForTests()!)),
        Buffer.from(await webcrypto.subtle.exportKey('raw', holder.service.storageKeyForTests()!)),
      );
    } finally {
      for (const service of services) await service.close();
      await store.etcd.process.stop();
    }
  });
});
