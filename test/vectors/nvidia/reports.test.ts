import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appraiseGpu, gpuPolicy } from '../../../src/attestation/nvidia/appraise.ts';
import { parseEvidenceList } from '../../../src/attestation/nvidia/evidence-list.ts';
import { compareMeasurements } from '../../../src/attestation/nvidia/measurements.ts';
import { checkGpuReport } from '../../../src/attestation/nvidia/report-check.ts';
import { parseRim } from '../../../src/attestation/nvidia/rim.ts';
import type { RimInput } from '../../../src/attestation/nvidia/rim-choice.ts';
import { type GpuEvidence, type GpuVerifyOptions, verifyGpu } from '../../../src/attestation/nvidia/verify.ts';
import type { GpuReferenceValues } from '../../../src/attestation/reference-values.ts';
import { NVIDIA_DEVICE_IDENTITY_CA_PEM, NVIDIA_RIM_ROOT_CA_PEM } from '../../../src/attestation/roots/nvidia.ts';
import { createGpuSimulator } from '../../../src/attestation/sim/gpu.ts';
import {
  gpuPath,
  hexBytes,
  NO_OCSP_IN_TESTDATA,
  NONCE_535,
  NONCE_550,
  NOW,
  OLD_FIRMWARE,
  RIM_TIME,
  reportBytes,
  text,
} from './testdata.ts';

const hopper550 = { report: reportBytes('hopper-550/report.hex'), certificateChain: text('hopper-550/certs.pem') };
const hopper535 = { report: reportBytes('hopper-535/report.hex'), certificateChain: text('hopper-535/certs.pem') };
const checks = (reasons: readonly { check: string }[]): string[] => [...new Set(reasons.map((r) => r.check))].sort();
/** Verify options for these vectors: no OCSP answers exist for them (testdata.ts). */
const at = (time: Date, policy: object = {}) => ({ at: time, policy: { ...NO_OCSP_IN_TESTDATA, ...policy } });
/** hopper-535's firmware reports no FWID. */
const at535 = (time: Date) => at(time, OLD_FIRMWARE);
/** Verification with these RIMs (under the Manifest's policy when there is one), then the appraisal. */
async function appraise(
  evidence: GpuEvidence,
  rims: readonly RimInput[],
  reference: GpuReferenceValues | undefined,
  nonce: string,
  options: Omit<GpuVerifyOptions, 'collateral'>,
) {
  const verified = await verifyGpu(evidence, {
    ...options,
    collateral: { rims },
    ...(reference ? { policy: gpuPolicy(reference) } : {}),
  });
  return appraiseGpu(verified, reference, { nonce: hexBytes(nonce) });
}

