// Which nodes are GPU nodes (closed until they attest): device-plugin GPUs, MIG instances, NVIDIA DRA ResourceSlices and the
// platform label make a GPU node; the GPU count is the most any source claims.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { type GpuResourceSlice, gpuNode } from '../../../src/api/gpu-node.ts';

const node = (capacity: Record<string, string> = {}, labels: Record<string, string> = {}): k8s.V1Node => ({
  metadata: { name: 'n1', labels },
  status: { capacity, allocatable: capacity },
});
const gpu = (i: number) => ({
  name: `gpu-${i}`,
  attributes: { type: { string: 'gpu' }, uuid: { string: `GPU-${i}` } },
});
const mig = (parent: number, i: number) => ({
  name: `gpu-${parent}-mig-${i}`,
  attributes: {
    type: { string: 'mig' },
    uuid: { string: `MIG-${parent}-${i}` },
    parentUUID: { string: `GPU-${parent}` },
  },
});
const slice = (
  devices: GpuResourceSlice['spec']['devices'],
  more: Partial<GpuResourceSlice['spec']> = {},
): GpuResourceSlice => ({ spec: { driver: 'gpu.nvidia.com', nodeName: 'n1', devices, ...more } });

describe('GPU nodes (gpuNode)', function () {
  it('counts nvidia.com/gpu capacity', function () {
    assert.deepEqual(gpuNode(node({ cpu: '64', 'nvidia.com/gpu': '8' })), {
      gpuNode: true,
      gpus: 8,
      sources: ['capacity nvidia.com/gpu=8'],
    });
  });

  it('is not a GPU node with no GPU resources, zero GPUs, or only an unrelated DRA driver', function () {
    assert.equal(gpuNode(node({ cpu: '64' })).gpuNode, false);
    assert.equal(gpuNode(node({ 'nvidia.com/gpu': '0' })).gpuNode, false);
    assert.equal(gpuNode(node(), [slice([gpu(0)], { driver: 'compute-domain.nvidia.com' })]).gpuNode, false);
    assert.equal(gpuNode(node(), [slice([gpu(0)], { nodeName: 'other' })]).gpuNode, false, "another node's slice");
    assert.equal(gpuNode(node(), [slice([])]).gpuNode, false, 'a slice without devices');
    assert.equal(
      gpuNode(node({}, { 'nvidia.com/gpu.count': '8' })).gpuNode,
      false,
      "GPU Feature Discovery's label alone schedules nothing",
    );
  });

  it("counts a node with MIG resources only as a GPU node (mixed strategy), counting GPUs by GPU Feature Discovery's label", function () {
    assert.deepEqual(gpuNode(node({ 'nvidia.com/mig-1g.10gb': '7', 'nvidia.com/mig-3g.40gb': '2' })), {
      gpuNode: true,
      gpus: 0,
      sources: ['capacity nvidia.com/mig-1g.10gb=7', 'capacity nvidia.com/mig-3g.40gb=2'],
    });
    assert.equal(gpuNode(node({ 'nvidia.com/mig-1g.10gb': '7' }, { 'nvidia.com/gpu.count': '2' })).gpus, 2);
  });

  it('counts a DRA-only node that publishes NVIDIA GPU ResourceSlices as a GPU node, counting physical GPUs', function () {
    const facts = gpuNode(node({ cpu: '64' }), [
      slice([gpu(0), gpu(1)]),
      slice([mig(2, 0), mig(2, 1), mig(3, 0)]),
      slice([gpu(9)], { nodeName: 'other' }),
    ]);
    assert.deepEqual(facts, { gpuNode: true, gpus: 4, sources: ['ResourceSlice gpu.nvidia.com: 4 GPUs'] });
  });

  it('counts devices without a uuid attribute one each (a driver that names devices only)', function () {
    assert.equal(gpuNode(node(), [slice([{ name: 'a' }, { name: 'b' }])]).gpus, 2);
  });

  it('takes the most GPUs any source claims (the evidence must cover them all)', function () {
    assert.equal(
      gpuNode(node({ 'nvidia.com/gpu': '4' }), [slice([gpu(0), gpu(1), gpu(2), gpu(3), gpu(4), gpu(5)])]).gpus,
      6,
    );
    assert.equal(gpuNode(node({ 'nvidia.com/gpu': '8' }, { 'nvidia.com/gpu.count': '4' })).gpus, 8);
  });

  it('counts a node with a GPU quantity that does not read as a count as a GPU node, and one with the platform label', function () {
    assert.deepEqual(gpuNode(node({ 'nvidia.com/gpu': 'lots' })), {
      gpuNode: true,
      gpus: 0,
      sources: ['capacity nvidia.com/gpu=lots'],
    });
    assert.deepEqual(gpuNode(node({}, { 'attestor.dev/gpu-node': 'true' })), {
      gpuNode: true,
      gpus: 0,
      sources: ['label attestor.dev/gpu-node=true'],
    });
  });

  it('takes other DRA driver names when given', function () {
    assert.equal(gpuNode(node(), [slice([gpu(0)], { driver: 'gpu.example.com' })], ['gpu.example.com']).gpuNode, true);
  });
});
