// NodeAttestation status built from a verdict: what it says about GPU measurements that were not
// evaluated, the UUID-to-device bindings it keeps across verdicts, refusals included, and an
// activation renewed by an acceptance of fresh evidence (D250).
import assert from 'node:assert/strict';
import type { NodeAttestationStatus } from '../../../src/api/node-attestation.ts';
import { attestationState } from '../../../src/api/node-gating.ts';
import type { NodeClaims } from '../../../src/attestation/node-appraisal.ts';
import { reason } from '../../../src/attestation/verdict.ts';
import {
  activatedStatus,
  activationRefusedStatus,
  manifestChangedStatus,
  type VerdictFacts,
  verdictStatus,
} from '../../../src/coordinator/status.ts';

const HASH = 'ab'.repeat(32);
const now = new Date('2026-06-01T12:00:00Z');
const expiresAt = new Date('2026-06-01T13:00:00Z');

function claims(gpus: Array<Partial<NodeClaims['gpus'][number]> & { uuid: string }>): NodeClaims {
  return {
    cvm: { platform: 'snp', verified: true, reasons: [], details: null },
    gpus: gpus.map((g) => ({
      verified: true,
      measurements: 'matched' as const,
      reasons: [],
      details: {} as never,
      ...g,
    })),
  };
}

/** An acceptance of GPU-0 (device aa) and GPU-1 (device bb) at `now` until `expiresAt`, changed by `change`. */
const acceptedFacts = (change: Partial<VerdictFacts> = {}): VerdictFacts => ({
  accepted: true,
  claims: claims([
    { uuid: 'GPU-0', deviceId: 'aa' },
    { uuid: 'GPU-1', deviceId: 'bb' },
  ]),
  reasons: [],
  manifestHash: HASH,
  simulated: false,
  now,
  expiresAt,
  ...change,
});

describe('NodeAttestation status from a verdict', () => {
  it('says in the GPU entries and the Attested condition when measurements were not evaluated', () => {
    const status = verdictStatus(
      undefined,
      acceptedFacts({
        claims: claims([
          { uuid: 'GPU-0', deviceId: 'aa', measurements: 'not-evaluated', mode: 'MPT' },
          { uuid: 'GPU-1', deviceId: 'bb' },
        ]),
      }),
    );
    assert.deepEqual(
      status.gpus!.map((g) => [g.uuid, g.measurements, g.deviceId, g.mode]),
      [
        ['GPU-0', 'NotEvaluated', 'aa', 'MPT'],
        ['GPU-1', 'Matched', 'bb', undefined],
      ],
    );
    const attested = status.conditions!.find((c) => c.type === 'Attested')!;
    assert.equal(attested.status, 'True');
    assert.match(attested.message, /measurements of GPUs GPU-0 were NOT evaluated/);
    assert.doesNotMatch(attested.message, /GPU-1/);
  });

  it('states no such caveat when every GPU was compared with its RIMs', () => {
    const status = verdictStatus(undefined, acceptedFacts({ claims: claims([{ uuid: 'GPU-0', deviceId: 'aa' }]) }));
    assert.doesNotMatch(status.conditions!.find((c) => c.type === 'Attested')!.message, /NOT evaluated/);
  });

  it('keeps the UUID-to-device bindings of verified GPUs across refusals and Manifest changes', () => {
    const accepted = verdictStatus(undefined, acceptedFacts());
    assert.deepEqual(accepted.gpuBindings, [
      { uuid: 'GPU-0', deviceId: 'aa' },
      { uuid: 'GPU-1', deviceId: 'bb' },
    ]);
    // A refused submission (say, GPU-0 now showing device cc) must not wipe what GPU-0 was.
    const refused = verdictStatus(
      accepted,
      acceptedFacts({
        accepted: false,
        claims: claims([{ uuid: 'GPU-0', deviceId: 'cc', verified: false }]),
        reasons: [reason('node.gpu.uuid', 'GPU GPU-0: this UUID was attested as device aa')],
      }),
    );
    assert.deepEqual(refused.gpuBindings, accepted.gpuBindings);
    assert.deepEqual(manifestChangedStatus(refused, 'cd'.repeat(32), undefined, now).gpuBindings, accepted.gpuBindings);
    // A later accepted verdict adds a new GPU and keeps the others.
    const grown = verdictStatus(refused, acceptedFacts({ claims: claims([{ uuid: 'GPU-2', deviceId: 'dd' }]) }));
    assert.deepEqual(grown.gpuBindings, [
      { uuid: 'GPU-2', deviceId: 'dd' },
      { uuid: 'GPU-0', deviceId: 'aa' },
      { uuid: 'GPU-1', deviceId: 'bb' },
    ]);
  });
});