describe('vectors: real NVIDIA GPU reports', () => {
  it('pins the NVIDIA roots exactly as in the vectors', () => {
    assert.equal(
      NVIDIA_DEVICE_IDENTITY_CA_PEM.trim(),
      readFileSync(gpuPath('../roots/nvidia_device_identity_ca.pem'), 'utf8').trim(),
    );
    assert.equal(
      NVIDIA_RIM_ROOT_CA_PEM.trim(),
      readFileSync(gpuPath('../roots/nvidia_rim_root_ca.pem'), 'utf8').trim(),
    );
  });

  it('hopper-550 is authentic with its nonce: driver 550.90.07, VBIOS 96.00.9F.00.01, FWID matches', () => {
    const v = checkGpuReport(hopper550, at(NOW));
    assert.deepEqual(v.reasons, []);
    assert.equal(v.signatureVerified, true);
    assert.equal(v.certChainVerified, true);
    assert.equal(v.fwidMatch, true);
    assert.equal(v.architecture, 'HOPPER');
    const od = v.report!.response.opaqueData;
    assert.equal(od.driverVersion, '550.90.07');
    assert.equal(od.vbiosVersion, '96.00.9F.00.01');
    assert.equal(
      Buffer.from(od.fwid!).toString('hex'),
      'f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d',
    );
    assert.equal(v.report!.response.blocks.length, 64);
    assert.equal(v.report!.trailingBytes, 0);
    assert.deepEqual(
      v.path.map((c) => c.name),
      [
        'GH100 A01 GSP FMC LF',
        'GH100 A01 GSP BROM',
        'NVIDIA GH100 Provisioner ICA 1',
        'NVIDIA GH100 Identity',
        'NVIDIA Device Identity CA',
      ],
    );
    // The device: its GSP BROM certificate's serial; no FEATURE_FLAG in this firmware's report.
    assert.equal(v.deviceId, '41431d480fe5e87274');
    assert.equal(v.mode, 'LEGACY');
    assert.deepEqual(
      v.revocation.map((r) => [r.certificate, r.status]),
      [
        ['GH100 A01 GSP BROM', 'not-checked'],
        ['NVIDIA GH100 Provisioner ICA 1', 'not-checked'],
        ['NVIDIA GH100 Identity', 'not-checked'],
      ],
    );
  });

  it('refuses hopper-550 under the default policy without OCSP answers, naming every certificate above the leaf', () => {
    const v = checkGpuReport(hopper550, { at: NOW });
    assert.deepEqual(checks(v.reasons), ['gpu.ocsp']);
    assert.deepEqual(
      v.reasons.map((r) => /"([^"]+)"/.exec(r.message)?.[1]),
      ['GH100 A01 GSP BROM', 'NVIDIA GH100 Provisioner ICA 1', 'NVIDIA GH100 Identity'],
    );
  });

  it('refuses hopper-535 under the default policy: its firmware reports no FWID', () => {
    const v = checkGpuReport(hopper535, at(NOW));
    assert.deepEqual(checks(v.reasons), ['gpu.fwid']);
    assert.match(v.reasons[0]!.message, /no FWID/);
  });

  it('hopper-535 is authentic with its nonce: driver 535.86.09, VBIOS 96.00.5E.00.01, no FWID in the report', () => {
    const v = checkGpuReport(hopper535, at535(NOW));
    assert.deepEqual(v.reasons, []);
    assert.equal(v.fwidMatch, 'absent');
    assert.equal(v.report!.response.opaqueData.driverVersion, '535.86.09');
    assert.equal(v.report!.response.opaqueData.vbiosVersion, '96.00.5E.00.01');
    assert.equal(v.report!.response.opaqueData.fwid, undefined);
  });

  it('hopper-535: all 12 active measurements match the PROD VBIOS RIM (NVDEC0 disabled, index 35 is a driver index)', () => {
    const v = checkGpuReport(hopper535, at535(NOW));
    const rim = parseRim(text('rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml'));
    const c = compareMeasurements(v.report!, { vbios: rim });
    assert.equal(c.active.vbios, 12);
    assert.deepEqual(c.matched, [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]);
    assert.deepEqual(c.mismatched, []);
    assert.equal(v.report!.response.opaqueData.nvdec0Status, 0x55);
  });

  it('hopper-535 appraised with its VBIOS RIM: refused only because no driver RIM for 535.86.09 verifies', async () => {
    const rims = [
      { xml: text('rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml'), id: 'NV_GPU_VBIOS_1010_0200_882_96005E0001' },
    ];
    // No OCSP answers and no FWID for this vector: the Manifest opts out of both (testdata.ts).
    const reference = {
      architectures: ['HOPPER' as const],
      driverVersions: ['535.86.09'],
      vbiosVersions: ['96.00.5E.00.01'],
      requireFWID: false,
      ocsp: { required: false },
    };
    const strict = await appraise(hopper535, rims, reference, NONCE_535, { at: RIM_TIME });
    assert.deepEqual(checks(strict.reasons), ['gpu.rim.missing']);
    assert.match(strict.reasons[0]!.message, /no driver RIM for driver 535\.86\.09/);
    const digest = createHash('sha384')
      .update(readFileSync(gpuPath('rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml')))
      .digest('hex');
    assert.equal(strict.claims.rims.vbios?.digest, digest);
    assert.equal(strict.claims.nvidia['x-nvidia-gpu-vbios-rim-signature-verified'], true);
    assert.equal(strict.claims.nvidia.measres, 'fail');

    const lax = await appraise(hopper535, rims, { ...reference, requireRIMs: false, rimDigests: [digest] }, NONCE_535, {
      at: RIM_TIME,
    });
    assert.deepEqual(lax.reasons, []);
    assert.equal(lax.verified, true);
    // Accepted, but not silently: the driver measurements were compared with nothing.
    assert.equal(lax.claims.measurements?.status, 'not-evaluated');
    assert.deepEqual(
      lax.claims.measurements?.notEvaluated.map((n) => n.rim),
      ['driver'],
    );
  });

  it('hopper-535 with the edited driver RIM: its signature is refused, and its measurements do not match', async () => {
    const rims = ['NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch', 'NV_GPU_VBIOS_1010_0200_882_96005E0001'].map(
      (id) => ({ id, xml: text(`rims/${id}.xml`) }),
    );
    const v = await appraise(hopper535, rims, undefined, NONCE_535, at535(RIM_TIME));
    assert.deepEqual(checks(v.reasons), ['gpu.measurement', 'gpu.rim.signature']);
    assert.equal(v.claims.rims.driver?.id, 'NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch');
    assert.equal(v.claims.rims.driver?.signatureVerified, false);
    assert.equal(v.claims.rims.vbios?.signatureVerified, true);
  });

  it('hopper-535 with the VBIOS mismatch twin first: that RIM is used and measurement 9 is refused', async () => {
    const rims = [
      'NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch',
      'NV_GPU_VBIOS_1010_0200_882_96005E0001',
    ].map((id) => ({ id, xml: text(`rims/${id}.xml`) }));
    const v = await appraise(
      hopper535,
      rims,
      {
        architectures: ['HOPPER'],
        driverVersions: ['535.86.09'],
        vbiosVersions: ['96.00.5E.00.01'],
        requireRIMs: true,
        requireFWID: false,
        ocsp: { required: false },
      },
      NONCE_535,
      { at: RIM_TIME },
    );
    assert.deepEqual(checks(v.reasons), ['gpu.measurement', 'gpu.rim.missing']);
    assert.deepEqual(v.claims.measurements?.mismatched, [9]);
    assert.equal(v.claims.rims.unused.length, 1);
  });

  it('refuses a wrong nonce with gpu.nonce only', async () => {
    const v = await appraise(hopper550, [], undefined, NONCE_535, at(NOW, { requireRims: false }));
    assert.deepEqual(checks(v.reasons), ['gpu.nonce']);
    assert.equal(v.claims.nvidia['x-nvidia-gpu-attestation-report-nonce-match'], false);
  });

  it('refuses negative/invalid-signature.hex with hopper-550 certificates: bad signature', () => {
    const report = reportBytes('negative/invalid-signature.hex');
    const v = checkGpuReport({ report, certificateChain: hopper550.certificateChain }, at(NOW));
    assert.equal(v.signatureVerified, false);
    assert.ok(checks(v.reasons).includes('gpu.signature'));
    assert.equal(v.certChainVerified, true);
  });

  const chains: Array<[string, RegExp, string[]]> = [
    // The root alone names no GPU chip, has no FWID and cannot have signed the report.
    ['hopper_cert_chain_case2.txt', /only the root/, ['gpu.arch', 'gpu.cert-chain', 'gpu.fwid', 'gpu.signature']],
    ['hopper_cert_chain_case3.txt', /is not issued by the next certificate/, ['gpu.cert-chain']],
    // Without the leaf, the BROM certificate (a CA, without FWID) stands in for it.
    [
      'hopper_cert_chain_case4.txt',
      /CA certificate, not an end-entity one/,
      ['gpu.cert-chain', 'gpu.fwid', 'gpu.signature'],
    ],
  ];
  for (const [file, message, expected] of chains) {
    it(`refuses the broken chain negative/${file}`, () => {
      const v = checkGpuReport({ report: hopper550.report, certificateChain: text(`negative/${file}`) }, at(NOW));
      assert.equal(v.certChainVerified, false);
      assert.deepEqual(checks(v.reasons), expected);
      assert.ok(
        v.reasons.some((r) => r.check === 'gpu.cert-chain' && message.test(r.message)),
        JSON.stringify(v.reasons),
      );
    });
  }

  it('never trusts a root that comes with the evidence: hopper-550 against another anchor is refused', async () => {
    const sim = await createGpuSimulator();
    const v = checkGpuReport(hopper550, { at: NOW, trust: { device: [sim.roots.device] } });
    assert.deepEqual(checks(v.reasons), ['gpu.cert-chain']);
    assert.match(v.reasons[0]!.message, /not a pinned trust anchor/);
  });

  it("accepts NVIDIA's SDK evidence list built from hopper-550 and appraises each GPU", async () => {
    const list = JSON.stringify([
      {
        arch: 'HOPPER',
        certificate: Buffer.from(hopper550.certificateChain).toString('base64'),
        evidence: Buffer.from(hopper550.report).toString('base64'),
        nonce: NONCE_550,
      },
    ]);
    const items = parseEvidenceList(list);
    assert.equal(items.length, 1);
    assert.equal(items[0]!.nonce, NONCE_550);
    // Its RIMs are not public: measurements are not evaluated, which the verdict states.
    const v = await appraise(items[0]!, [], undefined, NONCE_550, at(NOW, { requireRims: false }));
    assert.deepEqual(v.reasons, []);
    assert.equal(v.claims.driverVersion, '550.90.07');
    assert.equal(v.claims.nvidia['x-nvidia-gpu-arch-check'], true);
    assert.equal(v.claims.nvidia['x-nvidia-gpu-attestation-report-nonce-match'], true);
    assert.equal(v.claims.measurements?.status, 'not-evaluated');
  });

  it("refuses an evidence list whose declared architecture is not the chain's", async () => {
    const v = checkGpuReport({ ...hopper550, architecture: 'BLACKWELL' }, at(NOW));
    assert.deepEqual(checks(v.reasons), ['gpu.arch']);
  });
});
