// Development mode only: with the operator's --development-hardware-url, a pod-CVM pod's attestor
// init takes simulated evidence from it (the pod's policy hash from its own annotation, as many
// simulated GPUs as the pod has); without it, nothing of that is in the pod.
import assert from 'node:assert/strict';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import { podSpec, type WorkloadPodSettings } from '../../../src/controllers/aiworker/workload.ts';

const SETTINGS: WorkloadPodSettings = {
  initImage: `registry.example/attestor@sha256:${'ab'.repeat(32)}`,
  coordinatorUrl: 'https://attestor-coordinator.attestor-system.svc:8443',
  coordinatorCaPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};
const HARDWARE = 'http://attestor-coordinator.attestor-system.svc:8446';

const worker: AIWorker = {
  apiVersion: 'attestor.dev/v1alpha1',
  kind: 'AIWorker',
  metadata: { name: 'llama', namespace: 'default', uid: 'u' },
  spec: {
    image: `registry.example/vllm@sha256:${'d4'.repeat(32)}`,
    model: 'm',
    gpusPerReplica: 2,
    runtimeClassName: 'kata-qemu-nvidia-gpu-snp',
    policy: { configMapRef: { name: 'policy' } },
  },
} as AIWorker;

describe('attestor init with simulated hardware (development mode)', () => {
  it('passes --simulated-hardware, the GPU count and the policy hash from the pod annotation only when the operator has a development hardware URL', () => {
    const init = podSpec(worker, { ...SETTINGS, simulatedHardwareUrl: HARDWARE }).initContainers![0]!;
    assert.deepEqual(init.args!.slice(-2), [`--simulated-hardware=${HARDWARE}`, '--simulated-gpus=2']);
    assert.deepEqual(
      init.env!.find((e) => e.name === 'ATTESTOR_SIMULATED_POLICY_HASH'),
      {
        name: 'ATTESTOR_SIMULATED_POLICY_HASH',
        valueFrom: { fieldRef: { fieldPath: "metadata.annotations['attestor.dev/policy-hash']" } },
      },
    );
    const production = podSpec(worker, SETTINGS).initContainers![0]!;
    assert.doesNotMatch(JSON.stringify(production), /simulated/i);
  });
});
