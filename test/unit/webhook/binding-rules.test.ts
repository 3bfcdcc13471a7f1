// The binding rule: a GPU pod may be bound only to a node whose attestation is current for the
// active Manifest. One valid binding, one change per case.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../../src/api/manifest.ts';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import { judgeBinding, type BindingFacts } from '../../../src/webhook/binding-rules.ts';
import { formatViolation } from '../../../src/webhook/review.ts';
import { binding, clone, manifest, MANIFEST_HASH, nodeAttestation, NOW, pod } from './fixtures.ts';

function facts(): BindingFacts {
  return { binding: binding(), pod: pod(), nodeAttestation: nodeAttestation(), activeManifest: manifest(), now: NOW };
}

describe('webhook binding rule', function () {
  it('lets a GPU pod bind to a node with a current attestation', function () {
    assert.deepEqual(judgeBinding(facts()), []);
  });

  const cases: Array<{ name: string; change: (f: BindingFacts & { nodeAttestation: NodeAttestation | undefined }) => void; expected: string }> = [
    { name: 'no NodeAttestation', change: (f) => { f.nodeAttestation = undefined; }, expected: 'target.name: node "gpu-1" has no current attestation for GPU pods (NoAttestation: the node has not submitted evidence)' },
    {
      name: 'a refused attestation',
      change: (f) => { f.nodeAttestation!.status!.conditions![0] = { ...f.nodeAttestation!.status!.conditions![0]!, status: 'False', message: 'measurement not allowed' }; },
      expected: 'target.name: node "gpu-1" has no current attestation for GPU pods (NotAttested: measurement not allowed)',
    },
    {
      name: 'a GPU that is not activated',
      change: (f) => { f.nodeAttestation!.status!.gpus![0]!.activated = false; },
      expected: 'target.name: node "gpu-1" has no current attestation for GPU pods (NotActivated: ok)',
    },
    {
      name: 'an attestation against an earlier Manifest',
      change: (f) => { f.activeManifest!.status!.hash = 'cd'.repeat(32); },
      expected: `target.name: node "gpu-1" has no current attestation for GPU pods (ManifestChanged: attested against Manifest ${MANIFEST_HASH}, but ${'cd'.repeat(32)} is active)`,
    },
    {
      name: 'no active Manifest',
      change: (f) => { f.activeManifest = undefined; },
      expected: `target.name: node "gpu-1" has no current attestation for GPU pods (ManifestChanged: attested against Manifest ${MANIFEST_HASH}, but no Manifest is active)`,
    },
    {
      name: 'an expired attestation',
      change: (f) => { f.now = new Date('2026-06-01T13:00:00Z'); },
      expected: 'target.name: node "gpu-1" has no current attestation for GPU pods (Expired: the attestation expired at 2026-06-01T13:00:00Z)',
    },
    { name: 'a binding without a target', change: (f) => { f.binding.target = { name: '' } as k8s.V1ObjectReference; }, expected: 'target: does not name a node' },
    { name: 'a binding to something other than a node', change: (f) => { f.binding.target = { kind: 'Pod', name: 'gpu-1' }; }, expected: 'target: does not name a node' },
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
});
