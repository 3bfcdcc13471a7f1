import assert from 'node:assert/strict';
import { parseCertificateChain } from '../../../src/attestation/nvidia/certificates.ts';
import { parseRim, verifyRim } from '../../../src/attestation/nvidia/rim.ts';
import { NVIDIA_RIM_ROOT_CA_PEM } from '../../../src/attestation/roots/nvidia.ts';
import { NOW, RIM_TIME, text } from './testdata.ts';

const anchors = parseCertificateChain(NVIDIA_RIM_ROOT_CA_PEM);

/** The README's table: whether each RIM's XML signature verifies (c14n 1.1 processed as 1.0). */
const table: Array<{
  file: string;
  kind: 'driver' | 'vbios';
  version: string;
  signature: boolean;
  active: number;
  at?: Date;
}> = [
  {
    file: 'NV_GPU_VBIOS_1010_0200_882_96005E0001.xml',
    kind: 'vbios',
    version: '96.00.5E.00.01',
    signature: true,
    active: 12,
  },
  {
    file: 'NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml',
    kind: 'vbios',
    version: '96.00.5E.00.01',
    signature: true,
    active: 12,
  },
  { file: 'NV_GPU_DRIVER_GH100_550.144.03.xml', kind: 'driver', version: '550.144.03', signature: true, active: 21 },
  { file: 'Driver_RIM_test_no_gpu.xml', kind: 'driver', version: '545.00', signature: true, active: 21 },
  { file: 'VBIOS_RIM_test_no_gpu.xml', kind: 'vbios', version: '96.00.5E.00.01', signature: true, active: 12 },
  // Edited after signing: the reference digest no longer matches.
  {
    file: 'NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch.xml',
    kind: 'driver',
    version: '535.86.09',
    signature: false,
    active: 22,
  },
  // Its signer was valid for one day only (2025-01-01): the chain is checked within that day.
  {
    file: 'NV_GPU_DRIVER_GH100_570.124.03_expired.xml',
    kind: 'driver',
    version: '570.124.03',
    signature: false,
    active: 21,
    at: new Date('2025-01-01T12:00:00Z'),
  },
];

describe('vectors: real NVIDIA RIMs', () => {
  for (const row of table) {
    const at = row.at ?? RIM_TIME;
    it(`${row.file}: ${row.kind} ${row.version}, signature ${row.signature ? 'verifies' : 'does not verify'}, signer chain verifies at ${at.toISOString()}`, async () => {
      const rim = parseRim(text(`rims/${row.file}`));
      assert.equal(rim.kind, row.kind);
      assert.equal(rim.colloquialVersion, row.version);
      assert.equal(rim.product, 'GH100');
      assert.equal(rim.measurements.length, 64);
      assert.equal(rim.measurements.filter((m) => m.active).length, row.active);
      assert.equal(rim.certificates.length, 4);
      const v = await verifyRim(rim, { at, anchors, label: row.file });
      assert.equal(v.signatureVerified, row.signature);
      assert.equal(v.certChainVerified, true, JSON.stringify(v.reasons));
      assert.deepEqual(
        v.reasons.map((r) => r.check),
        row.signature ? [] : ['gpu.rim.signature'],
      );
      assert.deepEqual(v.signerChain.map((c) => c.name).slice(-1), ['NVIDIA CoRIM signing Root CA']);
    });
  }

  it('refuses the signer chain of NV_GPU_DRIVER_GH100_570.124.03_expired.xml after its one day of validity', async () => {
    const rim = parseRim(text('rims/NV_GPU_DRIVER_GH100_570.124.03_expired.xml'));
    const v = await verifyRim(rim, { at: RIM_TIME, anchors, label: 'expired' });
    assert.equal(v.certChainVerified, false);
    assert.ok(
      v.reasons.some(
        (r) => r.check === 'gpu.rim.cert-chain' && /RIM L4 Signer expired at 2025-01-02T00:00:00/.test(r.message),
      ),
    );
  });

  it('refuses the PROD VBIOS RIM signer chain after the signer expired (2025-06-22)', async () => {
    const rim = parseRim(text('rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml'));
    const v = await verifyRim(rim, { at: NOW, anchors, label: 'vbios' });
    assert.equal(v.signatureVerified, true);
    assert.equal(v.certChainVerified, false);
    assert.deepEqual(
      v.reasons.map((r) => r.check),
      ['gpu.rim.cert-chain'],
    );
    assert.match(v.reasons[0]!.message, /HCC RIM L4 Signer expired at 2025-06-22T09:30:33/);
  });

  it('refuses a RIM whose signer chain does not reach the configured anchor', async () => {
    const rim = parseRim(text('rims/NV_GPU_DRIVER_GH100_550.144.03.xml'));
    const other = parseCertificateChain(text('../roots/nvidia_device_identity_ca.pem'));
    const v = await verifyRim(rim, { at: RIM_TIME, anchors: other, label: 'driver' });
    assert.equal(v.certChainVerified, false);
    assert.deepEqual(
      v.reasons.map((r) => r.check),
      ['gpu.rim.cert-chain'],
    );
  });
});
