// `attestor init --renew` in every pod with `attestor init`: a native sidecar right after the
// one-shot init and before the worker proxy, the same container with --renew and the certificate
// volume writable (it writes cert.pem by rename and removes it on a refusal), no GPUs of its own,
// so the pod's GPU count and the pod rules stay as they were.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import {
  INIT_CONTAINER_NAME,
  podSpec,
  RENEW_CONTAINER_NAME,
  WORKER_PROXY_CONTAINER_NAME,
  WORKLOAD_CERTIFICATE_DIR,
  type WorkloadPodSettings,
  withWorkloadInit,
} from '../../../src/controllers/aiworker/workload.ts';
import { podGpuCount } from '../../../src/coordinator/workload-decision.ts';
import { requestsGpus } from '../../../src/webhook/gpu-requests.ts';

const SETTINGS: WorkloadPodSettings = {
  initImage: `registry.example/attestor@sha256:${'ab'.repeat(32)}`,
  coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
  coordinatorCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

function worker(spec: Partial<AIWorker['spec']> = {}): AIWorker {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name: 'llama', namespace: 'ai', uid: 'w' },
    spec: { image: 'i', model: 'm', runtimeClassName: 'kata', policy: { inline: 'p' }, gpusPerReplica: 4, ...spec },
  };
}

const pod = (spec: k8s.V1PodSpec): k8s.V1Pod => ({ metadata: { name: 'p', namespace: 'ai' }, spec });

/** The one-shot init as the renewer must copy it: its name, restart policy, arguments and GPUs aside. */
function expectedRenewer(init: k8s.V1Container): k8s.V1Container {
  const noGpus = (r: Record<string, string> | undefined) =>
    Object.fromEntries(Object.entries(r ?? {}).filter(([k]) => k !== 'nvidia.com/gpu'));
  return {
    ...init,
    name: RENEW_CONTAINER_NAME,
    restartPolicy: 'Always',
    args: [...init.args!, '--renew'],
    resources: { requests: noGpus(init.resources?.requests), limits: noGpus(init.resources?.limits) },
  };
}

describe('the attestor init --renew sidecar', () => {
  it('follows attestor init in a pod-CVM pod with GPUs and precedes the worker proxy: the same container with --renew, kept running, no GPUs of its own', () => {
    const spec = podSpec(worker(), SETTINGS);
    assert.deepEqual(
      spec.initContainers!.map((c) => [c.name, c.restartPolicy]),
      [
        [INIT_CONTAINER_NAME, undefined],
        [RENEW_CONTAINER_NAME, 'Always'],
        [WORKER_PROXY_CONTAINER_NAME, 'Always'],
      ],
    );
    const [init, renew] = spec.initContainers!;
    assert.deepEqual(renew, expectedRenewer(init!));
    assert.ok(!renew!.args!.includes('--no-gpus'), "it attests the pod's GPUs again, as attestor init does");
    assert.equal(init!.resources!.limits!['nvidia.com/gpu'], '4', 'attestor init keeps the GPUs it activates');
    assert.equal(renew!.resources!.limits!['nvidia.com/gpu'], undefined);
    assert.equal(renew!.resources!.requests!['nvidia.com/gpu'], undefined);
  });

  it('mounts the certificate volume writable for attestor init and the renewer only, read-only in the worker proxy and the server', () => {
    const spec = podSpec(worker(), SETTINGS);
    const certificate = spec.volumes!.find((v) => v.emptyDir?.medium === 'Memory')!.name;
    const mountOf = (c: k8s.V1Container) => c.volumeMounts!.find((m) => m.name === certificate)!;
    const [init, renew, proxy] = spec.initContainers!;
    for (const c of [init!, renew!]) assert.equal(mountOf(c).readOnly, undefined, c.name);
    for (const c of [proxy!, ...spec.containers]) assert.equal(mountOf(c).readOnly, true, c.name);
    for (const c of [init!, renew!, proxy!, ...spec.containers])
      assert.equal(mountOf(c).mountPath, WORKLOAD_CERTIFICATE_DIR);
  });

  it('keeps the GPU count of the pod (podGpuCount) the GPUs per replica, as the Coordinator and the scheduler count them', () => {
    for (const gpus of [1, 4, 8]) {
      const spec = podSpec(worker({ gpusPerReplica: gpus }), SETTINGS);
      assert.equal(podGpuCount(pod(spec)), gpus);
      assert.ok(requestsGpus(pod(spec)), 'still a GPU pod for the webhook');
    }
  });

  it('follows attestor init --confidential-node in a confidential-node pod, with --confidential-node --renew and the node agent token', () => {
    const spec = podSpec(worker({ deploymentModel: 'confidential-node' }), SETTINGS);
    const [init, renew, proxy] = spec.initContainers!;
    assert.deepEqual(renew, expectedRenewer(init!));
    assert.ok(renew!.args!.includes('--confidential-node'));
    assert.ok(renew!.args!.some((a) => a.startsWith('--node-agent-token-file=')));
    assert.ok(
      renew!.env!.some((e) => e.name === 'HOST_IP'),
      "it reaches its node's agent as attestor init does",
    );
    assert.equal(proxy!.name, WORKER_PROXY_CONTAINER_NAME);
    assert.equal(podGpuCount(pod(spec)), 4);
  });

  it("is added by withWorkloadInit right after attestor init (--no-gpus --renew), before the pod's own init containers, which mount the volume read-only", () => {
    const spec = withWorkloadInit(
      {
        initContainers: [{ name: 'migrate', image: 'registry.example/migrate@sha256:00' }],
        containers: [{ name: 'secret-service', image: 'registry.example/attestor@sha256:01' }],
      },
      SETTINGS,
    );
    assert.deepEqual(
      spec.initContainers!.map((c) => c.name),
      [INIT_CONTAINER_NAME, RENEW_CONTAINER_NAME, 'migrate'],
    );
    const [init, renew, migrate] = spec.initContainers!;
    assert.deepEqual(renew, expectedRenewer(init!));
    assert.deepEqual(renew!.args!.slice(-2), ['--no-gpus', '--renew']);
    assert.equal(migrate!.volumeMounts!.at(-1)!.readOnly, true);
    assert.equal(podGpuCount(pod(spec)), 0);
  });

  it('is the same renewer in an AIWorker pod and in withWorkloadInit given the same GPUs', () => {
    const fromWorkloadInit = withWorkloadInit({ containers: [{ name: 'c', image: 'i' }] }, SETTINGS, { gpus: 4 });
    assert.deepEqual(fromWorkloadInit.initContainers![1], podSpec(worker(), SETTINGS).initContainers![1]);
    assert.equal(podGpuCount(pod(fromWorkloadInit)), 4);
  });
});
