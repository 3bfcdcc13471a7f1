// Two operator processes against one API server: only the leader reconciles; when it dies
// (SIGKILL, no goodbye) the other takes over within the lease duration; a clean stop
// releases the Lease at once.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../src/api/manifest.ts';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { freePorts } from '../../src/dev/ports.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { LEADER_LABEL } from '../../src/operator/operator.ts';
import { sharedControlPlane, uniqueName } from '../harness/cluster.ts';

const LEASE_DURATION_MS = 4000;
const RETRY_MS = 500;

interface OperatorProcess {
  identity: string;
  port: number;
  child: ChildProcess;
  output: string[];
}

describe('leader election between two operator processes', function () {
  let cp: ControlPlane;
  let coordination: k8s.CoordinationV1Api;
  let custom: k8s.CustomObjectsApi;
  const namespace = uniqueName('leader');
  const leaseName = 'attestor-operator';
  const processes: OperatorProcess[] = [];

  async function startOperatorProcess(identity: string): Promise<OperatorProcess> {
    const [port] = await freePorts(1);
    const child = spawn(
      process.execPath,
      [
        join(projectRoot, 'src/cli/main.ts'),
        'operator',
        '--kubeconfig',
        cp.kubeconfigPath,
        '--namespace',
        namespace,
        '--lease-duration',
        `${LEASE_DURATION_MS}ms`,
        '--renew-deadline',
        '3s',
        '--retry-period',
        `${RETRY_MS}ms`,
        '--probe-address',
        `127.0.0.1:${port}`,
        '--no-coordinator',
        '--no-webhook',
      ],
      { env: { ...process.env, POD_NAME: identity, POD_NAMESPACE: namespace }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const p: OperatorProcess = { identity, port: port!, child, output: [] };
    child.stdout!.on('data', (d) => p.output.push(String(d)));
    child.stderr!.on('data', (d) => p.output.push(String(d)));
    processes.push(p);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, {
      timeoutMs: 60_000,
      description: `${identity} ready`,
    });
    return p;
  }
  const metric = async (p: OperatorProcess, pattern: RegExp) =>
    pattern.exec(await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text())?.[1];
  const holder = async () =>
    (await coordination.readNamespacedLease({ name: leaseName, namespace })).spec?.holderIdentity;
  const exited = (p: OperatorProcess) =>
    new Promise<number | null>((resolve) =>
      p.child.exitCode !== null ? resolve(p.child.exitCode) : p.child.once('exit', (code) => resolve(code)),
    );

  before(async () => {
    cp = await sharedControlPlane();
    coordination = cp.kubeConfig().makeApiClient(k8s.CoordinationV1Api);
    custom = cp.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    await cp
      .kubeConfig()
      .makeApiClient(k8s.CoreV1Api)
      .createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed')
      for (const p of processes) console.log(`--- ${p.identity} ---\n${p.output.join('').slice(-3000)}`);
  });

  it('lets exactly one of two replicas lead, and fails over within the lease duration when it dies', async () => {
    // The replicas' pods, which the leader labels so that the Coordinator Service reaches it.
    const core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
    for (const name of ['operator-a', 'operator-b']) {
      await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name, labels: { [LEADER_LABEL]: 'true' } },
          spec: {
            schedulerName: 'none',
            containers: [{ name: 'operator', image: 'registry.example/attestor@sha256:' + '0'.repeat(64) }],
          },
        },
      });
    }
    const leaderLabel = async (name: string) =>
      (await core.readNamespacedPod({ name, namespace })).metadata?.labels?.[LEADER_LABEL];
    const a = await startOperatorProcess('operator-a');
    const b = await startOperatorProcess('operator-b');
    const leaderIdentity = await waitFor(holder, { description: 'a Lease holder' });
    const [leader, follower] = leaderIdentity === 'operator-a' ? [a, b] : [b, a];
    await waitFor(
      async () => (await metric(leader, /leader_election_master_status\{name="attestor-operator"\} (\d)/)) === '1',
      { description: 'leader reports master status' },
    );
    assert.equal(await metric(follower, /leader_election_master_status\{name="attestor-operator"\} (\d)/), '0');
    await waitFor(
      async () =>
        (await leaderLabel(leader.identity)) === 'true' && (await leaderLabel(follower.identity)) === undefined,
      { description: "only the leader's pod labelled (a stale label from before dropped)" },
    );

    // Only the leader reconciles.
    const first = uniqueName('failover');
    await custom.createClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'manifests',
      body: manifest(first),
    });
    await waitFor(
      async () =>
        (
          (await custom.getClusterCustomObject({
            group: 'attestor.dev',
            version: 'v1alpha1',
            plural: 'manifests',
            name: first,
          })) as Manifest
        ).status?.hash,
      { description: 'leader reconciled' },
    );
    // The reconcile writes status before it returns and counts itself: wait for the count.
    await waitFor(
      async () =>
        Number(
          await metric(leader, /controller_runtime_reconcile_total\{controller="manifest",result="success"\} (\d+)/),
        ) >= 1,
      { description: "the leader's reconcile counted" },
    );
    assert.equal(
      await metric(follower, /controller_runtime_reconcile_total\{controller="manifest",result="[a-z_]+"\} (\d+)/),
      undefined,
      'the follower never reconciled',
    );

    // The leader dies without releasing the Lease.
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await waitFor(async () => (await holder()) === follower.identity, {
      timeoutMs: LEASE_DURATION_MS * 3,
      intervalMs: 100,
      description: 'follower takes the Lease',
    });
    const takeover = Date.now() - killedAt;
    // Expiry is measured from the last renewal the follower saw, plus one retry period, plus slack for a loaded CI machine.
    assert.ok(takeover <= LEASE_DURATION_MS + 6 * RETRY_MS, `takeover took ${takeover} ms`);
    await waitFor(async () => (await leaderLabel(follower.identity)) === 'true', {
      description: 'the new leader labels its pod',
    });
    const second = uniqueName('failover');
    await custom.createClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'manifests',
      body: manifest(second),
    });
    await waitFor(
      async () =>
        (
          (await custom.getClusterCustomObject({
            group: 'attestor.dev',
            version: 'v1alpha1',
            plural: 'manifests',
            name: second,
          })) as Manifest
        ).status?.hash,
      { description: 'new leader reconciles' },
    );
    const lease = await coordination.readNamespacedLease({ name: leaseName, namespace });
    assert.ok((lease.spec?.leaseTransitions ?? 0) >= 1);

    // A clean stop releases the Lease at once and exits 0.
    follower.child.kill('SIGTERM');
    assert.equal(await exited(follower), 0);
    assert.equal(await holder(), '');
    assert.equal(await leaderLabel(follower.identity), undefined, 'a clean stop removes the label');
    for (const name of [first, second])
      await custom.deleteClusterCustomObject({ group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests', name });
  });
});

function manifest(name: string): object {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name },
    spec: {
      referenceValues: {
        tdx: [{ mrTd: ['cd'.repeat(48)] }],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      policies: [{ name: 'p', hash: '0f'.repeat(32) }],
      runtimeClasses: ['kata'],
    },
  };
}
