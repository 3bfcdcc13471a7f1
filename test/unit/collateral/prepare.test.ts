// prepareCollateral: the one awaited step before appraisal. Evidence without a certificate table
// is appraised with the VCEK and CRL the store fetched; the operator's own collateral and the
// evidence's certificate table keep precedence; RIMs and TDX collateral merge as documented.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appraiseNode, type NodeAppraisalContext, type NodeEvidence } from '../../../src/attestation/node-appraisal.ts';
import { toPem } from '../../../src/attestation/pem.ts';
import type { ReferenceValues } from '../../../src/attestation/reference-values.ts';
import { createSnpSimulator, type SnpSimulator } from '../../../src/attestation/sim/snp.ts';
import { encodeSnpCertTable } from '../../../src/attestation/snp/cert-table.ts';
import { parseSnpReport } from '../../../src/attestation/snp/report.ts';
import { prepareCollateral } from '../../../src/collateral/prepare.ts';
import { CollateralStore } from '../../../src/collateral/store.ts';
import { reportDataFor } from '../../../src/protocol/evidence-request.ts';
import { answer, COLLATERAL_TIME, FakeVendor, put, removeDir, tempDir, vectorBytes, vectorPath } from './fixtures.ts';

const AT = new Date('2026-06-01T00:00:00Z');
const POLICY_HASH = createHash('sha256').update('policy').digest('hex');
const MEASUREMENT = Buffer.alloc(48, 0x42);
const KDS = 'https://kdsintf.amd.com/vcek/v1/Genoa';

