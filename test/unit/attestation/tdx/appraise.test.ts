/**
 * Table-driven appraisal: one valid simulated quote and Manifest entry, one change per case, and
 * the exact check ids the change must be refused with.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { TdxReferenceValues } from '../../../../src/attestation/reference-values.ts';
import { createTdxSimulator, type TdxQuoteFields, type TdxSimulator } from '../../../../src/attestation/sim/tdx.ts';
import { appraiseTdx, type TdxExpectation } from '../../../../src/attestation/tdx/appraise.ts';
import { type TrustAnchor, trustAnchors } from '../../../../src/attestation/tdx/chain.ts';
import type { TdxCollateral } from '../../../../src/attestation/tdx/collateral.ts';
import { configIdForPolicyHash, policyHashFromConfigId } from '../../../../src/attestation/tdx/config-id.ts';
import type { TcbStatus } from '../../../../src/attestation/tdx/tcb-info.ts';
import { verifyTdx } from '../../../../src/attestation/tdx/verify.ts';

const h384 = (s: string): string => createHash('sha384').update(s).digest('hex');
const policyHash = createHash('sha256')
  .update('package agent_policy\ndefault AllowRequestsFailingPolicy := false\n')
  .digest('hex');
const nonce = createHash('sha512').update('coordinator nonce').digest();
const at = new Date('2024-06-10T00:00:00Z');

const fixture = {
  mrTd: h384('mrtd'),
  rtmrs: [h384('rtmr0'), h384('rtmr1'), h384('rtmr2'), h384('rtmr3')],
  mrSeam: h384('tdx module 1.5.06'),
  mrConfigId: configIdForPolicyHash(policyHash),
  reportData: nonce,
  tdAttributes: '0000001000000000',
  xfam: 'e718060000000000',
  teeTcbSvn: '03000400000000000000000000000000',
} satisfies TdxQuoteFields;

const reference: TdxReferenceValues = {
  name: 'kata-qemu-tdx',
  mrTd: [fixture.mrTd],
  rtmrs: [...fixture.rtmrs],
  mrSeam: [fixture.mrSeam],
  xfam: fixture.xfam,
  minimumTeeTcbSvn: '03000400000000000000000000000000',
};

const expectation: TdxExpectation = { reportData: nonce, allowedConfigIds: [policyHash] };

interface Case {
  readonly name: string;
  readonly quote?: Partial<TdxQuoteFields>;
  readonly reference?: Partial<TdxReferenceValues>;
  readonly expectation?: Partial<TdxExpectation>;
  /** Collateral made with these options; default: complete UpToDate collateral. */
  readonly collateral?: { tcbStatus?: TcbStatus; qeTcbStatus?: TcbStatus };
  /** Verify with no collateral at all. */
  readonly noCollateral?: true;
  readonly accepted?: readonly TcbStatus[];
  readonly checks: readonly string[];
}

