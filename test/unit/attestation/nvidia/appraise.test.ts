/**
 * Table-driven appraisal: one valid simulated fixture (with the simulated OCSP responder's
 * answers for both chains), one change per case, and the exact set of check ids the change must
 * produce.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { appraiseGpu, type GpuExpectation, gpuPolicy } from '../../../../src/attestation/nvidia/appraise.ts';
import { VerificationCache } from '../../../../src/attestation/nvidia/cache.ts';
import { GPU_CHECKS } from '../../../../src/attestation/nvidia/checks.ts';
import type { OcspAnswer } from '../../../../src/attestation/nvidia/ocsp-answer.ts';
import type { RimInput } from '../../../../src/attestation/nvidia/rim-choice.ts';
import { type GpuEvidence, type GpuVerifyOptions, verifyGpu } from '../../../../src/attestation/nvidia/verify.ts';
import type { GpuReferenceValues } from '../../../../src/attestation/reference-values.ts';
import {
  createGpuSimulator,
  type GpuFields,
  type GpuSimulator,
  type RimOptions,
} from '../../../../src/attestation/sim/gpu.ts';

const AT = new Date('2025-06-01T00:00:00Z');
const NONCE = new Uint8Array(32).map((_, i) => i * 7 + 1);
const REFERENCE: GpuReferenceValues = {
  architectures: ['HOPPER'],
  driverVersions: ['550.90.07'],
  vbiosVersions: ['96.00.9F.00.01'],
};

interface Case {
  name: string;
  fields?: Partial<GpuFields>;
  rims?: RimOptions | 'foreign' | 'none' | 'tampered';
  reference?: Partial<GpuReferenceValues>;
  expectation?: GpuExpectation;
  mutate?: (report: Uint8Array) => void;
  ocsp?: (sim: GpuSimulator, gpu: Awaited<ReturnType<GpuSimulator['gpu']>>) => Array<Uint8Array | OcspAnswer>;
  /** Without the simulated responder's answers: only the answers in `ocsp` count. */
  noResponder?: boolean;
  foreignDevice?: boolean;
  checks: string[];
}

/** Verification under the Manifest's policy, then the appraisal: what the Coordinator does for one GPU. */
async function appraise(
  evidence: GpuEvidence,
  rims: readonly RimInput[],
  reference: GpuReferenceValues,
  expectation: GpuExpectation,
  options: Omit<GpuVerifyOptions, 'collateral' | 'policy'> & { ocsp?: readonly (Uint8Array | OcspAnswer)[] },
) {
  const { ocsp, ...rest } = options;
  const verified = await verifyGpu(evidence, {
    ...rest,
    collateral: { rims, ...(ocsp ? { ocsp } : {}) },
    policy: gpuPolicy(reference),
  });
  return appraiseGpu(verified, reference, expectation);
}

const DAY = 86_400_000;
/** Current at AT: issued a day before, good for a day after. */
const CURRENT = { thisUpdate: new Date(AT.getTime() - DAY), nextUpdate: new Date(AT.getTime() + DAY) };
const STALE = { thisUpdate: new Date('2025-01-01T00:00:00Z'), nextUpdate: new Date('2025-02-01T00:00:00Z') };
/** An answer whose signature no longer verifies: its last byte (the end of the signature) flipped. */
const forged = (der: Uint8Array): Uint8Array => {
  const copy = new Uint8Array(der);
  copy[copy.length - 1]! ^= 0x01;
  return copy;
};