describe('an activation renewed by an acceptance of fresh evidence (D250)', () => {
  const later = new Date('2026-06-01T12:30:00Z');
  const facts = (change: Partial<VerdictFacts> = {}) =>
    acceptedFacts({ now: later, expiresAt: new Date('2026-06-01T13:30:00Z'), ...change });
  /** Accepted at 12:00 until 13:00, and activated. */
  const activated = activatedStatus(verdictStatus(undefined, acceptedFacts()), ['GPU-0', 'GPU-1'], true, now);
  const open = (status: NodeAttestationStatus, at: Date) => attestationState({ status } as never, HASH, at).current;
  const gpusActivated = (status: NodeAttestationStatus) => status.conditions!.find((c) => c.type === 'GPUsActivated')!;

  it('keeps the node open on its activation until that activation expires, with the new verdict recorded', () => {
    assert.equal(open(activated, now), true);
    const renewed = verdictStatus(activated, facts());
    assert.equal(open(renewed, later), true, 'still open');
    assert.equal(renewed.expiresAt, '2026-06-01T13:00:00Z', "the activation's expiry, not the new verdict's");
    assert.equal(renewed.attestedAt, '2026-06-01T12:30:00Z');
    assert.equal(gpusActivated(renewed).lastTransitionTime, gpusActivated(activated).lastTransitionTime);
    assert.match(
      gpusActivated(renewed).message,
      /until 2026-06-01T13:00:00Z.*extends the attestation to 2026-06-01T13:30:00Z/,
    );
    assert.equal(
      open(renewed, new Date('2026-06-01T13:00:00Z')),
      false,
      'closed at the old expiry without a read-back',
    );
    const extended = activatedStatus(renewed, ['GPU-0', 'GPU-1'], true, later, new Date('2026-06-01T13:30:00Z'));
    assert.equal(extended.expiresAt, '2026-06-01T13:30:00Z', "the read-back extends it to the new verdict's expiry");
    assert.equal(open(extended, new Date('2026-06-01T13:00:00Z')), true);
    const failed = activatedStatus(renewed, ['GPU-0', 'GPU-1'], false, later, new Date('2026-06-01T13:30:00Z'));
    assert.equal(failed.expiresAt, '2026-06-01T13:00:00Z', 'a read-back of GPUs not ready extends nothing');
    assert.equal(open(failed, later), false);
  });

  it('closes the node until the read-back when the GPUs, the Manifest or the activation differ, and at once on a refusal', () => {
    const cases: Array<[string, NodeAttestationStatus, VerdictFacts]> = [
      ['a GPU fewer', activated, facts({ claims: claims([{ uuid: 'GPU-0', deviceId: 'aa' }]) })],
      [
        'another GPU',
        activated,
        facts({
          claims: claims([
            { uuid: 'GPU-0', deviceId: 'aa' },
            { uuid: 'GPU-2', deviceId: 'cc' },
          ]),
        }),
      ],
      ['another Manifest', activated, facts({ manifestHash: 'cd'.repeat(32) })],
      ['an expired activation', activated, facts({ now: new Date('2026-06-01T13:00:01Z') })],
      ['no activation yet', verdictStatus(undefined, acceptedFacts()), facts()],
      ['a refusal', activated, facts({ accepted: false, reasons: [reason('snp.measurement', 'no match')] })],
    ];
    for (const [name, current, f] of cases) {
      const next = verdictStatus(current, f);
      assert.equal(gpusActivated(next).status, 'False', name);
      assert.ok(
        next.gpus!.every((g) => !g.activated),
        name,
      );
      assert.equal(attestationState({ status: next } as never, f.manifestHash, f.now).current, false, name);
    }
  });

  it('marks an activated node not activated when its activation report is refused', () => {
    const refused = activationRefusedStatus(activated, 'the grant was already used', later);
    assert.equal(gpusActivated(refused).reason, 'ActivationRefused');
    assert.match(gpusActivated(refused).message, /the grant was already used/);
    assert.ok(refused.gpus!.every((g) => !g.activated));
    assert.equal(open(refused, later), false);
  });
});