const cases: readonly Case[] = [
  { name: 'another MRTD', quote: { mrTd: h384('other firmware') }, checks: ['tdx.mrtd'] },
  {
    name: 'RTMR0 changed (TD firmware config)',
    quote: { rtmrs: [h384('x'), ...fixture.rtmrs.slice(1)] },
    checks: ['tdx.rtmr0'],
  },
  {
    name: 'RTMR1 changed (kernel)',
    quote: { rtmrs: [fixture.rtmrs[0]!, h384('other kernel'), fixture.rtmrs[2]!, fixture.rtmrs[3]!] },
    checks: ['tdx.rtmr1'],
  },
  {
    name: 'RTMR2 changed (command line)',
    quote: { rtmrs: [...fixture.rtmrs.slice(0, 2), h384('x'), fixture.rtmrs[3]!] },
    checks: ['tdx.rtmr2'],
  },
  {
    name: 'RTMR1 and RTMR3 changed',
    quote: { rtmrs: [fixture.rtmrs[0]!, h384('a'), fixture.rtmrs[2]!, h384('b')] },
    checks: ['tdx.rtmr1', 'tdx.rtmr3'],
  },
  {
    name: 'RTMR3 changed but the Manifest does not check it',
    quote: { rtmrs: [...fixture.rtmrs.slice(0, 3), h384('runtime')] },
    reference: { rtmrs: [...fixture.rtmrs.slice(0, 3), null] },
    checks: [],
  },
  { name: 'another TDX module (MRSEAM)', quote: { mrSeam: h384('old module') }, checks: ['tdx.mrseam'] },
  {
    name: 'MRSEAM not pinned by the Manifest',
    quote: { mrSeam: h384('old module') },
    reference: { mrSeam: undefined },
    checks: [],
  },
  { name: 'DEBUG bit set', quote: { tdAttributes: '0100001000000000' }, checks: ['tdx.td-attributes.debug'] },
  { name: 'PERFMON bit set is not debug', quote: { tdAttributes: '0000001000000080' }, checks: [] },
  { name: 'another XFAM', quote: { xfam: 'e700060000000000' }, checks: ['tdx.xfam'] },
  {
    name: 'TEE_TCB_SVN below the minimum (module SVN; OutOfDate accepted here)',
    quote: { teeTcbSvn: '02000400000000000000000000000000' },
    accepted: ['UpToDate', 'OutOfDate'],
    checks: ['tdx.tee-tcb-svn'],
  },
  { name: 'TEE_TCB_SVN above the minimum', quote: { teeTcbSvn: '05000500000000000000000000000000' }, checks: [] },
  { name: 'REPORTDATA is not the nonce', quote: { reportData: new Uint8Array(64) }, checks: ['tdx.report-data'] },
  {
    name: 'short expected REPORTDATA is zero-padded',
    quote: { reportData: Buffer.concat([nonce.subarray(0, 32), Buffer.alloc(32)]) },
    expectation: { reportData: nonce.subarray(0, 32) },
    checks: [],
  },
  {
    name: 'MRCONFIGID carries another policy',
    quote: { mrConfigId: configIdForPolicyHash('ab'.repeat(32)) },
    checks: ['tdx.mrconfigid'],
  },
  {
    name: 'MRCONFIGID is not a policy hash (non-zero tail)',
    quote: { mrConfigId: policyHash + 'ff'.repeat(16) },
    checks: ['tdx.mrconfigid'],
  },
  { name: 'MRCONFIGID all zero (no policy)', quote: { mrConfigId: new Uint8Array(48) }, checks: ['tdx.mrconfigid'] },
  {
    name: 'no policy expectation: MRCONFIGID not checked',
    quote: { mrConfigId: new Uint8Array(48) },
    expectation: { allowedConfigIds: undefined },
    checks: [],
  },
  { name: 'platform TCB OutOfDate', collateral: { tcbStatus: 'OutOfDate' }, checks: ['tdx.tcb-status'] },
  {
    name: 'platform TCB SWHardeningNeeded',
    collateral: { tcbStatus: 'SWHardeningNeeded' },
    checks: ['tdx.tcb-status'],
  },
  {
    name: 'platform TCB SWHardeningNeeded, allowed',
    collateral: { tcbStatus: 'SWHardeningNeeded' },
    accepted: ['UpToDate', 'SWHardeningNeeded'],
    checks: [],
  },
  {
    name: 'platform TCB Revoked',
    collateral: { tcbStatus: 'Revoked' },
    accepted: ['UpToDate', 'SWHardeningNeeded', 'OutOfDate'],
    checks: ['tdx.tcb-status'],
  },
  { name: 'QE TCB OutOfDate', collateral: { qeTcbStatus: 'OutOfDate' }, checks: ['tdx.qe-tcb-status'] },
  { name: 'collateral UpToDate', collateral: {}, checks: [] },
  {
    name: 'DEBUG bit set, allowed (attestor verify tdx --allow-debug only)',
    quote: { tdAttributes: '0100001000000000' },
    expectation: { allowDebug: true },
    checks: [],
  },
  // Item 4: go-tdx-guest's fixed masks apply whatever the Manifest entry says.
  {
    name: 'MIGRATABLE bit set (TDATTRIBUTES bit 29)',
    quote: { tdAttributes: '0000003000000000' },
    checks: ['tdx.td-attributes.fixed-bits'],
  },
  {
    name: 'KL bit set (TDATTRIBUTES bit 31)',
    quote: { tdAttributes: '0000009000000000' },
    checks: ['tdx.td-attributes.fixed-bits'],
  },
  {
    name: 'a reserved TDATTRIBUTES bit set (bit 1)',
    quote: { tdAttributes: '0200001000000000' },
    checks: ['tdx.td-attributes.fixed-bits'],
  },
  {
    name: 'a reserved TDATTRIBUTES bit set, even when the entry expects exactly that value',
    quote: { tdAttributes: '0000001000000100' },
    reference: { tdAttributes: '0000001000000100' },
    checks: ['tdx.td-attributes.fixed-bits'],
  },
  {
    name: 'PKS and PERFMON without SEPT_VE_DISABLE are within the masks',
    quote: { tdAttributes: '0000004000000080' },
    checks: [],
  },
  {
    name: 'all-ones XFAM, with no XFAM in the entry',
    quote: { xfam: 'ffffffffffffffff' },
    reference: { xfam: undefined },
    checks: ['tdx.xfam.fixed-bits'],
  },
  {
    name: 'XFAM with MPX (bits 3, 4), even when the entry expects exactly that value',
    quote: { xfam: 'ff18060000000000' },
    reference: { xfam: 'ff18060000000000' },
    checks: ['tdx.xfam.fixed-bits'],
  },
  {
    name: 'XFAM without SSE (fixed-1 bit 1)',
    quote: { xfam: 'e518060000000000' },
    reference: { xfam: undefined },
    checks: ['tdx.xfam.fixed-bits'],
  },
  {
    name: 'XFAM of the real Sapphire Rapids quote is within the masks',
    quote: { xfam: 'e71a060000000000' },
    reference: { xfam: undefined },
    checks: [],
  },
  {
    name: 'TDATTRIBUTES other than the entry expects',
    quote: { tdAttributes: '0000005000000000' },
    reference: { tdAttributes: '0000001000000000' },
    checks: ['tdx.td-attributes'],
  },
  { name: 'TDATTRIBUTES as the entry expects', reference: { tdAttributes: '0000001000000000' }, checks: [] },
  { name: 'MROWNER other than the entry expects', reference: { mrOwner: 'aa'.repeat(48) }, checks: ['tdx.mrowner'] },
  {
    name: 'MROWNER and MROWNERCONFIG as the entry expects',
    quote: { mrOwner: 'aa'.repeat(48), mrOwnerConfig: 'bb'.repeat(48) },
    reference: { mrOwner: 'aa'.repeat(48), mrOwnerConfig: 'bb'.repeat(48) },
    checks: [],
  },
  {
    name: 'MROWNERCONFIG other than the entry expects',
    quote: { mrOwner: 'aa'.repeat(48) },
    reference: { mrOwner: 'aa'.repeat(48), mrOwnerConfig: 'bb'.repeat(48) },
    checks: ['tdx.mrownerconfig'],
  },
  { name: 'QE SVN (4) below the minimum', reference: { minimumQeSvn: 5 }, checks: ['tdx.qe-svn'] },
  { name: 'QE SVN at the minimum', reference: { minimumQeSvn: 4 }, checks: [] },
  { name: 'PCE SVN (11) below the minimum', reference: { minimumPceSvn: 12 }, checks: ['tdx.pce-svn'] },
  { name: 'PCE SVN at the minimum', reference: { minimumPceSvn: 11 }, checks: [] },
  // Item 1: no collateral, no verdict on the TCB; an entry may accept that for itself only.
  { name: 'no collateral', noCollateral: true, checks: ['tdx.collateral.missing'] },
  {
    name: 'no collateral, the entry allows it',
    noCollateral: true,
    reference: { allowMissingCollateral: true },
    checks: [],
  },
  {
    name: 'every problem at once is reported',
    quote: { mrTd: h384('x'), tdAttributes: '0100000000000000', reportData: new Uint8Array(64) },
    collateral: { tcbStatus: 'OutOfDate' },
    checks: ['tdx.td-attributes.debug', 'tdx.report-data', 'tdx.tcb-status', 'tdx.mrtd'],
  },
];

