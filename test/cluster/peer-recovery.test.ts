// Peer recovery on the real control plane: operator replicas as processes of their own
// (test/harness/coordinator-replica.ts), leader election on a real Lease, the peer token checked
// by TokenReview, HTTPS between them. The follower receives the leader's root CA, mesh CA and
// history; when the leader dies (SIGKILL) it serves them, and the client's check verifies it
// against the same pinned Manifest. A replica whose HOST_DATA carries another policy, although
// the admin's Manifest lists that policy for the Coordinator, receives no keys. No CA key of any
// replica appears in any Kubernetes object or log line. When the leader dies, a replica that holds
// the identity takes the Lease before one that does not.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, fork } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SimulatedCvmSource,
  type SimulatedPlatform,
} from '../../src/agent/evidence/simulated.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { readSimulatedRoots, simulatedRootsFile } from '../../src/client/simulated-roots.ts';
import { type CoordinatorVerification, verifyCoordinator } from '../../src/client/verify-coordinator.ts';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { freePorts } from '../../src/dev/ports.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { DEFAULT_PEER_AUDIENCE } from '../../src/operator/peer-recovery.ts';
import { encodeCvmEvidence } from '../../src/protocol/evidence-request.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { sharedControlPlane, uniqueName } from '../harness/cluster.ts';
import type { FromReplica, ReplicaConfig, ToReplica } from '../harness/coordinator-replica.ts';
import { everyListableObject } from '../harness/plaintext-search.ts';

