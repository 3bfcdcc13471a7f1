// A TDX node as the Coordinator appraises it: with no Intel collateral it is refused (fail
// closed), with the simulated platform's complete collateral (what `attestor dev` and the flow
// test hand the Coordinator) it attests, and only a Manifest entry that opts out accepts it
// without, saying in the verdict that the TCB was not evaluated.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  createSimulatedPlatform,
  SIMULATED_TDX_MRTD,
  type SimulatedPlatform,
} from '../../../src/agent/evidence/simulated.ts';
import {
  appraiseNode,
  type NodeAppraisalContext,
  type NodeEvidence,
  type NodeExpectation,
} from '../../../src/attestation/node-appraisal.ts';
import type { ReferenceValues, TdxReferenceValues } from '../../../src/attestation/reference-values.ts';
import { configIdForPolicyHash } from '../../../src/attestation/tdx/config-id.ts';
import { reportDataFor } from '../../../src/protocol/evidence-request.ts';

const POLICY_HASH = createHash('sha256').update('policy').digest('hex');
const AT = new Date('2026-06-01T00:00:00Z');

describe('node appraisal: TDX collateral', function () {
  this.timeout(120_000);
  let platform: SimulatedPlatform;
  let evidence: NodeEvidence;
  const nonce = new Uint8Array(32).fill(9);
  const reportData = reportDataFor(nonce, new Uint8Array(91).fill(4));
  const expectation: NodeExpectation = { reportData, nonce, gpuCount: 0 };

  before(async () => {
    platform = await createSimulatedPlatform();
    evidence = {
      cvm: {
        platform: 'tdx',
        report: platform.tdx.quote({
          reportData,
          mrTd: SIMULATED_TDX_MRTD,
          mrConfigId: configIdForPolicyHash(POLICY_HASH),
        }),
      },
      gpus: [],
    };
  });

  const references = (tdx: Partial<TdxReferenceValues> = {}): ReferenceValues => ({
    tdx: [{ name: 'simulated-tdx', mrTd: [SIMULATED_TDX_MRTD], ...tdx }],
    gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
  });
  const context = (refs: ReferenceValues, withTdxCollateral: boolean): NodeAppraisalContext => ({
    referenceValues: refs,
    policyHashes: [POLICY_HASH],
    trust: platform.trust,
    collateral: withTdxCollateral ? platform.collateral : { gpu: platform.collateral.gpu! },
    at: AT,
  });

  it('a TDX node without Intel collateral is refused (tdx.collateral.missing)', async () => {
    const v = await appraiseNode(evidence, expectation, context(references(), false));
    assert.deepEqual(
      v.reasons.map((r) => r.check),
      ['tdx.collateral.missing'],
    );
    assert.equal(v.claims.cvm.verified, false);
    assert.match(
      v.claims.cvm.tcb ?? '',
      /TCB status not evaluated \(missing collateral: TCB info, QE identity, PCK CRL, root CA CRL\)/,
    );
  });

  it('the simulated platform comes with complete collateral: the node attests under the strict defaults', async () => {
    assert.ok(
      platform.collateral.tdx?.tcbInfo &&
        platform.collateral.tdx.qeIdentity &&
        platform.collateral.tdx.pckCrl &&
        platform.collateral.tdx.rootCrl,
    );
    const v = await appraiseNode(evidence, expectation, context(references(), true));
    assert.deepEqual(v.reasons, []);
    assert.equal(v.claims.cvm.verified, true);
    assert.equal(v.claims.cvm.tcb, 'TEE_TCB_SVN 03000400000000000000000000000000; TCB UpToDate, QE UpToDate');
  });

  it('an entry with allowMissingCollateral accepts it, and the verdict says the TCB was not evaluated', async () => {
    const v = await appraiseNode(evidence, expectation, context(references({ allowMissingCollateral: true }), false));
    assert.deepEqual(v.reasons, []);
    assert.match(v.claims.cvm.tcb ?? '', /TCB status not evaluated/);
    assert.equal((v.claims.cvm.details as { tcbEvaluated?: boolean }).tcbEvaluated, false);
  });
});
