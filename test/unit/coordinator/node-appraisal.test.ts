// A node's evidence as the Coordinator appraises it: simulated SEV-SNP and GPU evidence in the
// real byte formats, one valid fixture, one change per case, each refused for its reason.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appraiseNode,
  type NodeAppraisalContext,
  type NodeEvidence,
  type NodeExpectation,
} from '../../../src/attestation/node-appraisal.ts';
import type { OcspAnswer } from '../../../src/attestation/nvidia/ocsp-answer.ts';
import type { ReferenceValues } from '../../../src/attestation/reference-values.ts';
import { createGpuSimulator, type GpuFields, type GpuSimulator } from '../../../src/attestation/sim/gpu.ts';
import { createSnpSimulator, type SnpSimulator } from '../../../src/attestation/sim/snp.ts';
import { encodeSnpCertTable } from '../../../src/attestation/snp/cert-table.ts';
import { reportDataFor } from '../../../src/protocol/evidence-request.ts';

const POLICY_HASH = createHash('sha256').update('policy').digest('hex');
const MEASUREMENT = Buffer.alloc(48, 0x42);
const AT = new Date('2026-06-01T00:00:00Z');

describe('node appraisal (CVM + GPUs)', function () {
  this.timeout(120_000);
  let snp: SnpSimulator;
  let gpu: GpuSimulator;
  let rims: { driver: string; vbios: string; driverId: string; vbiosId: string };
  /** The simulated responder's answers for the chains of GPU-0 to GPU-3, as collateral. */
  let ocsp: OcspAnswer[];
  const nonce = new Uint8Array(32).fill(7);
  const agentKey = new Uint8Array(91).fill(3);
  const reportData = reportDataFor(nonce, agentKey);

  before(async () => {
    snp = await createSnpSimulator({ product: 'Genoa', rsaModulusLength: 2048 });
    gpu = await createGpuSimulator();
    rims = await gpu.rims();
    const chains = [];
    for (let i = 0; i < 4; i++) chains.push((await gpu.gpu(`GPU-${i}`, { nonce })).certificateChainPem);
    ocsp = gpu.ocspAnswers(chains, AT);
  });

  const references = (): ReferenceValues => ({
    snp: [
      {
        name: 'genoa',
        measurements: [MEASUREMENT.toString('hex')],
        minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
      },
    ],
    gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
  });
  const context = (refs = references()): NodeAppraisalContext => ({
    referenceValues: refs,
    policyHashes: [POLICY_HASH],
    trust: { snp: snp.roots, gpu: { device: [gpu.roots.device], rim: [gpu.roots.rim] } },
    collateral: {
      gpu: {
        rims: [
          { xml: rims.driver, id: rims.driverId },
          { xml: rims.vbios, id: rims.vbiosId },
        ],
        ocsp,
      },
    },
    at: AT,
  });
  async function evidence(
    change: {
      report?: Parameters<SnpSimulator['report']>[0];
      gpuNonce?: Uint8Array;
      driverVersion?: string;
      gpus?: number;
      modes?: Array<GpuFields['mode']>;
    } = {},
  ): Promise<NodeEvidence> {
    const report = snp.report({
      measurement: MEASUREMENT,
      hostData: Buffer.from(POLICY_HASH, 'hex'),
      reportData,
      ...change.report,
    });
    const gpus = [];
    for (let i = 0; i < (change.gpus ?? 2); i++) {
      const mode = change.modes?.[i];
      const g = await gpu.gpu(`GPU-${i}`, {
        nonce: change.gpuNonce ?? nonce,
        driverVersion: change.driverVersion ?? '550.90.07',
        vbiosVersion: '96.00.9F.00.01',
        ...(mode !== undefined ? { mode } : {}),
      });
      gpus.push({ uuid: `GPU-${i}`, report: g.report, certificateChain: g.certificateChainPem });
    }
    return {
      cvm: { platform: 'snp', report, auxblob: encodeSnpCertTable([{ kind: 'vcek', der: snp.endorsementDer }]) },
      gpus,
    };
  }
  const expectation: NodeExpectation = { reportData, nonce, gpuCount: 2 };
  const checks = (v: { reasons: readonly { check: string }[] }) => [...new Set(v.reasons.map((r) => r.check))].sort();

  it('accepts genuine evidence that meets the Manifest, with claims for the status', async () => {
    const v = await appraiseNode(await evidence(), expectation, context());
    assert.deepEqual(v.reasons, []);
    assert.equal(v.verified, true);
    assert.equal(v.claims.cvm.measurement, MEASUREMENT.toString('hex'));
    assert.equal(v.claims.cvm.policyHash, POLICY_HASH);
    assert.equal(v.claims.cvm.referenceValues, 'genoa');
    assert.deepEqual(
      v.claims.gpus.map((g) => [g.uuid, g.verified, g.driverVersion, g.vbiosVersion, g.measurements, g.mode]),
      [
        ['GPU-0', true, '550.90.07', '96.00.9F.00.01', 'matched', 'LEGACY'],
        ['GPU-1', true, '550.90.07', '96.00.9F.00.01', 'matched', 'LEGACY'],
      ],
    );
    assert.notEqual(v.claims.gpus[0]!.deviceId, v.claims.gpus[1]!.deviceId);
  });

  const cases: Array<{
    name: string;
    make: () => Promise<NodeEvidence>;
    expect: string[];
    refs?: () => ReferenceValues;
    expectation?: NodeExpectation;
    trust?: 'production';
  }> = [
    {
      name: 'a measurement the Manifest does not list',
      make: () => evidence({ report: { measurement: Buffer.alloc(48, 1) } }),
      expect: ['snp.measurement'],
    },
    {
      name: 'a policy hash the Manifest does not list',
      make: () => evidence({ report: { hostData: Buffer.alloc(32, 9) } }),
      expect: ['snp.host-data'],
    },
    {
      name: 'REPORT_DATA for another nonce or key (replay)',
      make: () => evidence({ report: { reportData: new Uint8Array(64) } }),
      expect: ['snp.report-data'],
    },
    {
      name: 'a CVM whose guest policy allows a migration agent and CXL',
      make: () =>
        evidence({ report: { policy: { abiMajor: 1, abiMinor: 51, smt: true, migrateMA: true, cxlAllowed: true } } }),
      expect: ['snp.policy.migrate-ma', 'snp.policy.cxl'],
    },
    {
      name: 'a GPU report with a foreign nonce',
      make: () => evidence({ gpuNonce: new Uint8Array(32).fill(8) }),
      expect: ['gpu.nonce'],
    },
    {
      name: 'a GPU driver outside the Manifest',
      make: () => evidence({ driverVersion: '535.86.09' }),
      expect: ['gpu.driver-version', 'gpu.rim.missing'],
    },
    { name: 'a missing GPU report', make: () => evidence({ gpus: 1 }), expect: ['node.gpu.missing'] },
    {
      name: 'GPUs that mix multi-GPU modes (SPT and MPT)',
      make: () => evidence({ modes: ['SPT', 'MPT'] }),
      expect: ['node.gpu.mode'],
    },
    {
      name: 'GPUs that mix a stated mode with firmware that states none',
      make: () => evidence({ modes: ['PPCIE', undefined] }),
      expect: ['node.gpu.mode'],
    },
    {
      name: 'a GPU whose FEATURE_FLAG is no known mode',
      make: () => evidence({ modes: [9, 9] }),
      expect: ['gpu.mode'],
    },
    {
      name: 'evidence signed by roots that are not trusted (simulated evidence under production trust)',
      make: () => evidence(),
      expect: ['gpu.cert-chain', 'gpu.rim.cert-chain', 'snp.chain'],
      trust: 'production',
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`, async () => {
      const ctx = context(c.refs?.());
      if (c.trust === 'production') ctx.trust = {};
      const v = await appraiseNode(await c.make(), c.expectation ?? expectation, ctx);
      assert.equal(v.verified, false);
      for (const check of c.expect) assert.ok(checks(v).includes(check), `${check} in ${checks(v).join(', ')}`);
    });
  }

  it('accepts GPUs that all state the same mode', async () => {
    const v = await appraiseNode(await evidence({ modes: ['MPT', 'MPT'] }), expectation, context());
    assert.deepEqual(v.reasons, []);
    assert.deepEqual(
      v.claims.gpus.map((g) => g.mode),
      ['MPT', 'MPT'],
    );
  });

  it('refuses GPU evidence without OCSP answers for its chains in the collateral', async () => {
    const ctx = context();
    ctx.collateral = { gpu: { rims: ctx.collateral!.gpu!.rims! } };
    const v = await appraiseNode(await evidence(), expectation, ctx);
    assert.deepEqual(checks(v), ['gpu.ocsp', 'gpu.rim.ocsp']);
  });

  it('binds each GPU UUID to the device its evidence came from', async () => {
    const e = await evidence();
    const first = await appraiseNode(e, expectation, context());
    const bindings = first.claims.gpus.map((g) => ({ uuid: g.uuid, deviceId: g.deviceId! }));
    assert.deepEqual((await appraiseNode(e, { ...expectation, gpuBindings: bindings }, context())).reasons, []);
    // The two GPUs' evidence swapped between their UUIDs: each UUID now brings another device.
    const swapped = {
      ...e,
      gpus: [
        { ...e.gpus[1]!, uuid: 'GPU-0' },
        { ...e.gpus[0]!, uuid: 'GPU-1' },
      ],
    };
    const v = await appraiseNode(swapped, { ...expectation, gpuBindings: bindings }, context());
    assert.deepEqual(checks(v), ['node.gpu.uuid']);
    assert.match(
      v.reasons[0]!.message,
      /GPU GPU-0: this UUID was attested as device [0-9a-f]+, but the evidence is from device/,
    );
    assert.deepEqual(
      v.claims.gpus.map((g) => g.verified),
      [false, false],
    );
    // A device that reappears under a new UUID.
    const renamed = { ...e, gpus: [{ ...e.gpus[0]!, uuid: 'GPU-9' }, e.gpus[1]!] };
    assert.deepEqual(checks(await appraiseNode(renamed, { ...expectation, gpuBindings: bindings }, context())), [
      'node.gpu.uuid',
    ]);
  });

  it('refuses one device presented under two UUIDs in one submission, even with a fresh report for each', async () => {
    const one = await gpu.gpu('GPU-0', { nonce, driverVersion: '550.90.07', vbiosVersion: '96.00.9F.00.01' });
    const again = await gpu.gpu('GPU-0', {
      nonce,
      driverVersion: '550.90.07',
      vbiosVersion: '96.00.9F.00.01',
      trailingBytes: 1,
    });
    const e = await evidence();
    e.gpus = [
      { uuid: 'GPU-0', report: one.report, certificateChain: one.certificateChainPem },
      { uuid: 'GPU-1', report: again.report, certificateChain: again.certificateChainPem },
    ];
    const v = await appraiseNode(e, expectation, context());
    assert.ok(
      v.reasons.some((r) => r.check === 'node.gpu.duplicate' && /same device/.test(r.message)),
      JSON.stringify(v.reasons),
    );
  });

  it('reports measurements as not evaluated when the Manifest does not require RIMs and none are given', async () => {
    const refs = references();
    refs.gpu!.requireRIMs = false;
    const ctx = context(refs);
    ctx.collateral!.gpu = { ...ctx.collateral!.gpu, rims: [] };
    const v = await appraiseNode(await evidence(), expectation, ctx);
    assert.deepEqual(v.reasons, []);
    assert.deepEqual(
      v.claims.gpus.map((g) => g.measurements),
      ['not-evaluated', 'not-evaluated'],
    );
  });

  it('refuses a GPU report whose signature was tampered with', async () => {
    const e = await evidence();
    const tampered = new Uint8Array(e.gpus[0]!.report);
    tampered[tampered.length - 10]! ^= 0xff;
    e.gpus[0] = { ...e.gpus[0]!, report: tampered };
    assert.ok(checks(await appraiseNode(e, expectation, context())).includes('gpu.signature'));
  });

  it('refuses the same GPU evidence submitted twice, and a Manifest without GPU reference values', async () => {
    const e = await evidence();
    e.gpus[1] = { ...e.gpus[0]!, uuid: 'GPU-1' };
    assert.ok(checks(await appraiseNode(e, expectation, context())).includes('node.gpu.duplicate'));
    const refs = references();
    delete refs.gpu;
    assert.ok(
      checks(await appraiseNode(await evidence(), expectation, context(refs))).includes('node.gpu.reference-values'),
    );
  });

  it('refuses SNP evidence without any VCEK, and a malformed certificate table', async () => {
    const e = await evidence();
    assert.ok(
      checks(await appraiseNode({ ...e, cvm: { ...e.cvm, auxblob: undefined } }, expectation, context())).includes(
        'snp.certificates',
      ),
    );
    assert.ok(
      checks(
        await appraiseNode({ ...e, cvm: { ...e.cvm, auxblob: new Uint8Array(10) } }, expectation, context()),
      ).includes('snp.cert-table'),
    );
  });
});
