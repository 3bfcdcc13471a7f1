// Issue 7 item 15: which pods want GPUs. Whole GPUs, MIG slices, DRA device classes requested as
// extended resources and every DRA resource claim count; the prefixes are configurable and
// checked, because they go into the webhooks' CEL verbatim. The CEL form is checked against this
// function on the real API server (test/cluster/webhook.test.ts).
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import {
  celPrefixList,
  DEFAULT_GPU_RESOURCE_PREFIXES,
  gpuRequestCel,
  parseGpuResourcePrefixes,
  requestsGpus,
} from '../../../src/webhook/gpu-requests.ts';
import { clone, pod } from './fixtures.ts';

/** The fixture without any GPU request: one change per case makes it want GPUs (or not). */
function cpuPod(): k8s.V1Pod {
  const p = clone(pod());
  for (const c of p.spec!.containers) delete c.resources;
  return p;
}

describe('webhook GPU requests', function () {
  it('counts nothing on a pod without GPU resources or claims', function () {
    assert.equal(requestsGpus(cpuPod()), false);
  });

  const cases: Array<{ name: string; change: (p: k8s.V1Pod) => void; expected: boolean }> = [
    {
      name: 'a whole GPU',
      change: (p) => {
        p.spec!.containers[0]!.resources = { limits: { 'nvidia.com/gpu': '1' } };
      },
      expected: true,
    },
    {
      name: 'a renamed shared GPU (time slicing)',
      change: (p) => {
        p.spec!.containers[0]!.resources = { limits: { 'nvidia.com/gpu.shared': '1' } };
      },
      expected: true,
    },
    {
      name: 'a MIG slice',
      change: (p) => {
        p.spec!.containers[1]!.resources = { limits: { 'nvidia.com/mig-1g.10gb': '1' } };
      },
      expected: true,
    },
    {
      name: 'a MIG slice requested by an init container',
      change: (p) => {
        p.spec!.initContainers![0]!.resources = { requests: { 'nvidia.com/mig-3g.40gb': '2' } };
      },
      expected: true,
    },
    {
      name: 'a DRA device class as an extended resource',
      change: (p) => {
        p.spec!.containers[0]!.resources = { limits: { 'deviceclass.resource.kubernetes.io/gpu.nvidia.com': '1' } };
      },
      expected: true,
    },
    {
      name: 'a pod-level resource claim (DRA)',
      change: (p) => {
        p.spec!.resourceClaims = [{ name: 'gpu', resourceClaimTemplateName: 'single-gpu' }];
      },
      expected: true,
    },
    {
      name: 'a container claim (DRA)',
      change: (p) => {
        p.spec!.containers[0]!.resources = { claims: [{ name: 'gpu' }] };
      },
      expected: true,
    },
    {
      name: 'a pod-level GPU limit',
      change: (p) => {
        p.spec!.resources = { limits: { 'nvidia.com/gpu': '1' } };
      },
      expected: true,
    },
    {
      name: 'zero MIG slices',
      change: (p) => {
        p.spec!.containers[0]!.resources = { limits: { 'nvidia.com/mig-1g.10gb': '0' } };
      },
      expected: false,
    },
    {
      name: 'an empty list of resource claims',
      change: (p) => {
        p.spec!.resourceClaims = [];
      },
      expected: false,
    },
    {
      name: "another vendor's accelerator",
      change: (p) => {
        p.spec!.containers[0]!.resources = { limits: { 'amd.com/gpu': '1' } };
      },
      expected: false,
    },
    {
      name: 'a name that only contains a prefix',
      change: (p) => {
        p.spec!.containers[0]!.resources = { limits: { 'example.com/nvidia.com/gpu': '1' } as Record<string, string> };
      },
      expected: false,
    },
  ];
  for (const c of cases) {
    it(`${c.expected ? 'counts' : 'does not count'} ${c.name}`, function () {
      const p = cpuPod();
      c.change(p);
      assert.equal(requestsGpus(p), c.expected);
    });
  }

  it('counts what the configured prefixes name, and only that', function () {
    const p = cpuPod();
    p.spec!.containers[0]!.resources = { limits: { 'amd.com/gpu': '1' } };
    assert.equal(requestsGpus(p, ['amd.com/gpu']), true);
    const mig = cpuPod();
    mig.spec!.containers[0]!.resources = { limits: { 'nvidia.com/mig-1g.10gb': '1' } };
    assert.equal(requestsGpus(mig, ['nvidia.com/gpu']), false);
    // A claim counts whatever the prefixes: admission cannot see the claim's device class.
    const claim = cpuPod();
    claim.spec!.resourceClaims = [{ name: 'x', resourceClaimName: 'nic' }];
    assert.equal(requestsGpus(claim, ['amd.com/gpu']), true);
  });

  it('parses the --gpu-resource-prefixes list and refuses what is not a resource-name prefix', function () {
    assert.deepEqual(parseGpuResourcePrefixes('nvidia.com/gpu, nvidia.com/mig-,'), [
      'nvidia.com/gpu',
      'nvidia.com/mig-',
    ]);
    assert.deepEqual(parseGpuResourcePrefixes(DEFAULT_GPU_RESOURCE_PREFIXES.join(',')), [
      ...DEFAULT_GPU_RESOURCE_PREFIXES,
    ]);
    for (const bad of ['', ' , ', 'gpu', 'nvidia.com/"gpu', "nvidia.com/g'pu", 'nvidia.com/gpu p', 'Nvidia.com/gpu']) {
      assert.throws(() => parseGpuResourcePrefixes(bad), /prefix/, bad);
    }
  });

  it("puts the prefixes into the CEL expression as one JSON list (what Helm's toJson renders)", function () {
    assert.equal(celPrefixList(['nvidia.com/gpu', 'nvidia.com/mig-']), '["nvidia.com/gpu","nvidia.com/mig-"]');
    assert.throws(() => celPrefixList(['nvidia.com/gpu") || true || ("']), /not a resource-name prefix/);
    const cel = gpuRequestCel(['amd.com/gpu']);
    assert.ok(cel.includes('["amd.com/gpu"].exists(p, n.startsWith(p))'), cel);
    assert.ok(!cel.includes('nvidia.com'), cel);
    assert.match(gpuRequestCel(), /object\.spec\.resourceClaims/);
  });
});
