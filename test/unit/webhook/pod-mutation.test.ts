// The GPU pod mutation: a JSON patch that selects attested nodes, whether or not the pod has a
// nodeSelector, escaped as a JSON pointer, idempotent, and applied here to check what it does.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { requestsGpus } from '../../../src/webhook/gpu-requests.ts';
import { escapePointerToken, type JsonPatchOperation } from '../../../src/webhook/json-patch.ts';
import { gpuNodeSelectorPatch } from '../../../src/webhook/pod-mutation.ts';
import { clone, manifest, pod } from './fixtures.ts';

/** Applies "add" operations the way the API server does (enough for these patches). */
function apply(p: k8s.V1Pod, patch: JsonPatchOperation[]): k8s.V1Pod {
  const out = clone(p) as unknown as Record<string, unknown>;
  for (const op of patch) {
    assert.equal(op.op, 'add');
    const tokens = op.path
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    let target = out;
    for (const t of tokens.slice(0, -1)) target = target[t] as Record<string, unknown>;
    assert.ok(target && typeof target === 'object', `parent of ${op.path} exists`);
    target[tokens.at(-1)!] = (op as { value: unknown }).value;
  }
  return out as unknown as k8s.V1Pod;
}

describe('webhook GPU pod mutation', function () {
  it('adds a nodeSelector to a GPU pod that has none', function () {
    const patch = gpuNodeSelectorPatch(pod(), manifest());
    assert.deepEqual(patch, [
      { op: 'add', path: '/spec/nodeSelector', value: { 'attestor.dev/gpu-attested': 'true' } },
    ]);
    assert.deepEqual(apply(pod(), patch).spec!.nodeSelector, { 'attestor.dev/gpu-attested': 'true' });
  });

  it('adds the label to an existing nodeSelector, escaping "/" as ~1', function () {
    const p = clone(pod());
    p.spec!.nodeSelector = { 'topology.kubernetes.io/zone': 'a' };
    const patch = gpuNodeSelectorPatch(p, manifest());
    assert.deepEqual(patch, [{ op: 'add', path: '/spec/nodeSelector/attestor.dev~1gpu-attested', value: 'true' }]);
    assert.deepEqual(apply(p, patch).spec!.nodeSelector, {
      'topology.kubernetes.io/zone': 'a',
      'attestor.dev/gpu-attested': 'true',
    });
  });

  it('overrides a pod that selects unattested nodes', function () {
    const p = clone(pod());
    p.spec!.nodeSelector = { 'attestor.dev/gpu-attested': 'false' };
    assert.deepEqual(apply(p, gpuNodeSelectorPatch(p, manifest())).spec!.nodeSelector, {
      'attestor.dev/gpu-attested': 'true',
    });
  });

  it('is idempotent: a pod already selecting attested nodes gets no patch', function () {
    const once = apply(pod(), gpuNodeSelectorPatch(pod(), manifest()));
    assert.deepEqual(gpuNodeSelectorPatch(once, manifest()), []);
  });

  it('leaves pods without GPUs alone', function () {
    const p = clone(pod());
    for (const c of p.spec!.containers) delete c.resources;
    assert.deepEqual(gpuNodeSelectorPatch(p, manifest()), []);
  });

  const gpuCases: Array<{
    name: string;
    resources: k8s.V1ResourceRequirements | undefined;
    init?: boolean;
    expected: boolean;
  }> = [
    { name: 'a limit only', resources: { limits: { 'nvidia.com/gpu': '2' } }, expected: true },
    { name: 'a request only', resources: { requests: { 'nvidia.com/gpu': '1' } }, expected: true },
    { name: 'an init container request', resources: { limits: { 'nvidia.com/gpu': '1' } }, init: true, expected: true },
    { name: 'zero GPUs', resources: { limits: { 'nvidia.com/gpu': '0' } }, expected: false },
    {
      name: 'an unreadable quantity (counts as a request)',
      resources: { limits: { 'nvidia.com/gpu': 'lots' } },
      expected: true,
    },
    { name: 'other resources only', resources: { limits: { cpu: '2', 'example.com/fpga': '1' } }, expected: false },
  ];
  for (const c of gpuCases) {
    it(`reads GPU requests: ${c.name}`, function () {
      const p = clone(pod());
      for (const container of p.spec!.containers) delete container.resources;
      (c.init ? p.spec!.initContainers![0]! : p.spec!.containers[0]!).resources = c.resources;
      assert.equal(requestsGpus(p), c.expected);
    });
  }

  it('selects attested nodes for a pod with a MIG slice or a resource claim (item 15)', function () {
    const mig = clone(pod());
    mig.spec!.containers[0]!.resources = { limits: { 'nvidia.com/mig-1g.10gb': '1' } };
    assert.deepEqual(apply(mig, gpuNodeSelectorPatch(mig, manifest())).spec!.nodeSelector, {
      'attestor.dev/gpu-attested': 'true',
    });
    const claim = clone(pod());
    for (const c of claim.spec!.containers) delete c.resources;
    claim.spec!.resourceClaims = [{ name: 'gpu', resourceClaimTemplateName: 'single-gpu' }];
    assert.deepEqual(apply(claim, gpuNodeSelectorPatch(claim, manifest())).spec!.nodeSelector, {
      'attestor.dev/gpu-attested': 'true',
    });
    assert.deepEqual(gpuNodeSelectorPatch(mig, manifest(), ['nvidia.com/gpu']), [], 'configured prefixes decide');
  });

  it('leaves pod-CVM AI worker pods alone while the Manifest enables that model: their own evidence gates them, not their node', function () {
    const both = manifest();
    both.spec.referenceValues.snp!.push({
      ...both.spec.referenceValues.snp![0]!,
      measurements: ['cd'.repeat(48)],
      role: 'pod',
    });
    const p = clone(pod());
    p.metadata!.labels!['attestor.dev/deployment-model'] = 'pod-cvm';
    assert.deepEqual(gpuNodeSelectorPatch(p, both), []);
    assert.notDeepEqual(
      gpuNodeSelectorPatch(p, manifest()),
      [],
      'under a Manifest without pod entries the label exempts nothing (fail closed)',
    );
    const plain = clone(p);
    delete plain.metadata!.labels!['app.kubernetes.io/name'];
    assert.notDeepEqual(
      gpuNodeSelectorPatch(plain, both),
      [],
      'the label counts only on a pod the pod rules judge (an AI worker pod)',
    );
    p.metadata!.labels!['attestor.dev/deployment-model'] = 'confidential-node';
    assert.notDeepEqual(gpuNodeSelectorPatch(p, both), []);
  });

  it('selects no nodes while the active Manifest enables only the pod-CVM model, and selects attested ones with none active', function () {
    const podCvmOnly = manifest();
    podCvmOnly.spec.referenceValues.snp![0]!.role = 'pod';
    assert.deepEqual(gpuNodeSelectorPatch(pod(), podCvmOnly), []);
    const both = manifest();
    both.spec.referenceValues.snp!.push({
      ...both.spec.referenceValues.snp![0]!,
      measurements: ['cd'.repeat(48)],
      role: 'pod',
    });
    assert.notDeepEqual(gpuNodeSelectorPatch(pod(), both), []);
    assert.notDeepEqual(gpuNodeSelectorPatch(pod(), undefined), [], 'no Manifest: nodes stay gated (fail closed)');
  });

  it('escapes JSON pointer tokens in the RFC 6901 order', function () {
    assert.equal(escapePointerToken('a~/b'), 'a~0~1b');
  });
});