const cases: Case[] = [
  { name: 'the fixture itself', checks: [] },
  { name: 'a wrong nonce', expectation: { nonce: new Uint8Array(32).fill(9) }, checks: ['gpu.nonce'] },
  {
    name: 'a driver version the Manifest does not allow',
    reference: { driverVersions: ['535.86.09'] },
    checks: ['gpu.driver-version'],
  },
  {
    name: 'a VBIOS version the Manifest does not allow',
    reference: { vbiosVersions: ['96.00.5E.00.01'] },
    checks: ['gpu.vbios-version'],
  },
  {
    name: 'an architecture the Manifest does not allow',
    reference: { architectures: ['BLACKWELL'] },
    checks: ['gpu.arch'],
  },
  {
    name: 'a driver measurement that differs from the RIM',
    fields: { measurements: { 7: new Uint8Array(48).fill(0xee) } },
    checks: ['gpu.measurement'],
  },
  {
    name: 'a VBIOS measurement that differs from the RIM',
    fields: { measurements: { 3: new Uint8Array(48).fill(0xee) } },
    checks: ['gpu.measurement'],
  },
  { name: 'RIMs for another driver version only', rims: { driverVersion: '550.54.15' }, checks: ['gpu.rim.missing'] },
  { name: 'RIMs for another VBIOS only', rims: { vbiosVersion: '96.00.74.00.11' }, checks: ['gpu.rim.missing'] },
  { name: 'RIMs signed under a foreign RIM root', rims: 'foreign', checks: ['gpu.rim.cert-chain'] },
  { name: 'a RIM edited after signing', rims: 'tampered', checks: ['gpu.rim.signature'] },
  { name: 'no RIMs while the Manifest requires them', rims: 'none', checks: ['gpu.rim.missing'] },
  {
    name: 'no RIMs while the Manifest does not require them',
    rims: 'none',
    reference: { requireRIMs: false },
    checks: [],
  },
  {
    name: 'RIM digests the Manifest does not pin',
    reference: { rimDigests: ['00'.repeat(48)] },
    checks: ['gpu.rim.digest'],
  },
  {
    name: 'a leaf certificate expired at the appraisal time',
    fields: { leafNotAfter: new Date('2025-05-01T00:00:00Z') },
    checks: ['gpu.cert-chain'],
  },
  {
    name: 'a leaf certificate not yet valid at the appraisal time',
    fields: { leafNotBefore: new Date('2025-07-01T00:00:00Z') },
    checks: ['gpu.cert-chain'],
  },
  {
    name: 'a leaf FWID that differs from the report',
    fields: { leafFwid: new Uint8Array(48).fill(1) },
    checks: ['gpu.fwid'],
  },
  { name: 'a report without FWID (older firmware) by default', fields: { fwid: null }, checks: ['gpu.fwid'] },
  {
    name: 'a report without FWID where the Manifest sets requireFWID: false',
    fields: { fwid: null },
    reference: { requireFWID: false },
    checks: [],
  },
  {
    name: 'a leaf FWID that differs from the report even where requireFWID is false',
    fields: { leafFwid: new Uint8Array(48).fill(1) },
    reference: { requireFWID: false },
    checks: ['gpu.fwid'],
  },
  {
    name: 'a changed responder nonce (signature no longer covers it)',
    mutate: (r) => {
      r[37 + 8 + 64 * 55] = r[37 + 8 + 64 * 55]! ^ 0x01;
    },
    checks: ['gpu.signature'],
  },
  { name: 'evidence under a foreign device root', foreignDevice: true, checks: ['gpu.cert-chain'] },
  { name: 'trailing bytes after the signature', fields: { trailingBytes: 9 }, checks: [] },
  {
    name: 'NVDEC0 disabled: RIM index 35 is not compared',
    fields: { nvdec0Disabled: true, measurements: { 35: new Uint8Array(48).fill(0x35) } },
    checks: [],
  },
  {
    name: 'NVDEC0 enabled: RIM index 35 is compared',
    fields: { measurements: { 35: new Uint8Array(48).fill(0x35) } },
    checks: ['gpu.measurement'],
  },
  {
    name: 'OCSP answers from files, good for every certificate above the leaf and of the RIM chain',
    noResponder: true,
    ocsp: (s, g) => [
      s.ocsp(g, 1, 'good'),
      s.ocsp(g, 2, 'good'),
      s.ocsp(g, 3, 'good'),
      s.rimOcsp(0, 'good'),
      s.rimOcsp(1, 'good'),
    ],
    checks: [],
  },
  { name: 'no OCSP answers at all (strict default)', noResponder: true, checks: ['gpu.ocsp', 'gpu.rim.ocsp'] },
  {
    name: 'no OCSP answers where the Manifest sets ocsp.required: false',
    noResponder: true,
    reference: { ocsp: { required: false } },
    checks: [],
  },
  {
    name: 'an answer for the device chain only: the RIM signer chain is unchecked',
    noResponder: true,
    ocsp: (s, g) => [s.ocsp(g, 1, 'good'), s.ocsp(g, 2, 'good'), s.ocsp(g, 3, 'good')],
    checks: ['gpu.rim.ocsp'],
  },
  {
    name: 'an OCSP answer that says revoked',
    ocsp: (s, g) => [s.ocsp(g, 2, 'revoked', CURRENT)],
    checks: ['gpu.ocsp'],
  },
  {
    name: "a revoked intermediate within the Manifest's grace period",
    ocsp: (s, g) => [s.ocsp(g, 2, 'revoked', { ...CURRENT, revokedAt: new Date(AT.getTime() - 3_600_000) })],
    reference: { ocsp: { revokedGracePeriodHours: 2 } },
    checks: [],
  },
  {
    name: "a revoked intermediate past the Manifest's grace period",
    ocsp: (s, g) => [s.ocsp(g, 2, 'revoked', { ...CURRENT, revokedAt: new Date(AT.getTime() - 3 * 3_600_000) })],
    reference: { ocsp: { revokedGracePeriodHours: 2 } },
    checks: ['gpu.ocsp'],
  },
  {
    name: 'an OCSP status "unknown" (strict default)',
    ocsp: (s, g) => [s.ocsp(g, 1, 'unknown', CURRENT)],
    checks: ['gpu.ocsp'],
  },
  {
    name: 'an OCSP status "unknown" where the Manifest sets ocsp.allowUnknown',
    ocsp: (s, g) => [s.ocsp(g, 1, 'unknown', CURRENT)],
    reference: { ocsp: { allowUnknown: true } },
    checks: [],
  },
  { name: 'a stale OCSP answer', ocsp: (s, g) => [s.ocsp(g, 1, 'good', STALE)], checks: ['gpu.ocsp'] },
  {
    name: 'an OCSP answer not yet issued at the appraisal time',
    ocsp: (s, g) => [
      s.ocsp(g, 1, 'good', { thisUpdate: new Date(AT.getTime() + DAY), nextUpdate: new Date(AT.getTime() + 2 * DAY) }),
    ],
    checks: ['gpu.ocsp'],
  },
  {
    name: 'a stale OCSP answer where the Manifest sets ocsp.required: false',
    ocsp: (s, g) => [s.ocsp(g, 1, 'good', STALE)],
    reference: { ocsp: { required: false } },
    checks: [],
  },
  {
    name: 'a forged OCSP answer (signature does not verify)',
    ocsp: (s, g) => [forged(s.ocsp(g, 1, 'good', CURRENT))],
    checks: ['gpu.ocsp'],
  },
  {
    name: 'a forged OCSP answer even where the Manifest sets ocsp.required: false',
    ocsp: (s, g) => [forged(s.ocsp(g, 1, 'good', CURRENT))],
    reference: { ocsp: { required: false } },
    checks: ['gpu.ocsp'],
  },
  {
    name: 'a replayed OCSP answer (not the nonce the request sent)',
    ocsp: (s, g) => [
      {
        der: s.ocsp(g, 1, 'good', { ...CURRENT, nonce: new Uint8Array(32).fill(1) }),
        nonce: new Uint8Array(32).fill(2),
      },
    ],
    checks: ['gpu.ocsp'],
  },
  {
    name: 'an OCSP answer without the nonce the request sent',
    ocsp: (s, g) => [{ der: s.ocsp(g, 1, 'good', CURRENT), nonce: new Uint8Array(32).fill(2) }],
    checks: ['gpu.ocsp'],
  },
  {
    name: 'a fresh OCSP answer with the nonce the request sent',
    noResponder: true,
    ocsp: (s, g) => [
      {
        der: s.ocsp(g, 1, 'good', { ...CURRENT, nonce: new Uint8Array(32).fill(2) }),
        nonce: new Uint8Array(32).fill(2),
      },
      s.ocsp(g, 2, 'good'),
      s.ocsp(g, 3, 'good'),
      s.rimOcsp(0, 'good'),
      s.rimOcsp(1, 'good'),
    ],
    checks: [],
  },
  { name: 'a revoked RIM signer', ocsp: (s) => [s.rimOcsp(0, 'revoked', CURRENT)], checks: ['gpu.rim.ocsp'] },
  {
    name: 'bytes that are no OCSP answer',
    ocsp: () => [new Uint8Array([0x30, 0x03, 0x0a, 0x01, 0x00])],
    checks: ['gpu.ocsp', 'gpu.rim.ocsp'],
  },
  { name: 'a known multi-GPU mode (MPT)', fields: { mode: 'MPT' }, checks: [] },
  { name: 'an unknown FEATURE_FLAG', fields: { mode: 7 }, checks: ['gpu.mode'] },
  {
    name: 'a tampered driver measurement where the Manifest sets requireRIMs: false (a trusted RIM contradicts it)',
    fields: { measurements: { 7: new Uint8Array(48).fill(0xee) } },
    reference: { requireRIMs: false },
    checks: ['gpu.measurement'],
  },
];

