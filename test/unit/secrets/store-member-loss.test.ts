// Issue 12, fault 7: the secret store run with three members (real etcd members on loopback with
// the chart's flags and the mesh TLS), the real secret service on all three, the real worker
// proxy with its release client in front of the model server, and real InferenceSessions as
// clients. Several clients run at once, each with its own marker: every answer must carry the
// asking client's marker and no other's (an answer sealed under another client's secret would not
// even open). Losing one member loses nothing (every exchanged secret is still released to a
// worker that never held it) and exchanges, releases and inference go on; losing all of them (the
// chart's members keep their data in memory: all three come back empty) makes the clients
// exchange again by themselves on the worker's unknown_secret, once each.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from '../../../src/dev/ports.ts';
import type { ManagedProcess } from '../../../src/dev/process.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { type ModelServer, startModelServer } from '../../../src/model-server/server.ts';
import { createLogger } from '../../../src/observability/log.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { secretServiceExchange } from '../../../src/proxy/secret-exchange.ts';
import { InferenceSession } from '../../../src/proxy/session.ts';
import { startLocalStoreMember } from '../../../src/secrets/local-etcd.ts';
import { type SecretService, startSecretService } from '../../../src/secrets/secret-service.ts';
import type { StoreMemberUrls } from '../../../src/secrets/store-member.ts';
import { type ReleasedSecrets, startReleasedSecrets } from '../../../src/worker/released-secrets.ts';
import { startWorkerProxy, type WorkerProxy } from '../../../src/worker/worker-proxy.ts';
import { POLICIES, workerVolume } from '../proxy/chain-fixture.ts';
import { meshCa, workload, writeWorkloadFiles } from './identities.ts';

const run = promisify(execFile);
const CLIENTS = 4;

interface Member extends StoreMemberUrls {
  clientUrl: string;
  dataDir: string;
  process: ManagedProcess;
}

interface Client {
  marker: string;
  session: InferenceSession;
}

