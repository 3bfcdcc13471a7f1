// The pod rules: one valid AI worker pod, one change per case, each refused with the exact
// field paths of what it breaks.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { judgePod, judgePodUpdate } from '../../../src/webhook/pod-rules.ts';
import { formatViolation } from '../../../src/webhook/review.ts';
import { clone, IMAGE, manifest, POLICY_HASH, POLICY as POLICY_TEXT, pod, RUNTIME_CLASS } from './fixtures.ts';

const POLICY_FIELD = 'metadata.annotations[io.katacontainers.config.agent.policy]';
const ROGUE_POLICY = 'package agent_policy\ndefault ExecProcessRequest := true\n';
const ROGUE_HASH = createHash('sha256').update(ROGUE_POLICY).digest('hex');

describe('webhook pod rules', function () {
  it('admits the valid fixture', function () {
    assert.deepEqual(judgePod(pod(), manifest()), []);
  });

  const cases: Array<{ name: string; change: (p: k8s.V1Pod) => void; expected: string[] }> = [
    {
      name: 'a runtime class the Manifest does not allow',
      change: (p) => {
        p.spec!.runtimeClassName = 'runc';
      },
      expected: [`spec.runtimeClassName: "runc" is not allowed by Manifest dev (allowed: ${RUNTIME_CLASS})`],
    },
    {
      name: 'no runtime class',
      change: (p) => {
        delete p.spec!.runtimeClassName;
      },
      expected: [`spec.runtimeClassName: is not set (Manifest dev allows: ${RUNTIME_CLASS})`],
    },
    {
      name: 'no policy annotation',
      change: (p) => {
        delete p.metadata!.annotations!['io.katacontainers.config.agent.policy'];
      },
      expected: [`${POLICY_FIELD}: is missing: the pod must carry its Kata agent policy (base64)`],
    },
    {
      name: 'an empty policy annotation',
      change: (p) => {
        p.metadata!.annotations!['io.katacontainers.config.agent.policy'] = '';
      },
      expected: [`${POLICY_FIELD}: is missing: the pod must carry its Kata agent policy (base64)`],
    },
    {
      name: 'a policy annotation that is not base64',
      change: (p) => {
        p.metadata!.annotations!['io.katacontainers.config.agent.policy'] = 'package agent_policy';
      },
      expected: [`${POLICY_FIELD}: is not valid base64`],
    },
    {
      name: 'base64 with characters Buffer.from would skip',
      change: (p) => {
        p.metadata!.annotations!['io.katacontainers.config.agent.policy'] =
          '!' + p.metadata!.annotations!['io.katacontainers.config.agent.policy'];
      },
      expected: [`${POLICY_FIELD}: is not valid base64`],
    },
    {
      name: 'base64 without its padding',
      change: (p) => {
        p.metadata!.annotations!['io.katacontainers.config.agent.policy'] = Buffer.from(POLICY_TEXT + '#')
          .toString('base64')
          .replace(/=+$/, '');
      },
      expected: [`${POLICY_FIELD}: is not valid base64`],
    },
    {
      name: 'base64 broken over lines',
      change: (p) => {
        p.metadata!.annotations!['io.katacontainers.config.agent.policy'] = Buffer.from(POLICY_TEXT)
          .toString('base64')
          .replace(/(.{20})/, '$1\n');
      },
      expected: [`${POLICY_FIELD}: is not valid base64`],
    },
    {
      name: 'base64url instead of base64',
      change: (p) => {
        p.metadata!.annotations!['io.katacontainers.config.agent.policy'] = Buffer.from([0xfb, 0xff, 0xbf]).toString(
          'base64url',
        );
      },
      expected: [`${POLICY_FIELD}: is not valid base64`],
    },
    {
      name: 'a policy the Manifest does not list',
      change: (p) => {
        p.metadata!.annotations!['io.katacontainers.config.agent.policy'] =
          Buffer.from(ROGUE_POLICY).toString('base64');
        delete p.metadata!.annotations!['attestor.dev/policy-hash'];
      },
      expected: [`${POLICY_FIELD}: policy with SHA-256 ${ROGUE_HASH} is not allowed by Manifest dev`],
    },
    {
      name: 'a policy-hash annotation that disagrees with the policy',
      change: (p) => {
        p.metadata!.annotations!['attestor.dev/policy-hash'] = 'ff'.repeat(32);
      },
      expected: [
        `metadata.annotations[attestor.dev/policy-hash]: "${'ff'.repeat(32)}" does not match the SHA-256 of the policy (${POLICY_HASH})`,
      ],
    },
    {
      name: 'an image by tag',
      change: (p) => {
        p.spec!.containers[1]!.image = 'x:latest';
      },
      expected: ['spec.containers[1].image: "x:latest" is not pinned by digest'],
    },
    {
      name: 'an init container image by tag',
      change: (p) => {
        p.spec!.initContainers![0]!.image = 'registry.example/fetch:v1';
      },
      expected: ['spec.initContainers[0].image: "registry.example/fetch:v1" is not pinned by digest'],
    },
    {
      name: 'an ephemeral container image by tag',
      change: (p) => {
        p.spec!.ephemeralContainers = [{ name: 'debug', image: 'busybox' }];
      },
      expected: ['spec.ephemeralContainers[0].image: "busybox" is not pinned by digest'],
    },
    {
      name: 'a digest that is too short',
      change: (p) => {
        p.spec!.containers[0]!.image = `registry.example/vllm@sha256:${'c3'.repeat(31)}`;
      },
      expected: [`spec.containers[0].image: "registry.example/vllm@sha256:${'c3'.repeat(31)}" is not pinned by digest`],
    },
    {
      name: 'a digest in upper case',
      change: (p) => {
        p.spec!.containers[0]!.image = IMAGE.toUpperCase();
      },
      expected: [`spec.containers[0].image: "${IMAGE.toUpperCase()}" is not pinned by digest`],
    },
    {
      name: 'no image',
      change: (p) => {
        delete p.spec!.containers[0]!.image;
      },
      expected: ['spec.containers[0].image: "" is not pinned by digest'],
    },
    {
      name: 'a toleration of the unattested taint',
      change: (p) => {
        p.spec!.tolerations!.push({ key: 'attestor.dev/unattested', operator: 'Exists' });
      },
      expected: [
        "spec.tolerations[1]: tolerates the attestor.dev/unattested taint: pods in attestor's scope run only on attested nodes",
      ],
    },
    {
      name: 'a toleration of the unattested taint with its value and effect',
      change: (p) => {
        p.spec!.tolerations!.unshift({
          key: 'attestor.dev/unattested',
          operator: 'Equal',
          value: 'true',
          effect: 'NoSchedule',
        });
      },
      expected: [
        "spec.tolerations[0]: tolerates the attestor.dev/unattested taint: pods in attestor's scope run only on attested nodes",
      ],
    },
    {
      name: 'a toleration of every taint',
      change: (p) => {
        p.spec!.tolerations!.push({ operator: 'Exists' });
      },
      expected: [
        "spec.tolerations[1]: tolerates every taint, the attestor.dev/unattested taint included: pods in attestor's scope run only on attested nodes",
      ],
    },
    {
      name: 'several broken rules at once, each listed',
      change: (p) => {
        p.spec!.runtimeClassName = 'runc';
        p.spec!.containers[1]!.image = 'x:latest';
        p.spec!.tolerations = [{ operator: 'Exists' }];
      },
      expected: [
        `spec.runtimeClassName: "runc" is not allowed by Manifest dev (allowed: ${RUNTIME_CLASS})`,
        'spec.containers[1].image: "x:latest" is not pinned by digest',
        "spec.tolerations[0]: tolerates every taint, the attestor.dev/unattested taint included: pods in attestor's scope run only on attested nodes",
      ],
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, function () {
      const p = clone(pod());
      c.change(p);
      assert.deepEqual(judgePod(p, manifest()).map(formatViolation), c.expected);
    });
  }

  it('refuses every pod while no Manifest is active, and still lists the other rules', function () {
    const p = clone(pod());
    p.spec!.containers[0]!.image = 'vllm:latest';
    assert.deepEqual(
      judgePod(p, undefined).map((v) => v.field),
      ['spec.runtimeClassName', POLICY_FIELD, 'spec.containers[0].image'],
    );
    assert.match(formatViolation(judgePod(pod(), undefined)[0]!), /no Manifest is active/);
  });

  it('accepts tolerations of other taints and a pod without the policy-hash annotation', function () {
    const p = clone(pod());
    delete p.metadata!.annotations!['attestor.dev/policy-hash'];
    p.spec!.tolerations!.push({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' });
    assert.deepEqual(judgePod(p, manifest()), []);
  });

  describe('updates', function () {
    it('let through a change of nothing the rules look at, even for a pod admitted under an earlier Manifest', function () {
      const old = clone(pod());
      old.spec!.runtimeClassName = 'kata-old';
      const updated = clone(old);
      updated.metadata!.labels!.extra = 'yes';
      updated.metadata!.finalizers = [];
      assert.notDeepEqual(judgePod(updated, manifest()), []);
      assert.deepEqual(judgePodUpdate(updated, old, manifest()), []);
      assert.deepEqual(judgePodUpdate(updated, old, undefined), []);
    });

    const changes: Array<{ name: string; change: (p: k8s.V1Pod) => void; field: string }> = [
      {
        name: 'an image',
        change: (p) => {
          p.spec!.containers[0]!.image = 'vllm:latest';
        },
        field: 'spec.containers[0].image',
      },
      {
        name: 'an added ephemeral container',
        change: (p) => {
          p.spec!.ephemeralContainers = [{ name: 'debug', image: 'busybox' }];
        },
        field: 'spec.ephemeralContainers[0].image',
      },
      {
        name: 'an added toleration',
        change: (p) => {
          p.spec!.tolerations!.push({ operator: 'Exists' });
        },
        field: 'spec.tolerations[1]',
      },
      {
        name: 'the policy annotation',
        change: (p) => {
          p.metadata!.annotations!['io.katacontainers.config.agent.policy'] = 'bm9wZQ==';
        },
        field: POLICY_FIELD,
      },
    ];
    for (const c of changes) {
      it(`judge a change of ${c.name} in full`, function () {
        const old = pod();
        const updated = clone(old);
        c.change(updated);
        assert.ok(judgePodUpdate(updated, old, manifest()).some((v) => v.field === c.field));
      });
    }

    // Issue 7 item 11: a pod that was out of scope, or another worker's, becomes an endpoint.
    const selectorChanges: Array<{ name: string; change: (old: k8s.V1Pod, updated: k8s.V1Pod) => void }> = [
      {
        name: "gives an out-of-scope pod an AIWorker's selector labels",
        change: (old) => {
          old.metadata!.labels = { app: 'web' };
        },
      },
      {
        name: 'gives it only the label every AIWorker selector requires',
        change: (old, updated) => {
          old.metadata!.labels = {};
          updated.metadata!.labels = { 'app.kubernetes.io/name': 'ai-worker' };
        },
      },
      {
        name: 'moves a pod to another AIWorker',
        change: (_old, updated) => {
          updated.metadata!.labels!['app.kubernetes.io/instance'] = 'other';
        },
      },
    ];
    for (const c of selectorChanges) {
      it(`judge in full an update that ${c.name}`, function () {
        const old = clone(pod());
        old.spec!.runtimeClassName = 'runc';
        delete old.metadata!.annotations!['io.katacontainers.config.agent.policy'];
        const updated = clone(old);
        c.change(old, updated);
        assert.deepEqual(
          judgePodUpdate(updated, old, manifest()).map((v) => v.field),
          ['spec.runtimeClassName', POLICY_FIELD],
        );
      });
    }

    it('let through an update that drops the selector labels: the pod leaves every selector', function () {
      const old = clone(pod());
      old.spec!.runtimeClassName = 'runc';
      const updated = clone(old);
      delete updated.metadata!.labels!['app.kubernetes.io/instance'];
      assert.deepEqual(judgePodUpdate(updated, old, manifest()), []);
    });

    it('judge in full when the old object is missing', function () {
      const p = clone(pod());
      p.spec!.runtimeClassName = 'runc';
      assert.deepEqual(
        judgePodUpdate(p, undefined, manifest()).map((v) => v.field),
        ['spec.runtimeClassName'],
      );
    });
  });
});