describe('tdx appraisal (table-driven, simulated evidence)', () => {
  let sim: TdxSimulator;
  let anchors: TrustAnchor[];
  const collaterals = new Map<string, TdxCollateral>();

  before(async () => {
    sim = await createTdxSimulator();
    anchors = trustAnchors(sim.roots);
    complete = await sim.collateral();
    for (const c of cases) {
      if (c.collateral) collaterals.set(c.name, await sim.collateral(c.collateral));
    }
  });
  let complete: TdxCollateral;
  const verify = (quote: Uint8Array): ReturnType<typeof verifyTdx> =>
    verifyTdx({ quote }, { at, trust: anchors, collateral: complete });

  it('the fixture itself is accepted, with its policy hash readable from MRCONFIGID', () => {
    const v = verify(sim.quote(fixture));
    assert.deepEqual(v.reasons, []);
    assert.equal(policyHashFromConfigId(v.claims.mrConfigId!), policyHash);
    const a = appraiseTdx(v, [reference], expectation);
    assert.deepEqual(a.reasons, []);
    assert.equal(a.verified, true);
  });

  for (const c of cases) {
    it(`${c.checks.length === 0 ? 'accepts' : 'refuses'}: ${c.name}${c.checks.length ? ` (${c.checks.join(', ')})` : ''}`, () => {
      const collateral = c.noCollateral ? undefined : (collaterals.get(c.name) ?? complete);
      const v = verifyTdx(
        { quote: sim.quote({ ...fixture, ...c.quote }) },
        {
          at,
          trust: anchors,
          ...(collateral ? { collateral } : {}),
        },
      );
      assert.deepEqual(
        v.reasons.filter((r) => r.check !== 'tdx.collateral.missing'),
        [],
        'the simulated evidence itself is authentic',
      );
      const a = appraiseTdx(v, [{ ...reference, ...c.reference }], {
        ...expectation,
        ...c.expectation,
        ...(c.accepted ? { acceptedTcbStatuses: c.accepted } : {}),
      });
      assert.deepEqual(
        a.reasons.map((r) => r.check),
        c.checks,
      );
      assert.equal(a.verified, c.checks.length === 0);
      assert.equal(a.claims.tcbEvaluated, !c.noCollateral, 'the claims say whether the TCB was evaluated');
    });
  }

  it('any one of several reference entries may match', () => {
    const v = verify(sim.quote(fixture));
    const other: TdxReferenceValues = { ...reference, name: 'other', mrTd: [h384('other')] };
    assert.equal(appraiseTdx(v, [other, reference], expectation).verified, true);
  });

  it('when no entry matches, says why for each entry', () => {
    const v = verify(
      sim.quote({ ...fixture, rtmrs: [fixture.rtmrs[0]!, h384('k'), fixture.rtmrs[2]!, fixture.rtmrs[3]!] }),
    );
    const other: TdxReferenceValues = { ...reference, name: 'other', mrTd: [h384('other')] };
    const a = appraiseTdx(v, [reference, other], expectation);
    assert.deepEqual(
      a.reasons.map((r) => r.check),
      ['tdx.rtmr1', 'tdx.mrtd', 'tdx.rtmr1'],
    );
    assert.match(a.reasons[0]!.message, /^referenceValues\.tdx\[0\] \(kata-qemu-tdx\): RTMR1/);
    assert.match(a.reasons[1]!.message, /^referenceValues\.tdx\[1\] \(other\): MRTD/);
  });

  it('refuses when the Manifest has no TDX reference values', () => {
    const v = verify(sim.quote(fixture));
    assert.deepEqual(
      appraiseTdx(v, [], expectation).reasons.map((r) => r.check),
      ['tdx.reference-values'],
    );
  });

  it('keeps verification reasons: a forged quote is refused even if it matches', () => {
    const q = sim.quote(fixture);
    q[48 + 200] = (q[48 + 200] as number) ^ 1; // inside MRCONFIGID: signature breaks, and the policy no longer matches
    const a = appraiseTdx(verify(q), [reference], expectation);
    assert.deepEqual(
      a.reasons.map((r) => r.check),
      ['tdx.quote-signature', 'tdx.mrconfigid'],
    );
  });

  it('missing collateral is accepted only by the entry that allows it, and the claims say the TCB was not evaluated', () => {
    const v = verifyTdx({ quote: sim.quote(fixture) }, { at, trust: anchors });
    assert.deepEqual(
      v.reasons.map((r) => r.check),
      ['tdx.collateral.missing'],
      'verification alone refuses it',
    );
    assert.match(v.reasons[0]!.message, /TCB info, QE identity, PCK CRL, root CA CRL/);
    const lenient: TdxReferenceValues = {
      ...reference,
      name: 'lenient',
      mrTd: [h384('other firmware')],
      allowMissingCollateral: true,
    };
    const a = appraiseTdx(v, [reference, lenient], expectation);
    assert.deepEqual(
      a.reasons.map((r) => r.check),
      ['tdx.collateral.missing', 'tdx.mrtd'],
      'the strict entry matches all but collateral, the lenient one not the MRTD',
    );
    assert.match(a.reasons[0]!.message, /^referenceValues\.tdx\[0\] \(kata-qemu-tdx\): Intel collateral missing/);
    const accepted = appraiseTdx(v, [{ ...lenient, mrTd: [fixture.mrTd] }], expectation);
    assert.equal(accepted.verified, true);
    assert.equal(accepted.claims.tcbEvaluated, false);
    assert.equal(accepted.claims.tcbStatus, undefined, 'no TCB status, so nothing looks UpToDate');
    assert.deepEqual(accepted.claims.missingCollateral, ['TCB info', 'QE identity', 'PCK CRL', 'root CA CRL']);
  });

  it('stored claims without the collateral fields are treated as not evaluated (fail closed)', () => {
    const { tcbEvaluated: _t, missingCollateral: _m, ...claims } = verify(sim.quote(fixture)).claims;
    assert.deepEqual(
      appraiseTdx({ verified: true, reasons: [], claims }, [reference], expectation).reasons.map((r) => r.check),
      ['tdx.collateral.missing'],
    );
  });

  it('a truncated quote is refused with its parse reason only', () => {
    const a = appraiseTdx(verify(new Uint8Array([4, 0, 2, 0, 0x81])), [reference], expectation);
    assert.deepEqual(
      a.reasons.map((r) => r.check),
      ['tdx.quote'],
    );
  });
});
