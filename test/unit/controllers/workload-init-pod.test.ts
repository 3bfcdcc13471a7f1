// `withWorkloadInit`: the `attestor init` an AIWorker's pod-CVM pods get, added to any pod spec
// (the secret service's, the secret store's), without changing the spec it is given.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import {
  podSpec,
  WORKLOAD_CERTIFICATE_DIR,
  type WorkloadPodSettings,
  withWorkloadInit,
} from '../../../src/controllers/aiworker/workload.ts';
import { WORKLOAD_AUDIENCE } from '../../../src/protocol/workload.ts';

const SETTINGS: WorkloadPodSettings = {
  initImage: `registry.example/attestor@sha256:${'ab'.repeat(32)}`,
  coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
  coordinatorCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};

function secretServiceSpec(): k8s.V1PodSpec {
  return {
    runtimeClassName: 'kata',
    initContainers: [{ name: 'migrate', image: 'registry.example/migrate@sha256:00' }],
    containers: [
      {
        name: 'secret-service',
        image: 'registry.example/attestor@sha256:01',
        args: ['secret-service'],
        volumeMounts: [{ name: 'config', mountPath: '/etc/secret-service' }],
      },
    ],
    volumes: [{ name: 'config', configMap: { name: 'secret-service' } }],
  };
}

describe('attestor init for a pod of no AIWorker (withWorkloadInit)', () => {
  it('adds attestor init first (--no-gpus, no GPU resources) and its renewer, its workload token and the memory-backed volume, mounted read-only in every other container', () => {
    const given = secretServiceSpec();
    const before = structuredClone(given);
    const spec = withWorkloadInit(given, SETTINGS);
    assert.deepEqual(given, before, 'the spec given is not changed');

    const [init, renew, migrate] = spec.initContainers!;
    assert.equal(renew!.name, 'attestor-renew');
    assert.equal(init!.name, 'attestor-init');
    assert.equal(init!.image, SETTINGS.initImage);
    assert.deepEqual(init!.args, [
      'init',
      `--coordinator=${SETTINGS.coordinatorUrl}`,
      `--out=${WORKLOAD_CERTIFICATE_DIR}`,
      '--token-file=/var/run/secrets/attestor-workload/token',
      '--no-gpus',
    ]);
    assert.equal(init!.env!.find((e) => e.name === 'ATTESTOR_COORDINATOR_CA')?.value, SETTINGS.coordinatorCaPem);
    assert.equal(init!.env!.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
    assert.equal(init!.resources!.limits!['nvidia.com/gpu'], undefined);
    assert.equal(migrate!.name, 'migrate');

    const certificate = spec.volumes!.find((v) => v.emptyDir?.medium === 'Memory');
    assert.ok(certificate, 'a memory-backed volume for the key');
    const token = spec.volumes!.find((v) => v.projected)!.projected!.sources![0]!.serviceAccountToken!;
    assert.equal(token.audience, WORKLOAD_AUDIENCE);
    assert.ok(
      spec.volumes!.some((v) => v.name === 'config'),
      "the pod's own volumes stay",
    );
    assert.deepEqual(
      init!.volumeMounts!.find((m) => m.name === certificate.name),
      { name: certificate.name, mountPath: WORKLOAD_CERTIFICATE_DIR },
      'attestor init writes the certificate',
    );
    for (const c of [migrate!, ...spec.containers])
      assert.deepEqual(c.volumeMounts!.at(-1), {
        name: certificate.name,
        mountPath: WORKLOAD_CERTIFICATE_DIR,
        readOnly: true,
      });
    assert.equal(spec.containers[0]!.volumeMounts!.length, 2, "the container's own mount stays");
  });

  it("with GPUs, adds the same attestor init and renewer an AIWorker's pod-CVM pods get", () => {
    const worker: AIWorker = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name: 'llama', namespace: 'ai', uid: 'w' },
      spec: { image: 'i', model: 'm', runtimeClassName: 'kata', policy: { inline: 'p' }, gpusPerReplica: 2 },
    };
    const spec = withWorkloadInit(secretServiceSpec(), SETTINGS, { gpus: 2 });
    const aiWorkerPod = podSpec(worker, SETTINGS);
    assert.deepEqual(spec.initContainers!.slice(0, 2), aiWorkerPod.initContainers!.slice(0, 2));
    assert.deepEqual(
      spec.volumes!.filter((v) => v.name !== 'config'),
      aiWorkerPod.volumes,
    );
  });
});
