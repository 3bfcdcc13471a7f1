import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { KATA_POLICY_ANNOTATION, WORKLOAD_CERTIFICATE_ANNOTATION } from '../../../src/api/aiworker-labels.ts';
import { FIELD_MANAGER } from '../../../src/controllers/aiworker/controller.ts';
import {
  deploymentFields,
  namespaceFields,
  nodeFields,
  podFields,
  serviceFields,
  withoutManagedFields,
} from '../../../src/controllers/cache-fields.ts';
import { hasOwnedFields, withAppliedHash } from '../../../src/controllers/owned-fields.ts';

const managedFields = [
  { manager: FIELD_MANAGER, operation: 'Apply', fieldsV1: { 'f:metadata': { 'f:annotations': { 'f:a': {} } } } },
  { manager: 'kube-controller-manager', operation: 'Update', fieldsV1: { 'f:status': {} } },
] as k8s.V1ManagedFieldsEntry[];
const identity = { name: 'x', namespace: 'ns', uid: 'u-1', resourceVersion: '42' };

describe('cache fields (what the informers keep)', () => {
  it('keeps of a pod its identity, labels, the workload certificate, node and conditions: no Kata policy, no containers', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...identity,
        labels: { app: 'w' },
        annotations: { [WORKLOAD_CERTIFICATE_ANNOTATION]: 'pem', [KATA_POLICY_ANNOTATION]: 'cG9saWN5', other: 'y' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'r', uid: 'r' }],
        managedFields,
        deletionTimestamp: new Date(0),
      },
      spec: {
        nodeName: 'gpu-1',
        serviceAccountName: 'default',
        volumes: [{ name: 'v' }],
        containers: [
          { name: 'server', image: 'i', env: [{ name: 'E', value: 'v' }], resources: { limits: { g: '2' } } },
        ],
      },
      status: {
        phase: 'Running',
        podIP: '10.0.0.1',
        containerStatuses: [{ name: 'server' }],
        conditions: [{ type: 'PodScheduled', status: 'True', reason: 'r', lastTransitionTime: new Date(0) }],
      },
    } as unknown as k8s.V1Pod;
    assert.deepEqual(podFields(pod), {
      metadata: {
        ...identity,
        deletionTimestamp: new Date(0),
        labels: { app: 'w' },
        annotations: { [WORKLOAD_CERTIFICATE_ANNOTATION]: 'pem' },
      },
      spec: { nodeName: 'gpu-1', containers: [] },
      status: { phase: 'Running', conditions: [{ type: 'PodScheduled', status: 'True', reason: 'r' }] },
    });
  });

  it('gives a pod without annotations none (no empty map)', () => {
    const pod = { metadata: { ...identity, annotations: { other: 'y' } }, spec: { containers: [] } } as k8s.V1Pod;
    assert.equal(podFields(pod).metadata?.annotations, undefined);
  });

  it('keeps of a node its identity, labels, taints, capacity and allocatable', () => {
    const node = {
      metadata: { ...identity, namespace: undefined, labels: { l: 'v' }, annotations: { a: 'b' }, managedFields },
      spec: { taints: [{ key: 't', effect: 'NoSchedule' }], podCIDR: '10.0.0.0/24', providerID: 'p' },
      status: {
        capacity: { 'nvidia.com/gpu': '8' },
        allocatable: { 'nvidia.com/gpu': '8' },
        images: [{ names: ['big'] }],
        conditions: [{ type: 'Ready', status: 'True' }],
        nodeInfo: { kubeletVersion: 'v1' },
      },
    } as unknown as k8s.V1Node;
    assert.deepEqual(nodeFields(node), {
      metadata: { name: 'x', uid: 'u-1', resourceVersion: '42', labels: { l: 'v' } },
      spec: { taints: [{ key: 't', effect: 'NoSchedule' }] },
      status: { capacity: { 'nvidia.com/gpu': '8' }, allocatable: { 'nvidia.com/gpu': '8' } },
    });
  });

  it('keeps of a Deployment everything the compare-before-write covers, so an unchanged one is not applied again', () => {
    const desired = withAppliedHash({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'x', namespace: 'ns', labels: { app: 'w' } },
      spec: { replicas: 1, selector: {}, template: { spec: { containers: [{ name: 's', image: 'i' }] } } },
    } as k8s.V1Deployment);
    const held = {
      ...desired,
      metadata: { ...desired.metadata, ...identity, managedFields },
      status: { replicas: 1, readyReplicas: 1, conditions: [{ type: 'Available', status: 'True' }] },
    } as k8s.V1Deployment;
    const cached = deploymentFields(held);
    assert.ok(hasOwnedFields(cached, desired));
    assert.equal(cached.metadata?.managedFields, undefined);
    assert.deepEqual(cached.status, { replicas: 1, readyReplicas: 1 });
    // A list's items come without apiVersion and kind (an operator's first list after a start):
    // the cached one still covers the desired Deployment, so a restart applies nothing again.
    const { apiVersion: _v, kind: _k, ...listed } = held;
    assert.ok(hasOwnedFields(deploymentFields(listed as k8s.V1Deployment), desired));
  });

  it("keeps of a Service this operator's Apply entry of managedFields only, and no status", () => {
    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { ...identity, annotations: { a: '1' }, managedFields },
      spec: { type: 'ClusterIP', ports: [{ port: 443 }] },
      status: { loadBalancer: {} },
    } as k8s.V1Service;
    const cached = serviceFields(service);
    assert.deepEqual(cached.metadata?.managedFields, [managedFields[0]]);
    assert.deepEqual(cached.spec, service.spec);
    assert.equal(cached.status, undefined);
    assert.equal(cached.kind, 'Service');
  });

  it('keeps of a namespace its identity and labels', () => {
    const namespace = {
      metadata: {
        name: 'ns',
        uid: 'u',
        resourceVersion: '1',
        labels: { m: 'true' },
        annotations: { a: 'b' },
        managedFields,
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    } as k8s.V1Namespace;
    assert.deepEqual(namespaceFields(namespace), {
      metadata: { name: 'ns', uid: 'u', resourceVersion: '1', labels: { m: 'true' } },
    });
  });

  it('takes only managedFields off the custom resources, and returns an object without them as it is', () => {
    const manifest = { apiVersion: 'a/v1', kind: 'Manifest', metadata: { name: 'm', managedFields }, spec: { s: 1 } };
    assert.deepEqual(withoutManagedFields(manifest), {
      apiVersion: 'a/v1',
      kind: 'Manifest',
      metadata: { name: 'm' },
      spec: { s: 1 },
    });
    const bare = { metadata: { name: 'm' } };
    assert.equal(withoutManagedFields(bare), bare);
  });
});