describe('nvidia/verify and appraise: one change to a valid simulated GPU per case', function () {
  this.timeout(60_000);
  let sim: GpuSimulator;
  let foreign: GpuSimulator;
  let rims: Awaited<ReturnType<GpuSimulator['rims']>>;
  const cache = new VerificationCache();

  before(async () => {
    sim = await createGpuSimulator();
    // Same seed, so the same golden measurements, but its own keys and roots.
    foreign = await createGpuSimulator();
    rims = await sim.rims();
  });

  for (const c of cases) {
    it(`${c.checks.length === 0 ? 'accepts' : 'refuses'} ${c.name}${c.checks.length ? ` (${c.checks.join(', ')})` : ''}`, async () => {
      const gpu = await (c.foreignDevice ? foreign : sim).gpu('GPU-0000', { nonce: NONCE, ...c.fields });
      const report = new Uint8Array(gpu.report);
      c.mutate?.(report);
      let given = rims;
      if (c.rims === 'foreign') given = await foreign.rims();
      else if (typeof c.rims === 'object') given = await sim.rims(c.rims);
      const rimInputs =
        c.rims === 'none'
          ? []
          : c.rims === 'tampered'
            ? [
                {
                  xml: given.driver.replace(
                    'index="63" active="False" alternatives="1" ns2:Hash0="0',
                    'index="63" active="False" alternatives="1" ns2:Hash0="1',
                  ),
                  id: given.driverId,
                },
                { xml: given.vbios, id: given.vbiosId },
              ]
            : [
                { xml: given.driver, id: given.driverId },
                { xml: given.vbios, id: given.vbiosId },
              ];
      if (c.rims === 'tampered') assert.notEqual(rimInputs[0]!.xml, given.driver);
      const evidence: GpuEvidence = {
        report,
        certificateChain: gpu.certificateChainPem,
        architecture: 'HOPPER',
        uuid: 'GPU-0000',
      };
      const answers = c.ocsp?.(sim, gpu) ?? [];
      // The simulated responders answer for every certificate the given answers leave out.
      const responded = c.noResponder
        ? []
        : [sim, foreign].flatMap((s) => s.ocspAnswers([gpu.certificateChainPem], AT, answers));
      const v = await appraise(
        evidence,
        rimInputs,
        { ...REFERENCE, ...c.reference },
        c.expectation ?? { nonce: NONCE },
        {
          at: AT,
          trust: { device: [sim.roots.device], rim: [sim.roots.rim] },
          cache,
          ocsp: [...answers, ...responded],
        },
      );
      assert.deepEqual(
        [...new Set(v.reasons.map((r) => r.check))].sort(),
        c.checks,
        JSON.stringify(v.reasons, null, 1),
      );
      assert.equal(v.verified, c.checks.length === 0);
      for (const r of v.reasons) assert.ok(r.check in GPU_CHECKS, `${r.check} is not a documented GPU check`);
    });
  }

  it('states the claims a Manifest and NVIDIA-style policies read', async () => {
    const gpu = await sim.gpu('GPU-0000', { nonce: NONCE, trailingBytes: 3 });
    const v = await appraise(
      { report: gpu.report, certificateChain: gpu.certificateChainPem, uuid: 'GPU-0000' },
      [{ xml: rims.vbios }, { xml: rims.driver }],
      REFERENCE,
      { nonce: NONCE },
      {
        at: AT,
        trust: { device: [sim.roots.device], rim: [sim.roots.rim] },
        cache,
        ocsp: sim.ocspAnswers([gpu.certificateChainPem], AT),
      },
    );
    assert.equal(v.verified, true);
    const c = v.claims;
    assert.equal(c.nonce, Buffer.from(NONCE).toString('hex'));
    assert.equal(c.driverVersion, '550.90.07');
    assert.equal(c.vbiosVersion, '96.00.9F.00.01');
    assert.equal(c.trailingBytes, 3);
    assert.equal(c.rims.driver?.version, '550.90.07');
    assert.match(c.rims.vbios!.digest, /^[0-9a-f]{96}$/);
    assert.deepEqual(c.measurements, { status: 'matched', matched: 28, mismatched: [], skipped: [], notEvaluated: [] });
    assert.equal(c.mode, 'LEGACY');
    // The device is named by the serial of the certificate that issued the leaf (GSP BROM).
    assert.equal(c.deviceId, new X509Certificate(gpu.certificatesDer[1]!).serialNumber.toLowerCase());
    assert.deepEqual(
      c.revocation.map((r) => [r.certificate, r.status, r.accepted]),
      [
        ['GH100 A01 GSP BROM', 'good', true],
        ['Simulated NVIDIA GH100 Provisioner ICA 1', 'good', true],
        ['Simulated NVIDIA GH100 Identity', 'good', true],
      ],
    );
    assert.deepEqual(
      c.rims.driver!.revocation.map((r) => r.status),
      ['good', 'good'],
    );
    assert.equal(c.nvidia.measres, 'success');
    assert.equal(c.nvidia.secboot, true);
    for (const name of [
      'x-nvidia-gpu-arch-check',
      'x-nvidia-gpu-attestation-report-parsed',
      'x-nvidia-gpu-attestation-report-nonce-match',
      'x-nvidia-gpu-attestation-report-signature-verified',
      'x-nvidia-gpu-attestation-report-cert-chain-fwid-match',
      'x-nvidia-gpu-driver-rim-signature-verified',
      'x-nvidia-gpu-vbios-rim-signature-verified',
      'x-nvidia-gpu-driver-rim-measurements-available',
      'x-nvidia-gpu-vbios-index-no-conflict',
    ]) {
      assert.equal(c.nvidia[name], true, name);
    }
    assert.deepEqual(c.nvidia['x-nvidia-gpu-attestation-report-cert-chain'], {
      'x-nvidia-cert-status': 'valid',
      'x-nvidia-cert-ocsp-status': 'good',
      'x-nvidia-cert-expiration-date': '2044-01-01T00:00:00.000Z',
    });
  });

  it('verifies a simulated Blackwell GPU as BLACKWELL', async () => {
    const bw = await createGpuSimulator({ architecture: 'BLACKWELL' });
    const gpu = await bw.gpu('GPU-B', { nonce: NONCE });
    const r = await bw.rims();
    const v = await appraise(
      { report: gpu.report, certificateChain: gpu.certificateChainPem, architecture: 'BLACKWELL' },
      [
        { xml: r.driver, id: r.driverId },
        { xml: r.vbios, id: r.vbiosId },
      ],
      { ...REFERENCE, architectures: ['BLACKWELL'] },
      { nonce: NONCE },
      {
        at: AT,
        trust: { device: [bw.roots.device], rim: [bw.roots.rim] },
        ocsp: bw.ocspAnswers([gpu.certificateChainPem], AT),
      },
    );
    assert.deepEqual(v.reasons, []);
    assert.equal(v.claims.architecture, 'BLACKWELL');
    // The FWID came from the leaf's DiceTcbInfo (2.23.133.5.4.1.1) and was compared.
    assert.match(v.claims.fwid!, /^[0-9a-f]{96}$/);
    const mismatch = await bw.gpu('GPU-B', { nonce: NONCE, leafFwid: new Uint8Array(48).fill(2) });
    const refused = await appraise(
      { report: mismatch.report, certificateChain: mismatch.certificateChainPem },
      [],
      { ...REFERENCE, architectures: ['BLACKWELL'], requireRIMs: false },
      { nonce: NONCE },
      {
        at: AT,
        trust: { device: [bw.roots.device] },
        ocsp: bw.ocspAnswers([mismatch.certificateChainPem], AT),
      },
    );
    assert.deepEqual(
      refused.reasons.map((r) => r.check),
      ['gpu.fwid'],
    );
  });

  it('with requireRIMs: false reports measurements as not evaluated instead of accepting them silently', async () => {
    const reference = { ...REFERENCE, requireRIMs: false };
    const tampered = await sim.gpu('GPU-0000', {
      nonce: NONCE,
      measurements: { 7: new Uint8Array(48).fill(0xee), 3: new Uint8Array(48).fill(0xee) },
    });
    const options = {
      at: AT,
      trust: { device: [sim.roots.device], rim: [sim.roots.rim] },
      cache,
      ocsp: sim.ocspAnswers([tampered.certificateChainPem], AT),
    };
    const evidence = { report: tampered.report, certificateChain: tampered.certificateChainPem };

    const none = await appraise(evidence, [], reference, { nonce: NONCE }, options);
    assert.deepEqual(none.reasons, []);
    assert.equal(none.claims.measurements?.status, 'not-evaluated');
    assert.deepEqual(
      none.claims.measurements?.notEvaluated.map((n) => n.rim),
      ['driver', 'vbios'],
    );
    assert.equal(none.claims.nvidia.measres, 'fail');

    // RIMs under a root nobody trusts say nothing: not evaluated either, and nothing compared with them.
    const untrusted = await foreign.rims();
    const foreignRims = await appraise(
      evidence,
      [
        { xml: untrusted.driver, id: untrusted.driverId },
        { xml: untrusted.vbios, id: untrusted.vbiosId },
      ],
      reference,
      { nonce: NONCE },
      options,
    );
    assert.deepEqual(foreignRims.reasons, []);
    assert.equal(foreignRims.claims.measurements?.status, 'not-evaluated');
    assert.match(foreignRims.claims.measurements!.notEvaluated[0]!.why, /gpu\.rim\.cert-chain/);

    // A trusted RIM for one kind: its measurements are compared and the tampered one refused.
    const vbiosOnly = await appraise(
      evidence,
      [{ xml: rims.vbios, id: rims.vbiosId }],
      reference,
      { nonce: NONCE },
      options,
    );
    assert.deepEqual(
      vbiosOnly.reasons.map((r) => r.check),
      ['gpu.measurement'],
    );
    assert.match(vbiosOnly.reasons[0]!.message, /measurement 3 /);
    assert.equal(vbiosOnly.claims.measurements?.status, 'mismatched');
  });

  it('is not fooled by the pinned NVIDIA roots: simulated evidence is refused without its roots', async () => {
    const gpu = await sim.gpu('GPU-0000', { nonce: NONCE });
    const v = await appraise(
      { report: gpu.report, certificateChain: gpu.certificateChainPem },
      [{ xml: rims.driver }, { xml: rims.vbios }],
      REFERENCE,
      { nonce: NONCE },
      { at: AT },
    );
    assert.deepEqual([...new Set(v.reasons.map((r) => r.check))].sort(), ['gpu.cert-chain', 'gpu.rim.cert-chain']);
  });
});
