// The rules about a pod before and beside its evidence (workload-decision.ts), and the deployment
// models a Manifest enables (deployment-model.ts): pure functions, one case per rule.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import { enabledModels, isPodCvmWorkerPod, nodesGated } from '../../../src/api/deployment-model.ts';
import type { Manifest } from '../../../src/api/manifest.ts';
import { judgeWorkload, podGpuCount, podPolicyHash } from '../../../src/coordinator/workload-decision.ts';

const POLICY = 'package agent_policy\n';
const HASH = createHash('sha256').update(POLICY).digest('hex');
const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };

function manifest(roles: Array<'pod' | 'node' | 'coordinator'> = ['pod']): Manifest {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'm' },
    spec: {
      referenceValues: {
        snp: roles.map((role, i) => ({ role, measurements: [String(i).repeat(96)], minimumTCB: tcb })),
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      policies: [
        { name: 'llama', hash: HASH, role: 'secret-service', sans: ['a.example'] },
        { name: 'coordinator', hash: 'cc'.repeat(32), role: 'coordinator' },
      ],
      runtimeClasses: ['kata'],
    },
    status: { hash: 'ee'.repeat(32) },
  } as Manifest;
}

function pod(): k8s.V1Pod {
  return {
    metadata: {
      name: 'llama-1',
      namespace: 'ai',
      uid: 'uid-1',
      labels: {
        'app.kubernetes.io/name': 'ai-worker',
        'app.kubernetes.io/instance': 'llama',
        'app.kubernetes.io/managed-by': 'attestor',
        'attestor.dev/deployment-model': 'pod-cvm',
      },
      annotations: { 'io.katacontainers.config.agent.policy': Buffer.from(POLICY).toString('base64') },
    },
    spec: {
      initContainers: [{ name: 'attestor-init', resources: { limits: { 'nvidia.com/gpu': '2' } } }],
      containers: [{ name: 'server', resources: { limits: { 'nvidia.com/gpu': '2' } } }],
    },
    status: { podIP: '10.0.0.1' },
  };
}

const worker = (model?: 'pod-cvm' | 'confidential-node'): AIWorker => ({
  apiVersion: 'attestor.dev/v1alpha1',
  kind: 'AIWorker',
  metadata: { name: 'llama', namespace: 'ai', uid: 'w' },
  spec: {
    image: 'i',
    model: 'm',
    runtimeClassName: 'kata',
    policy: { inline: POLICY },
    ...(model ? { deploymentModel: model } : {}),
  },
});
const caller = { namespace: 'ai', name: 'llama-1', uid: 'uid-1' };
const checks = (j: ReturnType<typeof judgeWorkload>) => j.reasons.map((r) => r.check);

