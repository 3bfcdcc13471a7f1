// Issue 7 item 16: namespaces that hold AIWorkers carry attestor.dev/ai-workers=true (the binding
// webhook's scope); the mark comes back when removed and goes when the last AIWorker does.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { namespaceMarkPatch } from '../../../src/controllers/aiworker/namespace-mark.ts';

const namespace = (labels?: Record<string, string>, deleting = false): k8s.V1Namespace => ({
  metadata: {
    name: 'inference',
    labels: { 'kubernetes.io/metadata.name': 'inference', ...labels },
    ...(deleting ? { deletionTimestamp: new Date('2026-06-01T12:00:00Z') } : {}),
  },
});

describe('AIWorker namespace mark', function () {
  it('marks a namespace that holds an AIWorker, also one the cache has not seen yet', function () {
    assert.deepEqual(namespaceMarkPatch(namespace(), true), {
      metadata: { labels: { 'attestor.dev/ai-workers': 'true' } },
    });
    assert.deepEqual(namespaceMarkPatch(undefined, true), {
      metadata: { labels: { 'attestor.dev/ai-workers': 'true' } },
    });
  });

  it('marks it again when someone removed the mark or changed its value', function () {
    assert.deepEqual(namespaceMarkPatch(namespace({ 'attestor.dev/ai-workers': 'false' }), true), {
      metadata: { labels: { 'attestor.dev/ai-workers': 'true' } },
    });
  });

  it('unmarks a namespace whose last AIWorker is gone', function () {
    assert.deepEqual(namespaceMarkPatch(namespace({ 'attestor.dev/ai-workers': 'true' }), false), {
      metadata: { labels: { 'attestor.dev/ai-workers': null } },
    });
  });

  it('leaves a namespace alone when the mark is right, when it is unknown and empty, or on its way out', function () {
    assert.equal(namespaceMarkPatch(namespace({ 'attestor.dev/ai-workers': 'true' }), true), undefined);
    assert.equal(namespaceMarkPatch(namespace(), false), undefined);
    assert.equal(namespaceMarkPatch(undefined, false), undefined);
    assert.equal(namespaceMarkPatch(namespace({}, true), true), undefined);
  });
});
