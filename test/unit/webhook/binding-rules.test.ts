// The placement rule: a GPU pod may be bound only to a node whose attestation is current for the
// active Manifest, and a GPU pod created with spec.nodeName gets the same check (issue 7 item 12).
// One valid binding or pod, one change per case.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../../src/api/manifest.ts';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import {
  type BindingFacts,
  judgeBinding,
  judgeNodeName,
  type NodeNameFacts,
} from '../../../src/webhook/binding-rules.ts';
import { formatViolation } from '../../../src/webhook/review.ts';
import { binding, clone, MANIFEST_HASH, manifest, NOW, nodeAttestation, pod } from './fixtures.ts';

function facts(): BindingFacts {
  return { binding: binding(), pod: pod(), nodeAttestation: nodeAttestation(), activeManifest: manifest(), now: NOW };
}

describe('webhook binding rule', function () {
  it('lets a GPU pod bind to a node with a current attestation', function () {
    assert.deepEqual(judgeBinding(facts()), []);
  });

  const cases: Array<{
    name: string;
    change: (f: BindingFacts & { nodeAttestation: NodeAttestation | undefined }) => void;
    expected: string;
  }> = [
    {
      name: 'no NodeAttestation',
      change: (f) => {
        f.nodeAttestation = undefined;
      },
      expected:
        'target.name: node "gpu-1" has no current attestation for GPU pods (NoAttestation: the node has not submitted evidence)',
    },
    {
      name: 'a refused attestation',
      change: (f) => {
        f.nodeAttestation!.status!.conditions![0] = {
          ...f.nodeAttestation!.status!.conditions![0]!,
          status: 'False',
          message: 'measurement not allowed',
        };
      },
      expected:
        'target.name: node "gpu-1" has no current attestation for GPU pods (NotAttested: measurement not allowed)',
    },
    {
      name: 'a GPU that is not activated',
      change: (f) => {
        f.nodeAttestation!.status!.gpus![0]!.activated = false;
      },
      expected: 'target.name: node "gpu-1" has no current attestation for GPU pods (NotActivated: ok)',
    },
    {
      name: 'an attestation against an earlier Manifest',
      change: (f) => {
        f.activeManifest!.status!.hash = 'cd'.repeat(32);
      },
      expected: `target.name: node "gpu-1" has no current attestation for GPU pods (ManifestChanged: attested against Manifest ${MANIFEST_HASH}, but ${'cd'.repeat(32)} is active)`,
    },
    {
      name: 'no active Manifest',
      change: (f) => {
        f.activeManifest = undefined;
      },
      expected: `target.name: node "gpu-1" has no current attestation for GPU pods (ManifestChanged: attested against Manifest ${MANIFEST_HASH}, but no Manifest is active)`,
    },
    {
      name: 'an expired attestation',
      change: (f) => {
        f.now = new Date('2026-06-01T13:00:00Z');
      },
      expected:
        'target.name: node "gpu-1" has no current attestation for GPU pods (Expired: the attestation expired at 2026-06-01T13:00:00Z)',
    },
    {
      name: 'a binding without a target',
      change: (f) => {
        f.binding.target = { name: '' } as k8s.V1ObjectReference;
      },
      expected: 'target: does not name a node',
    },
    {
      name: 'a binding to something other than a node',
      change: (f) => {
        f.binding.target = { kind: 'Pod', name: 'gpu-1' };
      },
      expected: 'target: does not name a node',
    },
  ];
  for (const c of cases) {
    it(`refuses a GPU pod binding with ${c.name}`, function () {
      const f = clone(facts());
      c.change(f);
      assert.deepEqual(judgeBinding(f).map(formatViolation), [c.expected]);
    });
  }

  it('lets pods without GPUs bind anywhere', function () {
    const f = clone(facts());
    for (const c of f.pod.spec!.containers) delete c.resources;
    f.nodeAttestation = undefined;
    f.activeManifest = undefined as Manifest | undefined;
    assert.deepEqual(judgeBinding(f), []);
  });

  it('lets a pod-CVM AI worker pod bind to any node, and every GPU pod while the Manifest enables only the pod-CVM model', function () {
    const podCvm = clone(facts());
    podCvm.nodeAttestation = undefined;
    podCvm.pod.metadata!.labels!['attestor.dev/deployment-model'] = 'pod-cvm';
    assert.equal(judgeBinding(podCvm).length, 1, 'the Manifest enables no pod-CVM model: the label exempts nothing');
    podCvm.activeManifest!.spec.referenceValues.snp!.push({
      ...podCvm.activeManifest!.spec.referenceValues.snp![0]!,
      measurements: ['cd'.repeat(48)],
      role: 'pod',
    });
    assert.deepEqual(judgeBinding(podCvm), [], 'under a Manifest with pod entries its own evidence gates it');
    const onlyPods = clone(facts());
    onlyPods.nodeAttestation = undefined;
    onlyPods.activeManifest!.spec.referenceValues.snp![0]!.role = 'pod';
    assert.deepEqual(judgeBinding(onlyPods), [], 'no node is gated under a pod-CVM Manifest');
    const none = clone(facts());
    none.nodeAttestation = undefined;
    none.activeManifest = undefined as Manifest | undefined;
    assert.equal(judgeBinding(none).length, 1, 'with no Manifest active, nodes stay gated');
  });

  it('judges the binding of a pod that asks for a MIG slice or a DRA claim like any GPU pod (item 15)', function () {
    const mig = clone(facts());
    mig.pod.spec!.containers = [
      { name: 'server', image: 'x@sha256:' + '0'.repeat(64), resources: { limits: { 'nvidia.com/mig-1g.10gb': '1' } } },
    ];
    mig.nodeAttestation = undefined;
    assert.equal(judgeBinding(mig).length, 1);
    const claim = clone(facts());
    for (const c of claim.pod.spec!.containers) delete c.resources;
    claim.pod.spec!.resourceClaims = [{ name: 'gpu', resourceClaimTemplateName: 'single-gpu' }];
    claim.nodeAttestation = undefined;
    assert.equal(judgeBinding(claim).length, 1);
  });
});

