// The API server goes away and comes back: informers must notice, say so in /readyz, restart
// with backoff and catch up, so the operator reconciles what happened meanwhile. Uses a control
// plane of its own, since it stops the API server.
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../src/api/manifest.ts';
import { ControlPlane } from '../../src/dev/control-plane.ts';
import { installCrds } from '../../src/dev/install.ts';
import { waitFor } from '../../src/dev/wait.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { startTestOperator } from '../harness/cluster.ts';

describe('informer recovery after the API server restarts', function () {
  let cp: ControlPlane;
  let operator: RunningOperator;

  before(async () => {
    cp = await ControlPlane.start({ controllerManager: false, scheduler: false, kwok: false });
    await installCrds(cp.kubeConfig());
    operator = await startTestOperator(cp.kubeConfig());
  });
  after(async () => {
    await operator?.stop();
    await cp?.stop();
  });

  const probe = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${operator.manager.probePort}${path}`);
    return { status: res.status, body: await res.text() };
  };

  it('serves /healthz, /readyz and /metrics with the controller-runtime metric names', async () => {
    assert.deepEqual(await probe('/healthz'), { status: 200, body: 'ok' });
    assert.deepEqual(await probe('/readyz'), { status: 200, body: 'ok' });
    const metrics = (await probe('/metrics')).body;
    for (const name of [
      'controller_runtime_reconcile_total',
      'controller_runtime_reconcile_time_seconds',
      'controller_runtime_max_concurrent_reconciles',
      'controller_runtime_active_workers',
      'workqueue_depth',
      'workqueue_adds_total',
      'workqueue_retries_total',
      'workqueue_queue_duration_seconds',
      'leader_election_master_status',
      'process_cpu_seconds_total',
    ]) {
      assert.match(metrics, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(metrics, /controller_runtime_max_concurrent_reconciles\{controller="aiworker"\} 8/);
  });

  it('reports not ready while the API server is down, then catches up on what changed', async () => {
    await cp.stopApiServer();
    const notReady = await waitFor(
      async () => {
        const r = await probe('/readyz');
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 60_000, description: '/readyz 503' },
    );
    assert.match(notReady.body, /informer-manifests: watch failing/);

    await cp.startApiServer(false);
    const custom = cp.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    await custom.createClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'manifests',
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: 'after-restart' },
        spec: {
          referenceValues: {
            tdx: [{ mrTd: ['cd'.repeat(48)] }],
            gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
          },
          policies: [{ name: 'p', hash: '0f'.repeat(32) }],
          runtimeClasses: ['kata'],
        },
      },
    });
    await waitFor(
      async () =>
        (
          (await custom.getClusterCustomObject({
            group: 'attestor.dev',
            version: 'v1alpha1',
            plural: 'manifests',
            name: 'after-restart',
          })) as Manifest
        ).status?.hash,
      { timeoutMs: 60_000, description: 'Manifest created after the restart reconciled' },
    );
    await waitFor(async () => (await probe('/readyz')).status === 200, {
      timeoutMs: 60_000,
      description: '/readyz 200 again',
    });
    const restarts = /attestor_informer_restarts_total\{resource="manifests"\} (\d+)/.exec(
      (await probe('/metrics')).body,
    );
    assert.ok(restarts && Number(restarts[1]) >= 1, 'the manifests informer was restarted');
  });
});
