import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GpuCliOptions, gpuCommand, runVerifyGpu } from '../../../../src/cli/verify/gpu.ts';
import { gpuPath, NONCE_535, NONCE_550, text } from '../../../vectors/nvidia/testdata.ts';

async function run(opts: GpuCliOptions): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runVerifyGpu(
    opts,
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
  );
  return { code, out, err };
}

describe('attestor verify gpu', function () {
  this.timeout(30_000);
  const at = '2026-01-15T00:00:00Z';
  const hopper550 = { report: gpuPath('hopper-550/report.hex'), certs: gpuPath('hopper-550/certs.pem') };

  it('exits 1 for hopper-550 under the defaults of a Manifest without optional fields: no OCSP answers, no RIMs', async () => {
    const r = await run({ ...hopper550, nonce: NONCE_550, at, json: true });
    assert.equal(r.code, 1, r.out);
    const v = JSON.parse(r.out);
    assert.deepEqual([...new Set(v.reasons.map((x: { check: string }) => x.check))].sort(), [
      'gpu.ocsp',
      'gpu.rim.missing',
    ]);
  });

  it('exits 0 for hopper-550 with its nonce when OCSP and RIMs are relaxed by flag, and its JSON says what was not checked', async () => {
    // The testdata has no OCSP answers for this chain and NVIDIA's RIMs for it are not public.
    const r = await run({
      ...hopper550,
      nonce: NONCE_550,
      at,
      json: true,
      allowMissingOcsp: true,
      allowMissingRims: true,
    });
    assert.equal(r.code, 0, r.out);
    const v = JSON.parse(r.out);
    assert.equal(v.verified, true);
    const gpu = v.claims.gpus[0];
    assert.equal(gpu.nonce, NONCE_550);
    assert.equal(gpu.driverVersion, '550.90.07');
    assert.equal(gpu.vbiosVersion, '96.00.9F.00.01');
    assert.equal(gpu.nvidia['x-nvidia-gpu-attestation-report-signature-verified'], true);
    assert.equal(gpu.nvidia['x-nvidia-gpu-attestation-report-cert-chain-fwid-match'], true);
    assert.equal(gpu.nvidia['x-nvidia-gpu-attestation-report-cert-chain']['x-nvidia-cert-ocsp-status'], 'not-checked');
    assert.equal(gpu.measurements.status, 'not-evaluated');
  });

  it('exits 1 for hopper-535 without FWID unless --allow-missing-fwid', async () => {
    const opts = {
      report: gpuPath('hopper-535/report.hex'),
      certs: gpuPath('hopper-535/certs.pem'),
      nonce: NONCE_535,
      at,
      allowMissingOcsp: true,
      allowMissingRims: true,
      json: true,
    };
    const strict = await run(opts);
    assert.equal(strict.code, 1);
    assert.deepEqual(
      JSON.parse(strict.out).reasons.map((x: { check: string }) => x.check),
      ['gpu.fwid'],
    );
    assert.equal((await run({ ...opts, allowMissingFwid: true })).code, 0);
  });

  it('exits 1 for an --ocsp file that is no OCSP answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'attestor-gpu-'));
    const file = join(dir, 'answer.der');
    writeFileSync(file, Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x06]));
    const r = await run({ ...hopper550, nonce: NONCE_550, at, ocsp: [file], allowMissingRims: true, json: true });
    assert.equal(r.code, 1);
    assert.match(JSON.parse(r.out).reasons[0].message, /OCSP answer 1 is not successful \(responseStatus 6\)/);
  });

  it('exits 1 with gpu.nonce for another nonce, in text form', async () => {
    const r = await run({ ...hopper550, nonce: NONCE_535, at });
    assert.equal(r.code, 1);
    assert.match(r.out, /^REFUSED\n/);
    assert.match(r.out, /\[gpu\.nonce\] GPU 0: the report's request nonce 931d8dd0/);
  });

  it('exits 1 for hopper-535 with only its VBIOS RIM: the driver measurements cannot be checked', async () => {
    const r = await run({
      report: gpuPath('hopper-535/report.hex'),
      certs: gpuPath('hopper-535/certs.pem'),
      nonce: NONCE_535,
      at: '2025-06-01T00:00:00Z',
      rim: [gpuPath('rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml')],
      allowMissingFwid: true,
      allowMissingOcsp: true,
      json: true,
    });
    assert.equal(r.code, 1);
    const v = JSON.parse(r.out);
    assert.deepEqual(
      v.reasons.map((x: { check: string }) => x.check),
      ['gpu.rim.missing'],
    );
    assert.equal(v.claims.gpus[0].rims.vbios.id, 'NV_GPU_VBIOS_1010_0200_882_96005E0001');
    assert.equal(v.claims.gpus[0].measurements.matched, 12);
  });

  it('reads an SDK evidence list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'attestor-gpu-'));
    const file = join(dir, 'evidence.json');
    writeFileSync(
      file,
      JSON.stringify([
        {
          arch: 'HOPPER',
          certificate: Buffer.from(text('hopper-550/certs.pem')).toString('base64'),
          evidence: Buffer.from(text('hopper-550/report.hex').trim(), 'hex').toString('base64'),
          nonce: NONCE_550,
        },
      ]),
    );
    assert.equal(
      (await run({ evidence: file, nonce: NONCE_550, at, allowMissingOcsp: true, allowMissingRims: true })).code,
      0,
    );
    writeFileSync(file, '{"not": "a list"}');
    const bad = await run({ evidence: file, nonce: NONCE_550, at, json: true });
    assert.equal(bad.code, 1);
    assert.equal(JSON.parse(bad.out).reasons[0].check, 'gpu.evidence');
  });

  it('exits 2 for unusable input, saying what is wrong', async () => {
    const cases: Array<[GpuCliOptions, RegExp]> = [
      [{ report: hopper550.report, nonce: NONCE_550 }, /--report needs --certs/],
      [{ nonce: NONCE_550 }, /give either --report/],
      [{ ...hopper550, nonce: 'abcd' }, /--nonce: expected 32 bytes/],
      [{ ...hopper550, nonce: NONCE_550, at: 'yesterday' }, /--at/],
      [{ ...hopper550, nonce: NONCE_550, rim: ['/nonexistent/rim.xml'] }, /cannot read \/nonexistent\/rim\.xml/],
      [{ ...hopper550, nonce: NONCE_550, ocspRevokedGrace: '2d' }, /--ocsp-revoked-grace: expected whole hours/],
    ];
    for (const [opts, message] of cases) {
      const r = await run(opts);
      assert.equal(r.code, 2, JSON.stringify(opts));
      assert.match(r.err, message);
    }
  });

  it('is a commander command named gpu with the documented options', () => {
    const cmd = gpuCommand();
    assert.equal(cmd.name(), 'gpu');
    assert.deepEqual(cmd.options.map((o) => o.long).sort(), [
      '--allow-missing-fwid',
      '--allow-missing-ocsp',
      '--allow-missing-rims',
      '--at',
      '--certs',
      '--evidence',
      '--json',
      '--nonce',
      '--ocsp',
      '--ocsp-allow-unknown',
      '--ocsp-revoked-grace',
      '--report',
      '--rim',
    ]);
  });
});
