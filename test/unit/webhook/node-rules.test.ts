// The node rule: only the operator's identities may open a node to AI workers (set the
// gpu-attested label, lift the unattested taint); anyone may close one.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { judgeNodeChange, type NodeChange } from '../../../src/webhook/node-rules.ts';
import { formatViolation, type Operation } from '../../../src/webhook/review.ts';
import { clone, node, OPERATOR } from './fixtures.ts';

const TAINT = { key: 'attestor.dev/unattested', value: 'true', effect: 'NoSchedule' };

/** A gated node (tainted, not labelled) and the same node after `change`. */
function update(change: (n: k8s.V1Node) => void, username = 'alice'): NodeChange {
  const oldNode = clone(node());
  delete oldNode.metadata!.labels!['attestor.dev/gpu-attested'];
  oldNode.spec!.taints!.push({ ...TAINT });
  const updated = clone(oldNode);
  change(updated);
  return { operation: 'UPDATE' as Operation, node: updated, oldNode, username, operatorUsernames: [OPERATOR] };
}

describe('webhook node rule', function () {
  const refused: Array<{ name: string; change: NodeChange; expected: string[] }> = [
    {
      name: 'setting the label',
      change: update((n) => { n.metadata!.labels!['attestor.dev/gpu-attested'] = 'true'; }),
      expected: ['metadata.labels[attestor.dev/gpu-attested]: only the attestor operator may set this label (set to "true" by "alice")'],
    },
    {
      name: 'lifting the taint',
      change: update((n) => { n.spec!.taints = n.spec!.taints!.filter((t) => t.key !== TAINT.key); }),
      expected: ['spec.taints: only the attestor operator may lift the attestor.dev/unattested:NoSchedule taint (lifted by "alice")'],
    },
    {
      name: 'weakening the taint to PreferNoSchedule',
      change: update((n) => { n.spec!.taints = [{ ...TAINT, effect: 'PreferNoSchedule' }]; }),
      expected: ['spec.taints: only the attestor operator may lift the attestor.dev/unattested:NoSchedule taint (lifted by "alice")'],
    },
    {
      name: 'both at once, each listed',
      change: update((n) => {
        n.metadata!.labels!['attestor.dev/gpu-attested'] = 'true';
        delete n.spec!.taints;
      }),
      expected: [
        'metadata.labels[attestor.dev/gpu-attested]: only the attestor operator may set this label (set to "true" by "alice")',
        'spec.taints: only the attestor operator may lift the attestor.dev/unattested:NoSchedule taint (lifted by "alice")',
      ],
    },
    {
      name: 'changing the label from another value to true',
      change: (() => {
        const c = update((n) => { n.metadata!.labels!['attestor.dev/gpu-attested'] = 'true'; });
        c.oldNode!.metadata!.labels!['attestor.dev/gpu-attested'] = 'false';
        return c;
      })(),
      expected: ['metadata.labels[attestor.dev/gpu-attested]: only the attestor operator may set this label (set to "true" by "alice")'],
    },
    {
      name: 'creating a node with the label',
      change: { operation: 'CREATE', node: node(), username: 'system:node:gpu-1', operatorUsernames: [OPERATOR] },
      expected: ['metadata.labels[attestor.dev/gpu-attested]: only the attestor operator may set this label (set to "true" by "system:node:gpu-1")'],
    },
    {
      name: 'an anonymous request',
      change: { ...update((n) => { n.metadata!.labels!['attestor.dev/gpu-attested'] = 'true'; }), username: undefined },
      expected: ['metadata.labels[attestor.dev/gpu-attested]: only the attestor operator may set this label (set to "true" by "(anonymous)")'],
    },
  ];
  for (const c of refused) {
    it(`refuses a non-operator ${c.name}`, function () {
      assert.deepEqual(judgeNodeChange(c.change).map(formatViolation), c.expected);
    });
    it(`lets the operator do it: ${c.name}`, function () {
      assert.deepEqual(judgeNodeChange({ ...c.change, username: OPERATOR }), []);
    });
  }

  const allowedChanges: Array<{ name: string; change: NodeChange }> = [
    { name: 'removing the label', change: (() => { const c = update(() => {}); c.oldNode!.metadata!.labels!['attestor.dev/gpu-attested'] = 'true'; return c; })() },
    { name: 'adding the taint', change: (() => { const c = update(() => {}); c.oldNode!.spec!.taints = []; return c; })() },
    { name: 'changing other labels and taints', change: update((n) => { n.metadata!.labels!.zone = 'a'; n.spec!.taints!.shift(); }) },
    { name: 'changing the taint value but keeping its effect', change: update((n) => { n.spec!.taints!.find((t) => t.key === TAINT.key)!.value = 'yes'; }) },
    { name: 'leaving a labelled node labelled', change: (() => { const c = update((n) => { n.metadata!.labels!.zone = 'b'; }); c.oldNode!.metadata!.labels!['attestor.dev/gpu-attested'] = 'true'; c.node.metadata!.labels!['attestor.dev/gpu-attested'] = 'true'; return c; })() },
    { name: 'creating a node without the label', change: { operation: 'CREATE', node: (() => { const n = node(); delete n.metadata!.labels!['attestor.dev/gpu-attested']; return n; })(), username: 'system:node:gpu-1', operatorUsernames: [OPERATOR] } },
  ];
  for (const c of allowedChanges) {
    it(`lets anyone: ${c.name}`, function () {
      assert.deepEqual(judgeNodeChange(c.change), []);
    });
  }
});