describe('webhook nodeName rule (issue 7 item 12)', function () {
  function nodeNameFacts(): NodeNameFacts {
    const p = pod();
    p.spec!.nodeName = 'gpu-1';
    return { pod: p, oldPod: undefined, nodeAttestation: nodeAttestation(), activeManifest: manifest(), now: NOW };
  }

  it('lets a GPU pod be created on a node with a current attestation', function () {
    assert.deepEqual(judgeNodeName(nodeNameFacts()), []);
  });

  it('refuses a GPU pod created with spec.nodeName of a node without a current attestation', function () {
    const f = nodeNameFacts();
    f.nodeAttestation = undefined;
    assert.deepEqual(judgeNodeName(f).map(formatViolation), [
      'spec.nodeName: node "gpu-1" has no current attestation for GPU pods (NoAttestation: the node has not submitted evidence)',
    ]);
    const expired = nodeNameFacts();
    expired.now = new Date('2026-06-01T13:00:00Z');
    assert.deepEqual(
      judgeNodeName(expired).map((v) => v.field),
      ['spec.nodeName'],
    );
  });

  it('refuses an update that sets spec.nodeName to a node without a current attestation', function () {
    const f = nodeNameFacts();
    f.oldPod = pod();
    f.nodeAttestation = undefined;
    assert.deepEqual(
      judgeNodeName(f).map((v) => v.field),
      ['spec.nodeName'],
    );
    f.oldPod.spec!.nodeName = 'gpu-2';
    assert.deepEqual(
      judgeNodeName(f).map((v) => v.field),
      ['spec.nodeName'],
      'a changed node is judged too',
    );
  });

  it('leaves alone pods without a nodeName, pods without GPUs, and updates that keep the node', function () {
    const unplaced = nodeNameFacts();
    delete unplaced.pod.spec!.nodeName;
    unplaced.nodeAttestation = undefined;
    assert.deepEqual(judgeNodeName(unplaced), []);
    const cpu = nodeNameFacts();
    for (const c of cpu.pod.spec!.containers) delete c.resources;
    cpu.nodeAttestation = undefined;
    assert.deepEqual(judgeNodeName(cpu), []);
    // A pod bound earlier keeps its node through later updates, even after the node lost its attestation.
    const bound = nodeNameFacts();
    bound.oldPod = clone(bound.pod);
    bound.nodeAttestation = undefined;
    assert.deepEqual(judgeNodeName(bound), []);
  });
});