const run = promisify(execFile);
const LEASE_DURATION_MS = 4000;
const RETRY_MS = 500;
const OTHER_POLICY = 'aa'.repeat(32);
const group = { group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' };

interface Replica {
  identity: string;
  url: string;
  probe: string;
  child: ChildProcess;
  output: string[];
}

describe('peer recovery between operator replicas', function () {
  let cp: ControlPlane;
  let platform: SimulatedPlatform;
  let coordination: k8s.CoordinationV1Api;
  let custom: k8s.CustomObjectsApi;
  const namespace = uniqueName('peers');
  const manifestName = uniqueName('peers');
  const dir = mkdtempSync(join(tmpdir(), 'peer-recovery-'));
  const replicas: Replica[] = [];
  let ports: number[] = [];
  let peers: string[] = [];

  /** A replica process whose pod VM carries `policyHash` in HOST_DATA; the hardware stays here. */
  async function startReplica(identity: string, slot: number, policyHash: string): Promise<Replica> {
    const config: ReplicaConfig = {
      kubeconfig: cp.kubeconfigPath,
      namespace,
      identity,
      leaseDurationMs: LEASE_DURATION_MS,
      retryPeriodMs: RETRY_MS,
      probePort: ports[2 * slot]!,
      coordinatorPort: ports[2 * slot + 1]!,
      ...servingFiles,
      rootsFile: join(dir, 'simulated-roots.json'),
      peers,
      caFile: join(dir, 'ca.crt'),
      tokenFile: join(dir, 'token'),
      operatorUsername: `system:serviceaccount:${namespace}:attestor-operator`,
      syncIntervalMs: 500,
    };
    const child = fork(join(projectRoot, 'test/harness/coordinator-replica.ts'), [], {
      env: { ...process.env, ATTESTOR_REPLICA_CONFIG: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const r: Replica = {
      identity,
      url: `https://127.0.0.1:${config.coordinatorPort}`,
      probe: `http://127.0.0.1:${config.probePort}`,
      child,
      output: [],
    };
    child.stdout!.on('data', (d) => r.output.push(String(d)));
    child.stderr!.on('data', (d) => r.output.push(String(d)));
    const cvm = new SimulatedCvmSource(platform, {
      platform: 'snp',
      measurement: SIMULATED_COORDINATOR_MEASUREMENT,
      policyHash,
    });
    child.on('message', (m: FromReplica) => {
      if (m.type !== 'collect') return;
      void cvm.collect(new Uint8Array(Buffer.from(m.reportData, 'hex'))).then(
        (e) =>
          child.connected &&
          child.send({ type: 'evidence', id: m.id, evidence: encodeCvmEvidence(e) } satisfies ToReplica),
        (err: Error) =>
          child.connected && child.send({ type: 'evidence', id: m.id, error: err.message } satisfies ToReplica),
      );
    });
    replicas.push(r);
    return r;
  }
  let servingFiles: { certificatePem: string; keyPem: string };

  const text = async (url: string) => {
    try {
      const res = await fetch(url);
      return { status: res.status, body: await res.text() };
    } catch {
      return { status: 0, body: '' };
    }
  };
  const ready = async (r: Replica) => (await text(`${r.probe}/readyz`)).status === 200;
  const metric = async (r: Replica, pattern: RegExp) => pattern.exec((await text(`${r.probe}/metrics`)).body)?.[1];
  const recoveries = (r: Replica, side: string, result: string) =>
    metric(
      r,
      new RegExp(`attestor_coordinator_peer_recoveries_total\\{side="${side}",result="${result}"\\} (\\d+)`),
    ).then((v) => Number(v ?? 0));
  const holder = async () =>
    (await coordination.readNamespacedLease({ name: 'attestor-operator', namespace })).spec?.holderIdentity;
  const keysOf = (r: Replica) =>
    new Promise<string[]>((resolve) => {
      r.child.once('message', (m: FromReplica) => m.type === 'keys' && resolve(m.secrets));
      r.child.send({ type: 'keys' } satisfies ToReplica);
    });
  const verify = (r: Replica, hash: string): Promise<CoordinatorVerification> =>
    verifyCoordinator({
      coordinator: r.url,
      manifestHash: hash,
      simulatedRoots: readSimulatedRoots(simulatedRootsFile({ snp: [platform.snp.rootSet], tdx: [] })),
    });

  before(async () => {
    cp = await sharedControlPlane();
    coordination = cp.kubeConfig().makeApiClient(k8s.CoordinationV1Api);
    custom = cp.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
    platform = await createSimulatedPlatform();
    writeFileSync(join(dir, 'simulated-roots.json'), simulatedRootsFile({ snp: [platform.snp.rootSet], tdx: [] }));
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'attestor-operator' } } });
    const token = await core.createNamespacedServiceAccountToken({
      name: 'attestor-operator',
      namespace,
      body: { spec: { audiences: [DEFAULT_PEER_AUDIENCE], expirationSeconds: 3600 } },
    });
    writeFileSync(join(dir, 'token'), token.status!.token!);
    writeFileSync(join(dir, 'ca.crt'), cp.certificateAuthority.certificatePem);
    const serving = await issueCertificate(cp.certificateAuthority, {
      commonName: 'attestor-coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    servingFiles = { certificatePem: serving.certificatePem, keyPem: serving.privateKeyPem };
    ports = await freePorts(8);
    // Every replica's Coordinator API: a replica that does not lead answers 503 and the next is asked.
    peers = [1, 3, 5, 7].map((p) => `https://127.0.0.1:${ports[p]}`);
    // The admin's Manifest lists a second coordinator policy; no owners signed anything.
    await custom.createClusterCustomObject({ ...group, body: manifest(manifestName) });
  });
  after(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await custom.deleteClusterCustomObject({ ...group, name: manifestName }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed')
      for (const r of replicas) console.log(`--- ${r.identity} ---\n${r.output.join('').slice(-4000)}`);
  });

  let pinned = '';
  let atFirst: CoordinatorVerification;
  let leader: Replica;
  let follower: Replica;

  it('gives the follower the leader’s root CA, mesh CA and history, and it serves them after the leader dies', async () => {
    const a = await startReplica('replica-a', 0, SIMULATED_COORDINATOR_POLICY_HASH);
    const b = await startReplica('replica-b', 1, SIMULATED_COORDINATOR_POLICY_HASH);
    const first = await waitFor(holder, { timeoutMs: 60_000, description: 'a Lease holder' });
    [leader, follower] = first === a.identity ? [a, b] : [b, a];
    pinned = await waitFor(
      async () => ((await custom.getClusterCustomObject({ ...group, name: manifestName })) as Manifest).status?.hash,
      { timeoutMs: 30_000, description: 'the Manifest active' },
    );
    atFirst = await waitFor(
      async () => {
        const v = await verify(leader, pinned).catch(() => undefined);
        return v?.verified ? v : undefined;
      },
      { timeoutMs: 30_000, description: 'the leader verifies' },
    );
    // The follower holds the leader's identity: recovered once, and ready.
    await waitFor(async () => (await recoveries(follower, 'replica', 'recovered')) >= 1 && (await ready(follower)), {
      timeoutMs: 30_000,
      description: "the follower recovered the leader's identity",
    });
    assert.equal(await recoveries(leader, 'leader', 'handed-over'), await recoveries(follower, 'replica', 'recovered'));
    const fromFollower = await verify(follower, pinned).catch((err: Error) => err);
    assert.ok(
      fromFollower instanceof Error || !fromFollower.verified,
      'the follower serves nothing while it does not lead',
    );
    const leaderKeys = await keysOf(leader);
    assert.equal(leaderKeys.length, 10, 'a root and a mesh key');
    assert.deepEqual(await keysOf(follower), leaderKeys, 'the follower holds the same two keys as the leader');

    // The leader dies without a goodbye: the follower takes over and serves the same identity.
    leader.child.kill('SIGKILL');
    await waitFor(async () => (await holder()) === follower.identity, {
      timeoutMs: LEASE_DURATION_MS * 4,
      description: 'the follower takes the Lease',
    });
    const takenOver = await waitFor(
      async () => {
        const v = await verify(follower, pinned).catch(() => undefined);
        return v?.verified ? v : undefined;
      },
      { timeoutMs: 30_000, description: 'the new leader verifies against the same pinned Manifest' },
    );
    assert.equal(takenOver.rootCA, atFirst.rootCA, 'the same root CA');
    assert.equal(takenOver.meshCA, atFirst.meshCA, 'the same mesh CA');
    assert.deepEqual(takenOver.history, atFirst.history, 'the same history');
    assert.deepEqual(
      takenOver.history?.map((e) => e.manifestHash),
      [pinned],
    );
  });

  it("answers the peer paths only for the operator's own token for the peer audience (curl), before it reads a body", async () => {
    const core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
    const tokenFor = async (name: string, audience: string) =>
      (
        await core.createNamespacedServiceAccountToken({
          name,
          namespace,
          body: { spec: { audiences: [audience], expirationSeconds: 600 } },
        })
      ).status!.token!;
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'someone-else' } } });
    const curl = async (token: string | undefined, body = '{}') => {
      const args = ['-sS', '--cacert', join(dir, 'ca.crt'), '-o', '-', '-w', '\n%{http_code}', '-X', 'POST'];
      args.push('-H', 'content-type: application/json', '--data-binary', body);
      if (token) args.push('-H', `authorization: Bearer ${token}`);
      const out = (await run('curl', [...args, `${follower.url}/v1/coordinator/peer/nonce`])).stdout;
      const code = Number(out.slice(out.lastIndexOf('\n') + 1));
      return { code, body: out.slice(0, out.lastIndexOf('\n')) };
    };
    const big = `@${join(dir, 'big.json')}`;
    writeFileSync(join(dir, 'big.json'), JSON.stringify({ padding: 'x'.repeat(1 << 20) }));
    assert.equal((await curl(undefined, big)).code, 401, 'no token: refused before the 1 MiB body is read');
    assert.equal((await curl(await tokenFor('attestor-operator', 'attestor'))).code, 401, "the agents' audience");
    const stranger = await curl(await tokenFor('someone-else', DEFAULT_PEER_AUDIENCE), big);
    assert.equal(stranger.code, 403, stranger.body);
    assert.match(stranger.body, /someone-else is not the attestor operator/);
    const own = await curl(await tokenFor('attestor-operator', DEFAULT_PEER_AUDIENCE));
    assert.equal(own.code, 200, own.body);
    const offered = JSON.parse(own.body) as { nonce: string; identity: { rootCA: string } };
    assert.match(offered.nonce, /^[0-9a-f]{64}$/);
    assert.equal(
      offered.identity.rootCA,
      createHash('sha256').update(new X509Certificate(atFirst.rootCA!).raw).digest('hex'),
      'it offers the root CA the old leader had',
    );
    assert.equal((await curl(await tokenFor('attestor-operator', DEFAULT_PEER_AUDIENCE), big)).code, 413);
  });

  it('hands no keys to a replica whose HOST_DATA carries another policy, though the Manifest lists it', async () => {
    const other = await startReplica('replica-other', 2, OTHER_POLICY);
    await waitFor(async () => (await recoveries(follower, 'leader', 'refused')) >= 1, {
      timeoutMs: 30_000,
      description: 'the leader refused the other replica',
    });
    await waitFor(async () => (await recoveries(other, 'replica', 'failed')) >= 1, {
      timeoutMs: 10_000,
      description: 'the other replica failed to recover',
    });
    const readiness = await text(`${other.probe}/readyz`);
    assert.notEqual(readiness.status, 200, 'it is not ready: it does not hold the identity');
    assert.equal(await recoveries(other, 'replica', 'recovered'), 0);
    const said = other.output.join('');
    assert.match(said, /coordinator\.peer\.policy/);
    assert.match(said, new RegExp(OTHER_POLICY));
    const keys = await keysOf(other);
    const leaderKeys = new Set(await keysOf(follower));
    assert.ok(keys.length > 0);
    assert.ok(
      keys.every((k) => !leaderKeys.has(k)),
      "it holds only its own keys, none of the leader's",
    );

    // No CA key of any replica, the recovered ones included, in any Kubernetes object or any log line.
    const secrets = [...leaderKeys, ...keys];
    const objects = await everyListableObject(cp.kubeconfigPath);
    assert.ok(objects.includes(manifestName), 'the dump holds the Manifests (it is the whole API)');
    const logs = replicas.map((r) => r.output.join('')).join('\n');
    assert.ok(logs.includes("holds the leader's identity"), 'the logs hold the recovery lines');
    for (const secret of secrets) {
      assert.ok(!objects.includes(secret), 'a CA key in a Kubernetes object');
      assert.ok(!logs.includes(secret), 'a CA key in a log line');
    }
  });

  it('hands the Lease to a replica that holds the identity when the leader dies: one without it defers', async () => {
    const other = replicas.find((r) => r.identity === 'replica-other')!;
    const d = await startReplica('replica-d', 3, SIMULATED_COORDINATOR_POLICY_HASH);
    await waitFor(async () => (await recoveries(d, 'replica', 'recovered')) >= 1 && (await ready(d)), {
      timeoutMs: 30_000,
      description: "the new replica recovered the leader's identity",
    });
    assert.equal(await recoveries(other, 'replica', 'recovered'), 0);
    follower.child.kill('SIGKILL');
    const next = await waitFor(async () => ((await holder()) === follower.identity ? undefined : await holder()), {
      timeoutMs: LEASE_DURATION_MS * 4,
      description: 'another replica takes the Lease',
    });
    assert.equal(next, d.identity, 'the replica with the identity, not the one that defers');
    const served = await waitFor(
      async () => {
        const v = await verify(d, pinned).catch(() => undefined);
        return v?.verified ? v : undefined;
      },
      { timeoutMs: 30_000, description: 'the third leader verifies against the same pinned Manifest' },
    );
    assert.equal(served.rootCA, atFirst.rootCA, 'still the first root CA');
    assert.deepEqual(served.history, atFirst.history);
  });
});

function manifest(name: string): object {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name },
    spec: {
      referenceValues: {
        snp: [
          {
            name: 'coordinator',
            role: 'coordinator',
            measurements: [SIMULATED_COORDINATOR_MEASUREMENT],
            minimumTCB: { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
          },
        ],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      policies: [
        { name: 'worker', hash: '0e'.repeat(32) },
        { name: 'coordinator', role: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH },
        { name: 'coordinator-other', role: 'coordinator', hash: OTHER_POLICY },
      ],
      runtimeClasses: ['kata'],
      development: { acceptSimulatedEvidence: true },
    },
  };
}
