/**
 * Comparing a report's measurements with the golden measurements of its driver and VBIOS RIMs,
 * as nvtrust's verifier.py does: the active entries of both RIMs form one golden list (an index
 * active in both is a conflict); RIM index i is SPDM measurement block i + 1 (nvtrust's
 * get_measurements stores block `index` at list position index - 1); a measurement matches when
 * its size is the golden size and it equals any alternative; and when the opaque data says NVDEC0
 * is disabled, RIM index 35 is not compared (nvtrust: `i == 35 and not is_msr_35_valid`).
 */
import { NVDEC0_DISABLED } from './opaque-data.ts';
import type { GoldenMeasurement, Rim } from './rim.ts';
import type { GpuReport } from './spdm.ts';

/** The RIM index nvtrust skips while NVDEC0 is disabled. */
export const NVDEC0_RIM_INDEX = 35;

export interface Mismatch {
  /** RIM index (SPDM block index - 1). */
  readonly index: number;
  readonly source: 'driver' | 'vbios';
  readonly name: string;
  /** Hex of the report's value; absent when the report has no block there. */
  readonly actual?: string;
  readonly expected: readonly string[];
}

export interface MeasurementComparison {
  /** RIM indices compared and equal to an alternative. */
  readonly matched: readonly number[];
  readonly mismatched: readonly Mismatch[];
  /** RIM indices not compared (NVDEC0 disabled). */
  readonly skipped: readonly number[];
  /** RIM indices active in both the driver and the VBIOS RIM. */
  readonly conflicts: readonly number[];
  /** Active golden entries per RIM. */
  readonly active: { readonly driver: number; readonly vbios: number };
}

/** Compares; either RIM may be absent (its entries are then simply not compared). */
export function compareMeasurements(
  report: GpuReport,
  rims: { driver?: Rim | undefined; vbios?: Rim | undefined },
): MeasurementComparison {
  const runtime = new Map<number, Uint8Array>();
  for (const block of report.response.blocks) runtime.set(block.index - 1, block.value);

  const golden = new Map<number, { source: 'driver' | 'vbios'; entry: GoldenMeasurement }>();
  const conflicts: number[] = [];
  const active = { driver: 0, vbios: 0 };
  for (const source of ['driver', 'vbios'] as const) {
    for (const entry of rims[source]?.measurements ?? []) {
      if (!entry.active) continue;
      active[source]++;
      if (golden.has(entry.index)) conflicts.push(entry.index);
      else golden.set(entry.index, { source, entry });
    }
  }

  const nvdecDisabled = report.response.opaqueData.nvdec0Status === NVDEC0_DISABLED;
  const matched: number[] = [];
  const mismatched: Mismatch[] = [];
  const skipped: number[] = [];
  for (const [index, { source, entry }] of [...golden].sort((a, b) => a[0] - b[0])) {
    if (index === NVDEC0_RIM_INDEX && nvdecDisabled) {
      skipped.push(index);
      continue;
    }
    const actual = runtime.get(index);
    const ok =
      actual !== undefined &&
      actual.length === entry.size &&
      entry.alternatives.some((alt) => Buffer.from(alt).equals(actual));
    if (ok) matched.push(index);
    else {
      const m: { -readonly [K in keyof Mismatch]: Mismatch[K] } = {
        index,
        source,
        name: entry.name,
        expected: entry.alternatives.map((a) => Buffer.from(a).toString('hex')),
      };
      if (actual) m.actual = Buffer.from(actual).toString('hex');
      mismatched.push(m);
    }
  }
  return { matched, mismatched, skipped, conflicts, active };
}