describe('workload decision (before the evidence)', () => {
  it("accepts a pod-CVM AIWorker's pod and takes its certificate's names, role and GPU count from the pod and its policy entry", () => {
    const judged = judgeWorkload({ caller, pod: pod(), worker: worker(), manifest: manifest() });
    assert.deepEqual(judged.reasons, []);
    assert.deepEqual(judged.target, {
      namespace: 'ai',
      pod: 'llama-1',
      podUid: 'uid-1',
      podIp: '10.0.0.1',
      commonName: 'llama',
      aiWorker: 'llama',
      policyHash: HASH,
      policyName: 'llama',
      role: 'secret-service',
      sans: ['a.example'],
      deploymentModel: 'pod-cvm',
      gpuCount: 2,
    });
  });

  it("refuses a missing pod, a pod recreated under the token's name (another UID), a pod being deleted, and a pod of no AIWorker (workload.pod)", () => {
    assert.deepEqual(checks(judgeWorkload({ caller, pod: undefined, worker: worker(), manifest: manifest() })), [
      'workload.pod',
    ]);
    const recreated = pod();
    recreated.metadata!.uid = 'uid-2';
    assert.deepEqual(checks(judgeWorkload({ caller, pod: recreated, worker: worker(), manifest: manifest() })), [
      'workload.pod',
    ]);
    const deleting = pod();
    deleting.metadata!.deletionTimestamp = new Date();
    assert.deepEqual(checks(judgeWorkload({ caller, pod: deleting, worker: worker(), manifest: manifest() })), [
      'workload.pod',
    ]);
    assert.deepEqual(checks(judgeWorkload({ caller, pod: pod(), worker: undefined, manifest: manifest() })), [
      'workload.pod',
    ]);
  });

  it("refuses a confidential-node AIWorker's pod, and any pod while the Manifest does not enable pod-CVM (workload.deployment-model)", () => {
    assert.deepEqual(
      checks(judgeWorkload({ caller, pod: pod(), worker: worker('confidential-node'), manifest: manifest() })),
      ['workload.deployment-model'],
    );
    assert.deepEqual(checks(judgeWorkload({ caller, pod: pod(), worker: worker(), manifest: manifest(['node']) })), [
      'workload.deployment-model',
    ]);
  });

  it("refuses a pod whose policy is not one of the Manifest's workload policies, a coordinator policy included (workload.policy)", () => {
    const other = pod();
    other.metadata!.annotations!['io.katacontainers.config.agent.policy'] = Buffer.from('other').toString('base64');
    assert.deepEqual(checks(judgeWorkload({ caller, pod: other, worker: worker(), manifest: manifest() })), [
      'workload.policy',
    ]);
    const m = manifest();
    m.spec.policies[0]!.role = 'coordinator';
    assert.deepEqual(checks(judgeWorkload({ caller, pod: pod(), worker: worker(), manifest: m })), ['workload.policy']);
    const none = pod();
    delete none.metadata!.annotations;
    assert.deepEqual(checks(judgeWorkload({ caller, pod: none, worker: worker(), manifest: manifest() })), [
      'workload.policy',
    ]);
  });

  it('reads the policy hash only from canonical base64, and counts GPUs once across init and app containers', () => {
    const bad = pod();
    bad.metadata!.annotations!['io.katacontainers.config.agent.policy'] = 'not base64!';
    assert.ok('error' in podPolicyHash(bad));
    assert.deepEqual(podPolicyHash(pod()), { hash: HASH });
    assert.equal(podGpuCount(pod()), 2);
  });
});

/** A secret-service pod: no AIWorker's labels, its own app label, no GPUs, the secrets policy. */
const SECRETS_POLICY = 'package agent_policy\n# the secret service\n';
const SECRETS_HASH = createHash('sha256').update(SECRETS_POLICY).digest('hex');
function rolePod(policy = SECRETS_POLICY): k8s.V1Pod {
  return {
    metadata: {
      name: 'secret-service-7d9f-abcde',
      namespace: 'secrets',
      uid: 'uid-s',
      labels: { 'app.kubernetes.io/name': 'secret-service' },
      annotations: { 'io.katacontainers.config.agent.policy': Buffer.from(policy).toString('base64') },
    },
    spec: { containers: [{ name: 'secret-service' }] },
    status: { podIP: '10.0.0.2' },
  };
}
function roleManifest(role: 'secret-service' | 'secret-store' | 'worker' | 'coordinator' = 'secret-service'): Manifest {
  const m = manifest(['pod', 'coordinator']);
  m.spec.policies.push({ name: 'secrets', hash: SECRETS_HASH, role, sans: ['secrets.example.com', '192.0.2.9'] });
  return m;
}
const roleCaller = { namespace: 'secrets', name: 'secret-service-7d9f-abcde', uid: 'uid-s' };

