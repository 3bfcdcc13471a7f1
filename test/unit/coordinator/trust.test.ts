// Trust selection (coordinator/trust.ts): the simulated roots only under a Manifest that accepts
// simulated evidence, and which verdict is recorded when both sets of roots were tried.
import assert from 'node:assert/strict';
import type { Manifest } from '../../../src/api/manifest.ts';
import type { CheckId } from '../../../src/attestation/check-registry.ts';
import type { NodeClaims } from '../../../src/attestation/node-appraisal.ts';
import { reason, type Verdict, verdict } from '../../../src/attestation/verdict.ts';
import {
  type CollateralSource,
  type CoordinatorTrust,
  preferredVerdict,
  simulatedTrustFor,
} from '../../../src/coordinator/trust.ts';
import { manifestSpec } from './fixture.ts';

function manifest(acceptSimulatedEvidence: boolean | undefined): Manifest {
  const spec = manifestSpec();
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'm' },
    spec: { ...spec, development: acceptSimulatedEvidence === undefined ? undefined : { acceptSimulatedEvidence } },
  };
}

const CLAIMS = { cvm: { platform: 'snp' }, gpus: [] } as unknown as NodeClaims;
const refused = (...checks: CheckId[]): Verdict<NodeClaims> =>
  verdict(
    CLAIMS,
    checks.map((c) => reason(c, `${c} failed`)),
  );

describe('trust selection', () => {
  const simulated = { snp: { arks: [] } } as unknown as CoordinatorTrust['simulated'];
  const simulatedCollateral: CollateralSource = async () => ({ collateral: {}, notes: [] });
  const trust: CoordinatorTrust = { production: {}, simulated, simulatedCollateral };

  it('offers the simulated roots only while the Manifest accepts simulated evidence', () => {
    assert.deepEqual(simulatedTrustFor(manifest(true), trust), { trust: simulated, collateral: simulatedCollateral });
    assert.equal(simulatedTrustFor(manifest(false), trust), undefined);
    assert.equal(simulatedTrustFor(manifest(undefined), trust), undefined, 'off unless switched on');
  });

  it('offers none when the operator has no simulated roots, whatever the Manifest says', () => {
    assert.equal(simulatedTrustFor(manifest(true), { production: {} }), undefined);
  });

  it('records the verdict under the simulated roots when it accepts', () => {
    const accepted = refused();
    assert.deepEqual(preferredVerdict(refused('snp.signature'), accepted), { verdict: accepted, simulated: true });
  });

  it('records a simulated refusal when the simulated chain held (the evidence was simulated)', () => {
    const byMeasurement = refused('snp.measurement');
    assert.deepEqual(preferredVerdict(refused('snp.chain'), byMeasurement), {
      verdict: byMeasurement,
      simulated: true,
    });
  });

  for (const check of ['snp.signature', 'snp.chain', 'gpu.cert-chain', 'tdx.quote-signature'] as const) {
    it(`records the refusal under the real roots when the simulated roots refused too (${check})`, () => {
      const production = refused('snp.chain');
      assert.deepEqual(preferredVerdict(production, refused(check, 'snp.measurement')), {
        verdict: production,
        simulated: false,
      });
    });
  }
});
