// What identifies a node's evidence (item 8) and which refused evidence is kept (item 18): pure rules.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { NodeClaims, NodeEvidence } from '../../../src/attestation/node-appraisal.ts';
import { reason } from '../../../src/attestation/verdict.ts';
import { evidenceIdentity, identifiersFromStatus } from '../../../src/coordinator/evidence-identity.ts';
import { retainable } from '../../../src/coordinator/retained-evidence.ts';
import { gpuPath } from '../../vectors/nvidia/testdata.ts';

const chain550 = readFileSync(gpuPath('hopper-550/certs.pem'), 'utf8');
const chain535 = readFileSync(gpuPath('hopper-535/certs.pem'), 'utf8');

describe('evidence identity', () => {
  it('identifies a GPU by the device its verified evidence came from, and none where verification found none', () => {
    const evidence = {
      cvm: { platform: 'tdx', report: new Uint8Array() },
      gpus: [
        { uuid: 'GPU-1', report: new Uint8Array(), certificateChain: chain550 },
        { uuid: 'GPU-2', report: new Uint8Array(), certificateChain: chain535 },
      ],
    } as NodeEvidence;
    const claims = {
      cvm: { platform: 'tdx', verified: true, reasons: [], details: {} },
      gpus: [{ uuid: 'GPU-1', deviceId: 'ab12' }, { uuid: 'GPU-2' }],
    } as unknown as NodeClaims;
    const identity = evidenceIdentity(evidence, claims);
    assert.deepEqual(
      identity.identifiers.map((i) => `${i.kind}:${i.value}`),
      ['gpu-uuid:GPU-1', 'gpu-device:ab12', 'gpu-uuid:GPU-2'],
    );
    assert.deepEqual([...identity.gpuDevices], [['GPU-1', 'ab12']]);
  });

  it('takes REPORT_ID for SNP (not CHIP_ID), UUID and device for GPUs, and nothing per TD for TDX', () => {
    const reportId = '5a'.repeat(32);
    const gpus = [{ uuid: 'GPU-1', report: new Uint8Array(), certificateChain: chain550 }];
    const claims = (details: unknown): NodeClaims =>
      ({
        cvm: { platform: 'snp', verified: true, reasons: [], details },
        gpus: [{ uuid: 'GPU-1', deviceId: 'cd'.repeat(8) }],
      }) as unknown as NodeClaims;
    const snp = evidenceIdentity(
      { cvm: { platform: 'snp', report: new Uint8Array() }, gpus } as NodeEvidence,
      claims({ reportId, chipId: '11'.repeat(64) }),
    );
    assert.deepEqual(
      snp.identifiers.map((i) => i.kind),
      ['snp-launch', 'gpu-uuid', 'gpu-device'],
    );
    assert.equal(snp.reportId, reportId);
    assert.ok(!snp.identifiers.some((i) => i.value.includes('11'.repeat(64))), 'CHIP_ID is not an identifier');
    const tdx = evidenceIdentity({ cvm: { platform: 'tdx', report: new Uint8Array() }, gpus } as NodeEvidence, {
      ...claims({ mrTd: 'ab' }),
      cvm: { platform: 'tdx', verified: true, reasons: [], details: {} },
    });
    assert.deepEqual(
      tdx.identifiers.map((i) => i.kind),
      ['gpu-uuid', 'gpu-device'],
    );
  });

  it('reads the same identifiers back from NodeAttestation status', () => {
    const ids = identifiersFromStatus({
      cvm: { platform: 'snp', verified: true, reportId: '5a'.repeat(32) },
      gpus: [{ uuid: 'GPU-1', verified: true, activated: true, deviceId: 'cd'.repeat(32) }],
    });
    assert.deepEqual(
      ids.map((i) => `${i.kind}:${i.value}`),
      [`snp-launch:${'5a'.repeat(32)}`, 'gpu-uuid:GPU-1', `gpu-device:${'cd'.repeat(32)}`],
    );
  });
});

describe('retained evidence', () => {
  it('keeps accepted evidence and evidence refused only by comparisons with the Manifest', () => {
    assert.equal(retainable([]), true);
    for (const check of [
      'snp.measurement',
      'snp.host-data',
      'snp.policy.debug',
      'snp.tcb.reported',
      'snp.platform.smt',
      'tdx.mrtd',
      'tdx.td-attributes.debug',
      'tdx.xfam.fixed-bits',
      'tdx.collateral.missing',
      'gpu.driver-version',
      'gpu.vbios-version',
      'gpu.measurement',
      'node.gpu.reference-values',
      'coordinator.evidence.in-use',
    ] as const) {
      assert.equal(retainable([reason(check, '')]), true, check);
    }
  });
  it('drops evidence that failed a signature, chain, revocation, binding or parsing check', () => {
    for (const check of [
      'snp.signature',
      'snp.chain',
      'snp.certificates',
      'snp.report-data',
      'snp.chip-id',
      'snp.crl.revoked',
      'snp.tcb.certificate',
      'tdx.quote-signature',
      'tdx.pck-revoked',
      'tdx.report-data',
      'gpu.signature',
      'gpu.cert-chain',
      'gpu.nonce',
      'gpu.report',
      'gpu.ocsp',
      'node.gpu.duplicate',
      'node.gpu.missing',
    ] as const) {
      assert.equal(retainable([reason('snp.measurement', ''), reason(check, '')]), false, check);
    }
  });
  it('goes by the kind each reason carries, not by its check id', () => {
    const comparison = reason('snp.measurement', 'MEASUREMENT differs');
    assert.equal(retainable([{ ...comparison, check: 'something.new' }]), true);
    assert.equal(retainable([{ ...comparison, kind: 'authenticity' }]), false);
    assert.equal(retainable([{ ...comparison, kind: 'binding' }]), false);
  });
});
