import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import { attestationState } from '../../../src/api/node-gating.ts';
import { gatingChange, isGpuNode } from '../../../src/controllers/node-gating/gating.ts';

const now = new Date('2026-01-01T12:00:00Z');
const HASH = 'a'.repeat(64);

function attestation(change: (s: NonNullable<NodeAttestation['status']>) => void = () => {}): NodeAttestation {
  const status: NonNullable<NodeAttestation['status']> = {
    manifestHash: HASH,
    expiresAt: '2026-01-01T13:00:00Z',
    gpus: [{ uuid: 'GPU-0', verified: true, activated: true }],
    conditions: [
      { type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: '2026-01-01T11:00:00Z' },
      { type: 'GPUsActivated', status: 'True', reason: 'Activated', message: '', lastTransitionTime: '2026-01-01T11:00:00Z' },
    ],
  };
  change(status);
  return { apiVersion: 'attestor.dev/v1alpha1', kind: 'NodeAttestation', metadata: { name: 'n' }, status };
}

describe('attestation state (node gating contract)', () => {
  it('is current for a verified, activated, unexpired attestation against the active Manifest', () => {
    assert.deepEqual(attestationState(attestation(), HASH, now), { current: true });
  });
  const cases: Array<[string, NodeAttestation | undefined, string | undefined, string]> = [
    ['no NodeAttestation', undefined, HASH, 'NoAttestation'],
    ['refused evidence', attestation((s) => (s.conditions![0]!.status = 'False')), HASH, 'NotAttested'],
    ['GPUs not activated', attestation((s) => (s.conditions![1]!.status = 'False')), HASH, 'NotActivated'],
    ['a GPU not activated', attestation((s) => (s.gpus![0]!.activated = false)), HASH, 'NotActivated'],
    ['no GPUs at all', attestation((s) => (s.gpus = [])), HASH, 'NotActivated'],
    ['another Manifest active', attestation(), 'b'.repeat(64), 'ManifestChanged'],
    ['no Manifest active', attestation(), undefined, 'ManifestChanged'],
    ['expired', attestation((s) => (s.expiresAt = '2026-01-01T12:00:00Z')), HASH, 'Expired'],
    ['an unreadable expiry', attestation((s) => (s.expiresAt = 'soon')), HASH, 'Expired'],
  ];
  for (const [name, na, hash, reason] of cases) {
    it(`is not current with ${name} (${reason})`, () => {
      const state = attestationState(na, hash, now);
      assert.equal(state.current, false);
      assert.equal((state as { reason: string }).reason, reason);
    });
  }
});

describe('gating change', () => {
  const node = (labels: Record<string, string>, taints: k8s.V1Taint[] = [], gpus = '8'): k8s.V1Node => ({ metadata: { name: 'n', labels }, spec: { taints }, status: { capacity: { 'nvidia.com/gpu': gpus } } });
  const taint = { key: 'attestor.dev/unattested', value: 'true', effect: 'NoSchedule' };
  it('labels and untaints a node whose attestation is current, keeping other taints', () => {
    const other = { key: 'dedicated', value: 'ai', effect: 'NoSchedule' };
    assert.deepEqual(gatingChange(node({}, [taint, other]), { current: true }), { label: 'true', taints: [other] });
  });
  it('removes the label and taints a node that is not current', () => {
    assert.deepEqual(gatingChange(node({ 'attestor.dev/gpu-attested': 'true' }), { current: false, reason: 'Expired', message: '' }), { label: null, taints: [taint] });
  });
  it('does nothing when the node already matches', () => {
    assert.equal(gatingChange(node({ 'attestor.dev/gpu-attested': 'true' }), { current: true }), undefined);
    assert.equal(gatingChange(node({}, [taint]), { current: false, reason: 'NoAttestation', message: '' }), undefined);
  });
  it('treats nodes with GPU capacity or the gpu-node label as GPU nodes', () => {
    assert.equal(isGpuNode(node({})), true);
    assert.equal(isGpuNode(node({}, [], '0')), false);
    assert.equal(isGpuNode(node({ 'attestor.dev/gpu-node': 'true' }, [], '0')), true);
  });
});