describe('workload decision for a pod of no AIWorker (secret-service, secret-store)', () => {
  it('accepts a pod whose policy is a secret-service entry: role, SANs and name from the entry and the pod, no AIWorker, its policy hash the only HOST_DATA allowed', () => {
    const judged = judgeWorkload({ caller: roleCaller, pod: rolePod(), worker: undefined, manifest: roleManifest() });
    assert.deepEqual(judged.reasons, []);
    assert.deepEqual(judged.target, {
      namespace: 'secrets',
      pod: 'secret-service-7d9f-abcde',
      podUid: 'uid-s',
      podIp: '10.0.0.2',
      commonName: 'secret-service',
      policyHash: SECRETS_HASH,
      policyName: 'secrets',
      role: 'secret-service',
      sans: ['secrets.example.com', '192.0.2.9'],
      deploymentModel: 'pod-cvm',
      gpuCount: 0,
    });
  });

  it('accepts a secret-store entry, in any namespace, named by the app label or else the pod', () => {
    const store = rolePod();
    store.metadata!.namespace = 'elsewhere';
    store.metadata!.labels = {};
    const caller = { ...roleCaller, namespace: 'elsewhere' };
    const judged = judgeWorkload({ caller, pod: store, worker: undefined, manifest: roleManifest('secret-store') });
    assert.deepEqual(judged.reasons, []);
    assert.equal(judged.target?.role, 'secret-store');
    assert.equal(judged.target?.commonName, 'secret-service-7d9f-abcde');
    assert.equal(judged.target?.namespace, 'elsewhere');
  });

  it("refuses a worker policy on a pod of no AIWorker: a worker is certified only as an AIWorker's pod (workload.pod)", () => {
    const judged = judgeWorkload({
      caller: roleCaller,
      pod: rolePod(),
      worker: undefined,
      manifest: roleManifest('worker'),
    });
    assert.deepEqual(checks(judged), ['workload.pod']);
    assert.match(judged.reasons[0]!.message, /worker policy is certified only in an AIWorker's pod/);
    assert.equal(judged.target, undefined);
  });

  it('refuses a coordinator policy: never certified through the workload paths (workload.policy)', () => {
    const judged = judgeWorkload({
      caller: roleCaller,
      pod: rolePod(),
      worker: undefined,
      manifest: roleManifest('coordinator'),
    });
    assert.deepEqual(checks(judged), ['workload.policy']);
    assert.match(judged.reasons[0]!.message, /coordinator policy/);
  });

  it('refuses a policy the Manifest does not list, no policy at all, and a pod recreated under the name', () => {
    const other = rolePod('package agent_policy\n# not listed\n');
    assert.deepEqual(
      checks(judgeWorkload({ caller: roleCaller, pod: other, worker: undefined, manifest: roleManifest() })),
      ['workload.policy'],
    );
    const none = rolePod();
    delete none.metadata!.annotations;
    assert.deepEqual(
      checks(judgeWorkload({ caller: roleCaller, pod: none, worker: undefined, manifest: roleManifest() })),
      ['workload.policy'],
    );
    const recreated = rolePod();
    recreated.metadata!.uid = 'uid-other';
    assert.deepEqual(
      checks(judgeWorkload({ caller: roleCaller, pod: recreated, worker: undefined, manifest: roleManifest() })),
      ['workload.pod'],
    );
  });

  it('refuses it under the confidential-node model (nothing measures the pod there), and while the Manifest does not enable pod-CVM (workload.deployment-model)', () => {
    assert.deepEqual(
      checks(
        judgeWorkload({
          caller: roleCaller,
          pod: rolePod(),
          worker: undefined,
          manifest: roleManifest(),
          model: 'confidential-node',
        }),
      ),
      ['workload.deployment-model'],
    );
    const nodesOnly = roleManifest();
    nodesOnly.spec.referenceValues.snp = nodesOnly.spec.referenceValues.snp!.map((e) => ({ ...e, role: 'node' }));
    assert.deepEqual(
      checks(judgeWorkload({ caller: roleCaller, pod: rolePod(), worker: undefined, manifest: nodesOnly })),
      ['workload.deployment-model'],
    );
  });
});

describe('deployment models', () => {
  it('a Manifest enables pod-cvm with pod entries and confidential-node with node entries; nodes are gated unless a Manifest without node entries is active', () => {
    assert.deepEqual([...enabledModels(manifest(['pod', 'coordinator']))], ['pod-cvm']);
    assert.deepEqual([...enabledModels(manifest(['node']))], ['confidential-node']);
    assert.deepEqual([...enabledModels(manifest(['pod', 'node']))].sort(), ['confidential-node', 'pod-cvm']);
    assert.equal(nodesGated(manifest(['pod'])), false);
    assert.equal(nodesGated(manifest(['pod', 'node'])), true);
    assert.equal(nodesGated(undefined), true, 'no Manifest active: fail closed');
  });

  it('counts as a pod-CVM worker pod only an AI worker pod labelled pod-cvm', () => {
    assert.equal(isPodCvmWorkerPod(pod().metadata!.labels), true);
    assert.equal(isPodCvmWorkerPod({ 'attestor.dev/deployment-model': 'pod-cvm' }), false);
    assert.equal(
      isPodCvmWorkerPod({ ...pod().metadata!.labels, 'attestor.dev/deployment-model': 'confidential-node' }),
      false,
    );
    assert.equal(isPodCvmWorkerPod(undefined), false);
  });
});
