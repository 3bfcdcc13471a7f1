import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import {
  APPLIED_HASH_ANNOTATION,
  hasOwnedFields,
  sameQuantity,
  withAppliedHash,
} from '../../../src/controllers/owned-fields.ts';

describe('owned fields (compare before writing)', () => {
  const desired = {
    metadata: { name: 'w', labels: { app: 'w' } },
    spec: {
      replicas: 2,
      template: {
        spec: {
          containers: [{ name: 'server', image: 'i', resources: { requests: { cpu: '1000m', memory: '1Gi' } } }],
        },
      },
    },
  } as unknown as k8s.V1Deployment;
  const held = {
    metadata: { name: 'w', labels: { app: 'w', other: 'x' }, resourceVersion: '7', creationTimestamp: new Date(0) },
    spec: {
      replicas: 2,
      progressDeadlineSeconds: 600,
      template: {
        spec: {
          containers: [
            {
              name: 'server',
              image: 'i',
              imagePullPolicy: 'IfNotPresent',
              resources: { requests: { cpu: '1', memory: '1024Mi' } },
            },
          ],
        },
      },
    },
    status: { replicas: 2 },
  };

  it('holds an object whose server defaults, other fields and canonical quantities differ only', () => {
    assert.equal(hasOwnedFields(held, desired), true);
  });
  it('does not hold an object where a field the operator sets has another value', () => {
    assert.equal(hasOwnedFields({ ...held, spec: { ...held.spec, replicas: 0 } }, desired), false);
    const edited = structuredClone(held);
    edited.spec.template.spec.containers[0]!.image = 'other';
    assert.equal(hasOwnedFields(edited, desired), false);
  });
  it('does not hold an object whose lists have another length', () => {
    const extra = structuredClone(held);
    extra.spec.template.spec.containers.push({ ...extra.spec.template.spec.containers[0]!, name: 'sidecar' });
    assert.equal(hasOwnedFields(extra, desired), false);
  });
  it('does not hold a missing object or a missing field', () => {
    assert.equal(hasOwnedFields(undefined, desired), false);
    assert.equal(hasOwnedFields({ metadata: held.metadata }, desired), false);
  });
  it('compares quantities by value only inside requests and limits', () => {
    assert.equal(sameQuantity('1000m', '1'), true);
    assert.equal(sameQuantity('1Gi', '1024Mi'), true);
    assert.equal(sameQuantity('1G', '1Gi'), false);
    assert.equal(sameQuantity('abc', 'abc1'), false);
    assert.equal(hasOwnedFields({ env: '1' }, { env: '1.0' }), false);
  });
  it('marks a desired object with the hash of its content, so a field it no longer sets differs', () => {
    const a = withAppliedHash(desired);
    const b = withAppliedHash<k8s.V1Deployment>({ ...desired, metadata: { name: 'w', labels: {} } });
    const hashOf = (o: k8s.V1Deployment) => String(o.metadata?.annotations?.[APPLIED_HASH_ANNOTATION]);
    assert.match(hashOf(a), /^[0-9a-f]{32}$/);
    assert.notEqual(hashOf(a), hashOf(b));
    assert.equal(hasOwnedFields(a, b), false);
    assert.equal(hasOwnedFields(a, withAppliedHash(desired)), true);
  });
});