describe('secret store faults: three members under a running inference chain (issue 12, fault 7)', function () {
  this.timeout(90_000);
  let dir: string;
  let mesh: CertificateAuthority;
  let service: SecretService;
  let model: ModelServer;
  let worker: Awaited<ReturnType<typeof workerVolume>>;
  let proxy: { server: WorkerProxy; secrets: ReleasedSecrets } | undefined;
  const members: Member[] = [];
  const clients: Client[] = [];

  /** Starts one member with the chart's flags; `state` new for a fresh cluster (also after all data is lost). */
  function startMember(name: string, ports: { client: number; peer: number }, cluster: readonly StoreMemberUrls[]) {
    const clientUrl = `https://127.0.0.1:${ports.client}`;
    const peerUrl = `https://127.0.0.1:${ports.peer}`;
    const dataDir = join(dir, name, 'data');
    const started = startLocalStoreMember({
      dir: join(dir, name),
      name,
      dataDir,
      listenClientUrl: clientUrl,
      advertiseClientUrl: clientUrl,
      listenPeerUrl: peerUrl,
      advertisePeerUrl: peerUrl,
      initialCluster: cluster,
      initialClusterState: 'new',
      clusterToken: 'attestor-secret-store',
      certFile: join(dir, `${name}-cert.pem`),
      keyFile: join(dir, `${name}-key.pem`),
      meshCaFile: join(dir, 'mesh-ca.pem'),
    });
    return { name, clientUrl, peerUrl, dataDir, process: started.process };
  }

  /** etcd's /health through curl with the secret service's certificate, checking the member's chain to the mesh CA. */
  async function healthy(member: Member): Promise<boolean> {
    if (!member.process.running) return false;
    const tls = ['--cacert', join(dir, 'mesh-ca.pem'), '--cert', join(dir, 'service/cert.pem')];
    const args = [
      '-sS',
      '--max-time',
      '5',
      ...tls,
      '--key',
      join(dir, 'service/key.pem'),
      `${member.clientUrl}/health`,
    ];
    try {
      return (JSON.parse((await run('curl', args)).stdout) as { health?: string }).health === 'true';
    } catch {
      return false;
    }
  }

  const allHealthy = (of: readonly Member[], what: string) =>
    waitFor(async () => (await Promise.all(of.map(healthy))).every(Boolean), {
      timeoutMs: 30_000,
      description: what,
    });

  /** The worker pod: its proxy on `port` (0: any) with a release client that starts with nothing held. */
  async function startWorker(port = 0) {
    const secrets = await startReleasedSecrets({ url: service.url, certificateDir: worker.dir, maxRetryMs: 1000 });
    const server = await startWorkerProxy({
      host: '127.0.0.1',
      port,
      certificateDir: worker.dir,
      upstream: model.url.replace(/\/v1$/, ''),
      secrets,
    });
    await waitFor(() => secrets.watching.then(() => true), { timeoutMs: 30_000, description: 'the worker watching' });
    return { server, secrets };
  }

  async function stopWorker(): Promise<void> {
    proxy?.secrets.close();
    await proxy?.server.close();
    proxy = undefined;
  }

  function newClient(endpoint: string, label: string): Client {
    return {
      marker: `${label}-${Math.random().toString(36).slice(2)}`,
      session: new InferenceSession({
        meshCA: mesh.pem,
        manifest: { policies: POLICIES },
        exchange: secretServiceExchange({ url: service.url, ca: mesh.pem, ignoreHostName: true }),
        endpoint,
      }),
    };
  }

  /**
   * One chat completion from `client` with its marker and a round number; the echo model answers
   * the prompt. The answer must open (so it was sealed under this client's secret), be a 200, and
   * carry this client's marker and round and no other client's marker.
   */
  async function ask(client: Client, round: string, everyone: readonly Client[]): Promise<void> {
    const prompt = `${client.marker} round ${round}`;
    const answer = await client.session.send('POST', '/v1/chat/completions', {
      model: 'attestor-echo',
      messages: [{ role: 'user', content: prompt }],
    });
    assert.ok('body' in answer, `${client.marker}: ${JSON.stringify(answer)}`);
    const text = JSON.stringify(answer.body);
    assert.equal(answer.status, 200, `${client.marker}: ${text}`);
    assert.ok(text.includes(prompt), `${client.marker} got its own answer: ${text}`);
    for (const other of everyone)
      if (other !== client) assert.ok(!text.includes(other.marker), `${client.marker} got ${other.marker}'s answer`);
  }

  /** Every client asks `rounds` times, all clients concurrently. */
  const askAll = (label: string, rounds = 3, everyone: readonly Client[] = clients) =>
    Promise.all(
      everyone.map(async (client) => {
        for (let r = 0; r < rounds; r++) await ask(client, `${label}-${r}`, everyone);
      }),
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'attestor-store-faults-'));
    mesh = await meshCa();
    writeFileSync(join(dir, 'mesh-ca.pem'), mesh.pem);
    writeWorkloadFiles(join(dir, 'service'), mesh, await workload(mesh, 'secret-service'));
    const ports = await freePorts(6);
    const cluster = [0, 1, 2].map((i) => ({ name: `store-${i}`, peerUrl: `https://127.0.0.1:${ports[2 * i + 1]}` }));
    for (const [i, { name }] of cluster.entries()) {
      const identity = await workload(mesh, 'secret-store');
      writeFileSync(join(dir, `${name}-cert.pem`), identity.cert);
      writeFileSync(join(dir, `${name}-key.pem`), identity.key, { mode: 0o600 });
      members.push(startMember(name, { client: ports[2 * i]!, peer: ports[2 * i + 1]! }, cluster));
    }
    await allHealthy(members, 'the three members to be healthy');
    service = await startSecretService({
      host: '127.0.0.1',
      port: 0,
      certDir: join(dir, 'service'),
      etcdEndpoints: members.map((m) => m.clientUrl),
      rateLimit: { perMinute: 6000, burst: 1000 },
      keyShareIntervalMs: 500,
      log: createLogger({ level: 'error' }),
    });
    await waitFor(() => service.ready(), { timeoutMs: 30_000, description: 'the secret service to hold its key' });
    model = await startModelServer({ host: '127.0.0.1' });
    worker = await workerVolume(mesh);
    writeFileSync(join(worker.dir, 'mesh-ca.pem'), mesh.pem);
    proxy = await startWorker();
    for (let i = 0; i < CLIENTS; i++) clients.push(newClient(proxy.server.url, `client${i}`));
  });

  after(async () => {
    for (const c of clients) c.session.close();
    await stopWorker();
    await service?.close();
    await model?.close();
    await Promise.all(members.map((m) => m.process.stop()));
    await worker?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves concurrent clients from three members: each client exchanges once and only ever sees its own answers', async () => {
    await askAll('start');
    for (const c of clients) assert.equal(c.session.exchanges, 1, c.marker);
  });

  it('loses nothing with the first member killed: a restarted worker (nothing held) gets its watch from a member left and is released every secret exchanged before, and exchanges, releases and inference go on', async () => {
    await members[0]!.process.kill();
    // The worker pod restarts too: everything it answers now it must be released again.
    const port = proxy!.server.port;
    await stopWorker();
    proxy = await startWorker(port);
    await askAll('one-lost');
    for (const c of clients) assert.equal(c.session.exchanges, 1, `${c.marker} kept its secret`);
    // A client that arrives now exchanges through the two members left.
    const late = newClient(proxy.server.url, 'late');
    try {
      await askAll('late', 2, [...clients, late]);
      assert.equal(late.session.exchanges, 1);
    } finally {
      late.session.close();
    }
    // The member comes back with its data and catches up.
    members[0]!.process.start();
    await allHealthy(members, 'the killed member to be healthy again');
  });

  it('after losing all three members (they come back empty), clients exchange again by themselves on unknown_secret, once each, and still see only their own answers', async () => {
    await Promise.all(members.map((m) => m.process.kill()));
    for (const m of members) rmSync(m.dataDir, { recursive: true, force: true });
    const port = proxy!.server.port;
    await stopWorker();
    for (const m of members) m.process.start();
    await allHealthy(members, 'the emptied members to form a new cluster');
    await waitFor(() => service.ready(), { timeoutMs: 30_000, description: 'the secret service to serve again' });
    proxy = await startWorker(port);
    const before = clients.map((c) => c.session.exchanges);
    await askAll('all-lost');
    for (const [i, c] of clients.entries())
      assert.equal(c.session.exchanges, before[i]! + 1, `${c.marker} exchanged again exactly once`);
    // The new secrets live in the new store: a worker that restarts once more is released them.
    await stopWorker();
    proxy = await startWorker(port);
    await askAll('after-recovery', 2);
    for (const [i, c] of clients.entries()) assert.equal(c.session.exchanges, before[i]! + 1, c.marker);
  });
});
