// Which nodes a change of the active Manifest settles (coordinator/reappraisal.ts), without evidence.
import assert from 'node:assert/strict';
import type { Manifest } from '../../../src/api/manifest.ts';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import { reappraisalTargets } from '../../../src/coordinator/reappraisal.ts';
import { manifestSpec } from './fixture.ts';

const NEW = 'a1'.repeat(32);
const OLD = 'b2'.repeat(32);
const now = new Date('2026-06-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);

const manifest: Manifest = {
  apiVersion: 'attestor.dev/v1alpha1',
  kind: 'Manifest',
  metadata: { name: 'new' },
  spec: manifestSpec({ evidenceMaxAge: '5m' }),
  status: { hash: NEW },
};

function attestation(name: string, manifestHash: string | undefined, attested: boolean): NodeAttestation {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'NodeAttestation',
    metadata: { name },
    spec: {},
    ...(manifestHash
      ? {
          status: {
            manifestHash,
            conditions: [
              {
                type: 'Attested',
                status: attested ? 'True' : 'False',
                reason: 'r',
                message: 'm',
                lastTransitionTime: '2026-06-01T00:00:00Z',
              },
            ],
          },
        }
      : {}),
  };
}

describe('re-appraisal targets', () => {
  it('settles nodes with recent retained evidence, and attested nodes without it; drops old evidence', () => {
    const collected = new Map([
      ['young-refused', minutesAgo(1)],
      ['young-attested', minutesAgo(4)],
      ['old-attested', minutesAgo(5)],
      ['old-refused', minutesAgo(30)],
    ]);
    const { targets, stale } = reappraisalTargets(
      [
        attestation('young-refused', OLD, false),
        attestation('young-attested', OLD, true),
        attestation('old-attested', OLD, true),
        attestation('old-refused', OLD, false),
        attestation('none-attested', OLD, true),
        attestation('none-refused', OLD, false),
      ],
      manifest,
      now,
      (name) => collected.get(name),
    );
    assert.deepEqual(targets, ['young-refused', 'young-attested', 'old-attested', 'none-attested']);
    assert.deepEqual(stale, ['old-attested', 'old-refused', 'none-attested', 'none-refused']);
  });

  it('leaves nodes alone that are settled under the new Manifest already or have no verdict yet', () => {
    const { targets, stale } = reappraisalTargets(
      [attestation('settled', NEW, true), attestation('new-node', undefined, false)],
      manifest,
      now,
      () => minutesAgo(1),
    );
    assert.deepEqual([targets, stale], [[], []]);
  });

  it('does not appraise evidence again beyond the re-attestation interval, even within evidenceMaxAge', () => {
    const long = { ...manifest, spec: manifestSpec({ evidenceMaxAge: '2h' }) }; // reattestationInterval 1h
    const { targets, stale } = reappraisalTargets(
      [attestation('refused', OLD, false), attestation('recent', OLD, false)],
      long,
      now,
      (name) => (name === 'refused' ? minutesAgo(61) : minutesAgo(59)),
    );
    assert.deepEqual([targets, stale], [['recent'], ['refused']]);
  });
});
