// The operator's Event recorder on the real API server: recording returns before the Event is
// written (a reconcile or a Coordinator answer never waits for it), the queue writes them, repeats
// become a count on one Event, and a full queue drops new Events instead of growing.
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { EventRecorder } from '../../src/controllers/runtime/events.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { sharedControlPlane, uniqueName } from '../harness/cluster.ts';

describe('Event recorder', function () {
  this.timeout(60_000);
  let cp: ControlPlane;
  let core: k8s.CoreV1Api;
  const target = (name: string) => ({ apiVersion: 'v1', kind: 'Node', name, uid: `uid-${name}` });
  const eventsOf = async (name: string) =>
    (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${name}` })).items;

  before(async () => {
    cp = await sharedControlPlane();
    core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
  });

  it('returns before the Event is written: recording does not wait for an API server that does not answer', async () => {
    // A server that accepts connections and never answers: a write to it would wait forever.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [
        { name: 'silent', server: `https://127.0.0.1:${(silent.address() as AddressInfo).port}`, skipTLSVerify: true },
      ],
      users: [{ name: 'u', token: 'x' }],
      contexts: [{ name: 'c', cluster: 'silent', user: 'u' }],
      currentContext: 'c',
    });
    const recorder = new EventRecorder(kc, 'attestor-test', 'test-0', silentLogger);
    let flushed = false;
    try {
      await recorder.record(target('silent'), 'Normal', 'Queued', 'queued');
      void recorder.flush().then(() => {
        flushed = true;
      });
      await waitFor(() => sockets.length > 0, { description: 'the write reached the server' });
      assert.equal(flushed, false, 'the write is still waiting; record() was not');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('writes the queued Events and counts repeats on one Event', async () => {
    const recorder = new EventRecorder(cp.kubeConfig(), 'attestor-test', 'test-0', silentLogger);
    const name = uniqueName('queued');
    for (let i = 0; i < 5; i++) await recorder.record(target(name), 'Normal', `Step${i}`, `step ${i}`);
    await recorder.record(target(name), 'Normal', 'Step4', 'step 4');
    await recorder.flush();
    const events = await eventsOf(name);
    assert.deepEqual(events.map((e) => e.reason).sort(), ['Step0', 'Step1', 'Step2', 'Step3', 'Step4']);
    assert.equal(events.find((e) => e.reason === 'Step4')!.count, 2, 'a repeat is a count on one Event');
    assert.equal(events.find((e) => e.reason === 'Step0')!.count, 1);
  });

  it('drops Events recorded while its queue is full, and writes the queued ones', async () => {
    const recorder = new EventRecorder(cp.kubeConfig(), 'attestor-test', 'test-0', silentLogger, { maxPending: 3 });
    const name = uniqueName('full');
    for (let i = 0; i < 10; i++) await recorder.record(target(name), 'Warning', `Burst${i}`, `burst ${i}`);
    await recorder.flush();
    assert.deepEqual((await eventsOf(name)).map((e) => e.reason).sort(), ['Burst0', 'Burst1', 'Burst2']);
    // Once the queue drained, recording works again.
    await recorder.record(target(name), 'Normal', 'After', 'after the burst');
    await recorder.flush();
    assert.ok((await eventsOf(name)).some((e) => e.reason === 'After'));
  });
});
