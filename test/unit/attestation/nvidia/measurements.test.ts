import assert from 'node:assert/strict';
import { compareMeasurements, NVDEC0_RIM_INDEX } from '../../../../src/attestation/nvidia/measurements.ts';
import { parseRim } from '../../../../src/attestation/nvidia/rim.ts';
import { parseGpuReport } from '../../../../src/attestation/nvidia/spdm.ts';
import { reportBytes, text } from '../../../vectors/nvidia/testdata.ts';

describe('nvidia/measurements', () => {
  const report = parseGpuReport(reportBytes('hopper-535/report.hex'));
  const vbios = parseRim(text('rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml'));
  const driver = parseRim(text('rims/NV_GPU_DRIVER_GH100_550.144.03.xml'));

  it('reports an index active in both RIMs as a conflict, compared once', () => {
    const c = compareMeasurements(report, { driver: vbios, vbios });
    assert.equal(c.conflicts.length, 12);
    assert.equal(c.matched.length, 12);
  });

  it('skips RIM index 35 only while NVDEC0 is disabled (0x55)', () => {
    assert.equal(report.response.opaqueData.nvdec0Status, 0x55);
    assert.ok(driver.measurements.find((m) => m.index === NVDEC0_RIM_INDEX)?.active);
    assert.deepEqual(compareMeasurements(report, { driver }).skipped, [35]);
    const enabled = {
      ...report,
      response: { ...report.response, opaqueData: { ...report.response.opaqueData, nvdec0Status: 0xaa } },
    };
    const c = compareMeasurements(enabled, { driver });
    assert.deepEqual(c.skipped, []);
    assert.ok(c.matched.includes(35) || c.mismatched.some((m) => m.index === 35));
  });

  it('counts a golden index the report lacks as a mismatch without a value', () => {
    const short = { ...report, response: { ...report.response, blocks: report.response.blocks.slice(0, 5) } };
    const c = compareMeasurements(short, { vbios });
    assert.deepEqual(c.matched, [0, 1, 2, 3, 4]);
    assert.deepEqual(
      c.mismatched.map((m) => [m.index, m.actual]),
      [5, 6, 8, 9, 10, 11, 12].map((i) => [i, undefined]),
    );
  });

  it('matches any alternative: index 12 of the VBIOS RIM lists four', () => {
    const entry = vbios.measurements.find((m) => m.index === 12)!;
    assert.equal(entry.alternatives.length, 4);
    assert.ok(compareMeasurements(report, { vbios }).matched.includes(12));
  });
});
