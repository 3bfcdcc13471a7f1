// NodeAttestation status built from a verdict: what it says about GPU measurements that were not
// evaluated, and the UUID-to-device bindings it keeps across verdicts, refusals included.
import assert from 'node:assert/strict';
import type { NodeClaims } from '../../../src/attestation/node-appraisal.ts';
import { reason } from '../../../src/attestation/verdict.ts';
import { manifestChangedStatus, verdictStatus } from '../../../src/coordinator/status.ts';

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

describe('NodeAttestation status from a verdict', () => {
  it('says in the GPU entries and the Attested condition when measurements were not evaluated', () => {
    const status = verdictStatus(undefined, {
      accepted: true,
      claims: claims([
        { uuid: 'GPU-0', deviceId: 'aa', measurements: 'not-evaluated', mode: 'MPT' },
        { uuid: 'GPU-1', deviceId: 'bb' },
      ]),
      reasons: [],
      manifestHash: HASH,
      simulated: false,
      now,
      expiresAt,
    });
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
    const status = verdictStatus(undefined, {
      accepted: true,
      claims: claims([{ uuid: 'GPU-0', deviceId: 'aa' }]),
      reasons: [],
      manifestHash: HASH,
      simulated: false,
      now,
      expiresAt,
    });
    assert.doesNotMatch(status.conditions!.find((c) => c.type === 'Attested')!.message, /NOT evaluated/);
  });

  it('keeps the UUID-to-device bindings of verified GPUs across refusals and Manifest changes', () => {
    const accepted = verdictStatus(undefined, {
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
    });
    assert.deepEqual(accepted.gpuBindings, [
      { uuid: 'GPU-0', deviceId: 'aa' },
      { uuid: 'GPU-1', deviceId: 'bb' },
    ]);
    // A refused submission (say, GPU-0 now showing device cc) must not wipe what GPU-0 was.
    const refused = verdictStatus(accepted, {
      accepted: false,
      claims: claims([{ uuid: 'GPU-0', deviceId: 'cc', verified: false }]),
      reasons: [reason('node.gpu.uuid', 'GPU GPU-0: this UUID was attested as device aa')],
      manifestHash: HASH,
      simulated: false,
      now,
      expiresAt,
    });
    assert.deepEqual(refused.gpuBindings, accepted.gpuBindings);
    assert.deepEqual(manifestChangedStatus(refused, 'cd'.repeat(32), undefined, now).gpuBindings, accepted.gpuBindings);
    // A later accepted verdict adds a new GPU and keeps the others.
    const grown = verdictStatus(refused, {
      accepted: true,
      claims: claims([{ uuid: 'GPU-2', deviceId: 'dd' }]),
      reasons: [],
      manifestHash: HASH,
      simulated: false,
      now,
      expiresAt,
    });
    assert.deepEqual(grown.gpuBindings, [
      { uuid: 'GPU-2', deviceId: 'dd' },
      { uuid: 'GPU-0', deviceId: 'aa' },
      { uuid: 'GPU-1', deviceId: 'bb' },
    ]);
  });
});
