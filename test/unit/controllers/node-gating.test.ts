import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../../src/api/manifest.ts';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import { attestationState } from '../../../src/api/node-gating.ts';
import { evictionDecision, manifestActivatedAt, podsToEvict } from '../../../src/controllers/node-gating/eviction.ts';
import { gatingChange } from '../../../src/controllers/node-gating/gating.ts';
import { RolloutProgress } from '../../../src/controllers/node-gating/rollout-progress.ts';

const now = new Date('2026-01-01T12:00:00Z');
const HASH = 'a'.repeat(64);

function attestation(change: (s: NonNullable<NodeAttestation['status']>) => void = () => {}): NodeAttestation {
  const status: NonNullable<NodeAttestation['status']> = {
    manifestHash: HASH,
    expiresAt: '2026-01-01T13:00:00Z',
    gpus: [{ uuid: 'GPU-0', verified: true, activated: true }],
    conditions: [
      { type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: '2026-01-01T11:00:00Z' },
      {
        type: 'GPUsActivated',
        status: 'True',
        reason: 'Activated',
        message: '',
        lastTransitionTime: '2026-01-01T11:00:00Z',
      },
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

describe('attestation state messages', () => {
  it('says which Manifest is active when its hash is not recorded yet, not that none is', () => {
    const state = attestationState(attestation(), undefined, now, 'next');
    assert.equal(state.current, false);
    assert.equal((state as { reason: string }).reason, 'ManifestChanged');
    assert.match((state as { message: string }).message, /but Manifest next \(its hash not recorded yet\) is active/);
    assert.doesNotMatch((state as { message: string }).message, /no Manifest/);
  });
  it('says no Manifest is active only when none is', () => {
    const state = attestationState(attestation(), undefined, now);
    assert.match((state as { message: string }).message, /but no Manifest is active/);
  });
  it('names the hash of the active Manifest the node was not attested against', () => {
    const state = attestationState(attestation(), 'b'.repeat(64), now, 'next');
    assert.match((state as { message: string }).message, new RegExp(`but ${'b'.repeat(64)} is active`));
  });
});

describe('gating change', () => {
  const node = (labels: Record<string, string>, taints: k8s.V1Taint[] = [], gpus = '8'): k8s.V1Node => ({
    metadata: { name: 'n', labels },
    spec: { taints },
    status: { capacity: { 'nvidia.com/gpu': gpus } },
  });
  const taint = { key: 'attestor.dev/unattested', value: 'true', effect: 'NoSchedule' };
  it('labels and untaints a node whose attestation is current, keeping other taints', () => {
    const other = { key: 'dedicated', value: 'ai', effect: 'NoSchedule' };
    assert.deepEqual(gatingChange(node({}, [taint, other]), { current: true }), { label: 'true', taints: [other] });
  });
  it('removes the label and taints a node that is not current', () => {
    assert.deepEqual(
      gatingChange(node({ 'attestor.dev/gpu-attested': 'true' }), { current: false, reason: 'Expired', message: '' }),
      { label: null, taints: [taint] },
    );
  });
  it('does nothing when the node already matches', () => {
    assert.equal(gatingChange(node({ 'attestor.dev/gpu-attested': 'true' }), { current: true }), undefined);
    assert.equal(gatingChange(node({}, [taint]), { current: false, reason: 'NoAttestation', message: '' }), undefined);
  });
});

describe('evicting GPU pods from a node that lost its attestation (issue 7 item 14)', () => {
  const GRACE = 60_000;
  const manifest = (activeSince?: string, created = '2026-01-01T11:59:00Z'): Manifest => ({
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'm', creationTimestamp: new Date(created) },
    spec: {} as Manifest['spec'],
    status: {
      hash: 'b'.repeat(64),
      conditions: activeSince
        ? [{ type: 'Active', status: 'True', reason: 'Newest', message: '', lastTransitionTime: activeSince }]
        : [],
    },
  });
  const decide = (
    na: NodeAttestation | undefined,
    hash: string | undefined,
    activeManifest: Manifest | undefined = manifest('2026-01-01T11:59:30Z'),
  ) =>
    evictionDecision({
      state: attestationState(na, hash, now),
      nodeAttestation: na,
      activeManifest,
      now,
      pendingGraceMs: GRACE,
    });

  it('evicts nothing from a node whose attestation is current', () => {
    assert.deepEqual(decide(attestation(), HASH), { evict: false });
  });

  const settled: Array<[string, NodeAttestation | undefined, string]> = [
    ['no NodeAttestation', undefined, 'NoAttestation'],
    ['an expired attestation', attestation((s) => (s.expiresAt = '2026-01-01T11:59:59Z')), 'Expired'],
    [
      'refused evidence (a refused re-attestation)',
      attestation((s) => {
        s.conditions![0] = {
          ...s.conditions![0]!,
          status: 'False',
          reason: 'EvidenceRefused',
          message: '[snp.tcb] too old',
          lastTransitionTime: '2026-01-01T11:59:59Z',
        };
      }),
      'NotAttested',
    ],
    [
      'GPUs read back not ready',
      attestation((s) => {
        s.conditions![1] = {
          ...s.conditions![1]!,
          status: 'False',
          reason: 'ActivationFailed',
          lastTransitionTime: '2026-01-01T11:59:59Z',
        };
      }),
      'NotActivated',
    ],
  ];
  for (const [name, na, reason] of settled) {
    it(`evicts at once after ${name} (${reason}), naming the reason`, () => {
      const d = decide(na, HASH);
      assert.equal(d.evict, true);
      assert.equal((d as { reason: string }).reason, reason);
    });
  }

  it('evicts at once when no Manifest is active at all', () => {
    const na = attestation();
    assert.equal(
      evictionDecision({
        state: attestationState(na, undefined, now),
        nodeAttestation: na,
        activeManifest: undefined,
        now,
        pendingGraceMs: GRACE,
      }).evict,
      true,
    );
  });

  const pending: Array<
    [string, (s: NonNullable<NodeAttestation['status']>) => void, string | undefined, Manifest | undefined]
  > = [
    [
      'GPUs awaiting activation after a re-attestation',
      (s) => {
        s.conditions![1] = {
          ...s.conditions![1]!,
          status: 'False',
          reason: 'AwaitingActivation',
          lastTransitionTime: '2026-01-01T11:59:30Z',
        };
      },
      HASH,
      undefined,
    ],
    [
      'a new Manifest the node must attest again for',
      (s) => {
        s.conditions![0] = {
          ...s.conditions![0]!,
          status: 'False',
          reason: 'ManifestChanged',
          lastTransitionTime: '2026-01-01T11:59:30Z',
        };
      },
      HASH,
      undefined,
    ],
    ['a Manifest roll-forward not yet re-appraised', () => {}, 'b'.repeat(64), manifest('2026-01-01T11:59:30Z')],
    [
      'a new Manifest whose status the controller has not written yet',
      () => {},
      undefined,
      manifest(undefined, '2026-01-01T11:59:30Z'),
    ],
  ];
  for (const [name, change, hash, active] of pending) {
    it(`waits the pending grace during ${name}, then evicts`, () => {
      const na = attestation(change);
      const early = evictionDecision({
        state: attestationState(na, hash, now),
        nodeAttestation: na,
        activeManifest: active ?? manifest('2026-01-01T11:00:00Z'),
        now,
        pendingGraceMs: GRACE,
      });
      assert.deepEqual(early, { evict: false, recheckAfterMs: 30_000 });
      const later = new Date(now.getTime() + 30_000);
      const late = evictionDecision({
        state: attestationState(na, hash, later),
        nodeAttestation: na,
        activeManifest: active ?? manifest('2026-01-01T11:00:00Z'),
        now: later,
        pendingGraceMs: GRACE,
      });
      assert.equal(late.evict, true);
      assert.match((late as { message: string }).message, /unresolved for 60 s/);
    });
  }

  it('counts the grace from the edit when the active Manifest was edited in place (its Active condition unchanged)', () => {
    const edited = manifest('2026-01-01T09:00:00Z');
    edited.status!.history = [{ hash: HASH, generation: 1, replacedAt: '2026-01-01T11:59:30Z' }];
    const na = attestation();
    const d = evictionDecision({
      state: attestationState(na, 'b'.repeat(64), now),
      nodeAttestation: na,
      activeManifest: edited,
      now,
      pendingGraceMs: GRACE,
    });
    assert.deepEqual(d, { evict: false, recheckAfterMs: 30_000 });
    // Without the record of the edit, the grace would have run out hours ago.
    edited.status!.history = [];
    assert.equal(
      evictionDecision({
        state: attestationState(na, 'b'.repeat(64), now),
        nodeAttestation: na,
        activeManifest: edited,
        now,
        pendingGraceMs: GRACE,
      }).evict,
      true,
    );
  });

  it('does not wait on a pending state whose start time cannot be read (fail closed)', () => {
    const na = attestation((s) => {
      s.conditions![1] = {
        ...s.conditions![1]!,
        status: 'False',
        reason: 'AwaitingActivation',
        lastTransitionTime: 'soon',
      };
    });
    assert.equal(decide(na, HASH).evict, true);
  });

  describe('while the fleet settles after a Manifest change', () => {
    const MAX = 600_000;
    // Activated 11:55; the node has not been re-appraised yet (attested against the old hash).
    const active = manifest('2026-01-01T11:55:00Z');
    const roll = (progressAt: string, at = now) =>
      evictionDecision({
        state: attestationState(attestation(), 'b'.repeat(64), at),
        nodeAttestation: attestation(),
        activeManifest: active,
        now: at,
        pendingGraceMs: GRACE,
        rollout: { activatedAt: manifestActivatedAt(active)!, progressAt: new Date(progressAt), maxMs: MAX },
      });

    it('keeps the pods of a node still waiting its turn while other nodes became current within the grace', () => {
      // Five minutes since the change, far past the grace, but a node became current 20 s ago.
      assert.deepEqual(roll('2026-01-01T11:59:40Z'), { evict: false, recheckAfterMs: 40_000 });
    });

    it('evicts once no node has become current for the grace, and says so', () => {
      const d = roll('2026-01-01T11:58:55Z');
      assert.equal(d.evict, true);
      assert.match(
        (d as { message: string }).message,
        /\(unresolved for 300 s; no node became current under the new Manifest for 65 s\)$/,
      );
    });

    it('evicts at the latest rollout max after the activation, however the fleet progresses', () => {
      const at = new Date('2026-01-01T12:05:00Z');
      const d = roll('2026-01-01T12:04:59Z', at);
      assert.equal(d.evict, true);
      assert.match(
        (d as { message: string }).message,
        /the Manifest became active 600 s ago, the longest a rollout may wait/,
      );
      const before = roll('2026-01-01T12:04:00Z', new Date('2026-01-01T12:04:30Z'));
      assert.deepEqual(before, { evict: false, recheckAfterMs: 30_000 });
    });

    it('never evicts earlier than the plain grace (progress long before the node became pending)', () => {
      const na = attestation((s) => {
        s.conditions![1] = {
          ...s.conditions![1]!,
          status: 'False',
          reason: 'AwaitingActivation',
          lastTransitionTime: '2026-01-01T11:59:30Z',
        };
      });
      const d = evictionDecision({
        state: attestationState(na, HASH, now),
        nodeAttestation: na,
        activeManifest: active,
        now,
        pendingGraceMs: GRACE,
        rollout: {
          activatedAt: manifestActivatedAt(active)!,
          progressAt: new Date('2026-01-01T11:55:00Z'),
          maxMs: MAX,
        },
      });
      assert.deepEqual(d, { evict: false, recheckAfterMs: 30_000 });
    });

    it('does not extend anything long after the change: a node whose activation stalls goes after the grace', () => {
      const old = manifest('2026-01-01T10:00:00Z');
      const na = attestation((s) => {
        s.conditions![1] = {
          ...s.conditions![1]!,
          status: 'False',
          reason: 'AwaitingActivation',
          lastTransitionTime: '2026-01-01T11:58:00Z',
        };
      });
      const d = evictionDecision({
        state: attestationState(na, HASH, now),
        nodeAttestation: na,
        activeManifest: old,
        now,
        pendingGraceMs: GRACE,
        rollout: { activatedAt: manifestActivatedAt(old)!, progressAt: new Date('2026-01-01T11:59:59Z'), maxMs: MAX },
      });
      assert.equal(d.evict, true);
      assert.match((d as { message: string }).message, /\(unresolved for 120 s\)$/);
    });

    it('still evicts settled states at once (refused evidence)', () => {
      const na = attestation((s) => {
        s.manifestHash = 'b'.repeat(64);
        s.conditions![0] = { ...s.conditions![0]!, status: 'False', reason: 'EvidenceRefused' };
      });
      const d = evictionDecision({
        state: attestationState(na, 'b'.repeat(64), now),
        nodeAttestation: na,
        activeManifest: active,
        now,
        pendingGraceMs: GRACE,
        rollout: { activatedAt: manifestActivatedAt(active)!, progressAt: now, maxMs: MAX },
      });
      assert.equal(d.evict, true);
    });
  });

  describe('rollout progress', () => {
    const at = (s: number) => new Date(now.getTime() + s * 1000);
    it('starts at the activation, moves when more nodes are current, not when fewer', () => {
      const progress = new RolloutProgress(at(-100), 1000);
      let count = 3;
      assert.deepEqual(
        progress.observe('h1', at(-2), at(0), () => count),
        at(-2),
      );
      count = 2;
      assert.deepEqual(
        progress.observe('h1', at(-2), at(5), () => count),
        at(-2),
      );
      count = 4;
      assert.deepEqual(
        progress.observe('h1', at(-2), at(9), () => count),
        at(9),
      );
      assert.deepEqual(
        progress.observe('h1', at(-2), at(20), () => count),
        at(9),
      );
      // A new Manifest starts again.
      assert.deepEqual(
        progress.observe('h2', at(25), at(30), () => 0),
        at(25),
      );
    });
    it('counts a first look as progress when the Manifest became active before this leader started', () => {
      const progress = new RolloutProgress(at(0));
      assert.deepEqual(
        progress.observe('h', at(-120), at(1), () => 7),
        at(1),
      );
    });
    it('counts the fleet at most once per interval', () => {
      const progress = new RolloutProgress(at(-100), 1000);
      let counted = 0;
      const count = () => ++counted;
      progress.observe('h', at(-1), at(0), count);
      progress.observe('h', at(-1), at(0.5), count);
      assert.equal(counted, 1);
      assert.deepEqual(progress.observe('h', at(-1), at(1), count), at(1));
      assert.equal(counted, 2);
    });
  });

  it('evicts running and pending GPU pods only, outside the excluded namespaces, not those already going', () => {
    const pod = (
      name: string,
      namespace: string,
      gpus: string | undefined,
      phase = 'Running',
      deleting = false,
    ): k8s.V1Pod => ({
      metadata: { name, namespace, ...(deleting ? { deletionTimestamp: now } : {}) },
      spec: { containers: [{ name: 'c', ...(gpus ? { resources: { limits: { 'nvidia.com/gpu': gpus } } } : {}) }] },
      status: { phase },
    });
    const pods = [
      pod('worker', 'ai', '1'),
      pod('waiting', 'ai', '2', 'Pending'),
      pod('cpu', 'ai', undefined),
      pod('zero', 'ai', '0'),
      pod('done', 'ai', '1', 'Succeeded'),
      pod('failed', 'ai', '1', 'Failed'),
      pod('going', 'ai', '1', 'Running', true),
      pod('system', 'kube-system', '1'),
      pod('operator', 'attestor-system', '1'),
    ];
    assert.deepEqual(
      podsToEvict(pods, ['kube-system', 'attestor-system']).map((p) => p.metadata!.name),
      ['worker', 'waiting'],
    );
  });

  it('leaves pod-CVM AI worker pods on a closed node only while the active Manifest enables the pod-CVM model', () => {
    const podCvm: k8s.V1Pod = {
      metadata: {
        name: 'pod-cvm',
        namespace: 'ai',
        labels: {
          'app.kubernetes.io/name': 'ai-worker',
          'app.kubernetes.io/managed-by': 'attestor',
          'attestor.dev/deployment-model': 'pod-cvm',
        },
      },
      spec: { containers: [{ name: 'c', resources: { limits: { 'nvidia.com/gpu': '1' } } }] },
      status: { phase: 'Running' },
    };
    const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
    const spec = (roles: Array<'node' | 'pod'>) =>
      ({
        spec: {
          referenceValues: {
            snp: roles.map((role, i) => ({ role, measurements: [String(i).repeat(96)], minimumTCB: tcb })),
          },
          policies: [],
          runtimeClasses: [],
        },
      }) as unknown as Pick<Manifest, 'spec'>;
    const names = (active?: Pick<Manifest, 'spec'>) =>
      podsToEvict([podCvm], [], undefined, active).map((p) => p.metadata!.name);
    assert.deepEqual(names(spec(['node', 'pod'])), [], 'its own evidence gates it');
    assert.deepEqual(names(spec(['node'])), ['pod-cvm'], 'the label alone exempts nothing');
    assert.deepEqual(names(undefined), ['pod-cvm'], 'no Manifest: fail closed');
  });
});