describe('prepareCollateral', function () {
  this.timeout(120_000);
  let sim: SnpSimulator;
  let dir: string;
  let vendor: FakeVendor;
  const nonce = new Uint8Array(32).fill(7);
  const reportData = reportDataFor(nonce, new Uint8Array(91).fill(3));
  const store = (network = true, now = AT) =>
    new CollateralStore({ dir, network, fetch: vendor.fetch, now: () => now });
  const vcekUrl = () =>
    `${KDS}/${Buffer.from(sim.chipId).toString('hex')}?blSPL=${sim.tcb.bootloader}&teeSPL=${sim.tcb.tee}&snpSPL=${sim.tcb.snp}&ucodeSPL=${sim.tcb.microcode}`;
  const askArk = () =>
    sim.certChainPem
      .match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g)!
      .slice(1)
      .join('');
  const snpEvidence = (auxblob?: Uint8Array): NodeEvidence => ({
    cvm: {
      platform: 'snp',
      report: sim.report({ measurement: MEASUREMENT, hostData: Buffer.from(POLICY_HASH, 'hex'), reportData }),
      ...(auxblob ? { auxblob } : {}),
    },
    gpus: [],
  });
  const references: ReferenceValues = {
    snp: [
      {
        name: 'genoa',
        measurements: [MEASUREMENT.toString('hex')],
        minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
      },
    ],
    gpu: { architectures: ['HOPPER'], driverVersions: [], vbiosVersions: [] },
  };
  const appraise = (evidence: NodeEvidence, collateral: NodeAppraisalContext['collateral']) =>
    appraiseNode(
      evidence,
      { reportData, nonce, gpuCount: 0 },
      {
        referenceValues: references,
        policyHashes: [POLICY_HASH],
        trust: { snp: sim.roots },
        at: AT,
        ...(collateral ? { collateral } : {}),
      },
    );

  before(async () => {
    sim = await createSnpSimulator({ product: 'Genoa', rsaModulusLength: 2048 });
  });
  beforeEach(() => {
    dir = tempDir('collateral-prepare');
    vendor = new FakeVendor();
  });
  afterEach(() => {
    vendor.assertNoUnexpectedCalls();
    removeDir(dir);
  });

  it('lets the appraisal verify a report without certificate table, with the VCEK and CRL fetched from KDS', async () => {
    vendor
      .route(vcekUrl(), answer(sim.endorsementDer))
      .route(`${KDS}/cert_chain`, answer(askArk()))
      .route(`${KDS}/crl`, answer(await sim.crl()));
    const evidence = snpEvidence();
    const without = await appraise(evidence, undefined);
    assert.deepEqual(
      without.reasons.map((r) => r.check),
      ['snp.certificates'],
      'without collateral the report cannot be verified',
    );

    const prepared = await prepareCollateral(evidence, store());
    assert.deepEqual(prepared.notes, []);
    assert.deepEqual([...vendor.calls].sort(), [`${KDS}/cert_chain`, `${KDS}/crl`, vcekUrl()].sort());
    const v = await appraise(evidence, prepared.collateral);
    assert.deepEqual(v.reasons, []);
    assert.equal(v.claims.cvm.verified, true);
  });

  it('passes the CRL on: an ASK it revokes is refused', async () => {
    vendor
      .route(vcekUrl(), answer(sim.endorsementDer))
      .route(`${KDS}/cert_chain`, answer(askArk()))
      .route(`${KDS}/crl`, answer(await sim.crl({ revoked: [sim.askSerial] })));
    const evidence = snpEvidence();
    const v = await appraise(evidence, (await prepareCollateral(evidence, store())).collateral);
    assert.ok(
      v.reasons.some((r) => r.check === 'snp.crl.revoked'),
      v.reasons.map((r) => r.check).join(', '),
    );
  });

  it('asks for no VCEK when the evidence brings a certificate table, but still for the CRL', async () => {
    vendor.route(`${KDS}/crl`, answer(await sim.crl()));
    const evidence = snpEvidence(encodeSnpCertTable([{ kind: 'vcek', der: sim.endorsementDer }]));
    const prepared = await prepareCollateral(evidence, store());
    assert.deepEqual(vendor.calls, [`${KDS}/crl`]);
    assert.deepEqual((await appraise(evidence, prepared.collateral)).reasons, []);
  });

  it("lets the operator's own VCEK and CRL win over the store", async () => {
    const crl = await sim.crl();
    const evidence = snpEvidence();
    const prepared = await prepareCollateral(evidence, store(), {
      base: { snp: { certificates: sim.endorsementPem, crl } },
    });
    assert.deepEqual(vendor.calls, []);
    assert.equal(prepared.collateral.snp?.crl, crl);
    assert.deepEqual((await appraise(evidence, prepared.collateral)).reasons, []);
  });

  it("prepares the cached VCEK of this report's chip and TCB as a value, without fetching", async () => {
    const evidence = snpEvidence();
    const tcb = parseSnpReport(evidence.cvm.report).reportedTcb.toString(16).padStart(16, '0');
    put(dir, `snp/vcek/Genoa/${Buffer.from(sim.chipId).toString('hex')}-${tcb}.der`, sim.endorsementDer);
    const prepared = await prepareCollateral(evidence, store(false));
    assert.equal(prepared.collateral.snp?.certificates, toPem(sim.endorsementDer));
    assert.deepEqual((await appraise(evidence, prepared.collateral)).reasons, []);
    assert.deepEqual(prepared.notes, [
      'snp: the Genoa ASK/ARK chain is not in the cache (snp/cert_chain/Genoa.pem) and fetching is off (the pinned ASK/ARK are used)',
      'snp: the Genoa VCEK CRL is not in the cache (snp/crl/Genoa.der) and fetching is off',
    ]);
  });

  it("adds the RIMs each GPU needs to the operator's RIMs, once per ID, with notes named after the GPU", async () => {
    const VBIOS = 'NV_GPU_VBIOS_1010_0200_882_96005E0001';
    put(dir, `nvidia/rim/${VBIOS}.xml`, vectorBytes(`nvidia/rims/${VBIOS}.xml`));
    const gpu = {
      report: new Uint8Array(
        Buffer.from(readFileSync(vectorPath('nvidia/hopper-535/report.hex'), 'utf8').trim(), 'hex'),
      ),
      certificateChain: readFileSync(vectorPath('nvidia/hopper-535/certs.pem'), 'utf8'),
    };
    const base = { rims: [{ id: 'NV_GPU_DRIVER_GH100_550.144.03', xml: '<base/>' }] };
    const prepared = await prepareCollateral(
      {
        cvm: snpEvidence().cvm,
        gpus: [
          { uuid: 'GPU-0', ...gpu },
          { uuid: 'GPU-1', ...gpu },
        ],
      },
      store(false),
      { base: { gpu: base, snp: { certificates: sim.endorsementPem } } },
    );
    assert.deepEqual(
      prepared.collateral.gpu!.rims!.map((r) => r.id),
      ['NV_GPU_DRIVER_GH100_550.144.03', VBIOS],
    );
    const rimNotes = prepared.notes.filter((n) => n.startsWith('gpu ') && n.includes(': RIM '));
    assert.deepEqual(rimNotes, [
      'gpu GPU-0: RIM NV_GPU_DRIVER_GH100_535.86.09 is not in the cache (nvidia/rim/NV_GPU_DRIVER_GH100_535.86.09.xml) and fetching is off',
      'gpu GPU-1: RIM NV_GPU_DRIVER_GH100_535.86.09 is not in the cache (nvidia/rim/NV_GPU_DRIVER_GH100_535.86.09.xml) and fetching is off',
    ]);
    // OCSP: one lookup per certificate however many GPUs share it (both GPUs bring the same chain),
    // for the device chain above the leaf and for the VBIOS RIM's signer chain.
    const ocspNotes = prepared.notes.filter((n) => n.includes('the OCSP answer for'));
    assert.deepEqual(
      ocspNotes.map((n) => /^(\S+ \S+): the OCSP answer for "([^"]+)"/.exec(n)!.slice(1).join(' ')),
      [
        'gpu GPU-0 GH100 A01 GSP BROM',
        'gpu GPU-0 NVIDIA GH100 Provisioner ICA 1',
        'gpu GPU-0 NVIDIA GH100 Identity',
        `rim ${VBIOS} HCC RIM L4 Signer`,
        `rim ${VBIOS} NVIDIA Reference Value L3 GH100 001`,
        `rim ${VBIOS} NVIDIA Reference Value GH100 CA`,
      ],
    );
  });

  it("merges TDX collateral field by field: the store's (for this FMSPC) over the operator's fixed directory", async () => {
    put(dir, 'tdx/50806f000000/tcbinfo.json', vectorBytes('tdx/collateral/sample_tcbInfo_response'));
    const evidence: NodeEvidence = { cvm: { platform: 'tdx', report: vectorBytes('tdx/spr-v4/quote.dat') }, gpus: [] };
    const prepared = await prepareCollateral(evidence, store(false, COLLATERAL_TIME), {
      base: { tdx: { tcbInfo: '{"tcbInfo":"for another platform"}', rootCrl: new Uint8Array(1) } },
    });
    assert.equal(
      prepared.collateral.tdx!.tcbInfo,
      Buffer.from(vectorBytes('tdx/collateral/sample_tcbInfo_response')).toString('utf8'),
    );
    assert.deepEqual(
      prepared.collateral.tdx!.rootCrl,
      new Uint8Array(1),
      "what the store lacks comes from the operator's directory",
    );
    assert.ok(prepared.notes.every((n) => n.startsWith('tdx: ')));
  });
});
