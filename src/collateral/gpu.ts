/**
 * NVIDIA RIMs for one GPU report: the driver RIM (NV_GPU_DRIVER_<chip>_<driver version>, the chip
 * named in the device certificate chain) and the VBIOS RIM (from the report's project, SKUs and
 * VBIOS version), the IDs NVIDIA's RIM service files them under.
 */
import { X509Certificate } from 'node:crypto';
import { chipOf, expectedDriverRimId, expectedVbiosRimId, type RimInput } from '../attestation/nvidia/appraise.ts';
import { parseGpuReport } from '../attestation/nvidia/spdm.ts';
import { ParseError } from '../attestation/verdict.ts';
import { describeMiss, foundNotes } from './notes.ts';
import type { CollateralStore } from './store.ts';

/** The RIM IDs a report implies; an ID is absent when the report or chain lacks what it is made of. */
export function gpuRimIds(report: Uint8Array, certificateChain: string): { driver?: string; vbios?: string } {
  let parsed;
  try {
    parsed = parseGpuReport(report);
  } catch (err) {
    if (err instanceof ParseError) return {}; // the verifier reports what is wrong with the report
    throw err;
  }
  const subjects: string[] = [];
  for (const pem of certificateChain.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []) {
    try {
      subjects.push(new X509Certificate(pem).subject);
    } catch {
      // a broken certificate is the verifier's finding
    }
  }
  const driver = expectedDriverRimId(parsed, chipOf(subjects));
  const vbios = expectedVbiosRimId(parsed);
  return { ...(driver ? { driver } : {}), ...(vbios ? { vbios } : {}) };
}

export async function gpuRims(store: CollateralStore, gpu: { report: Uint8Array; certificateChain: string }): Promise<{ rims: RimInput[]; notes: string[] }> {
  const ids = gpuRimIds(gpu.report, gpu.certificateChain);
  const rims: RimInput[] = [];
  const notes: string[] = [];
  if (!ids.driver) notes.push('no driver RIM ID: the report has no driver version or the chain names no chip');
  if (!ids.vbios) notes.push('no VBIOS RIM ID: the report lacks its project, SKUs or VBIOS version');
  const wanted = [ids.driver, ids.vbios].filter((id): id is string => id !== undefined);
  const lookups = await Promise.all(wanted.map((id) => store.nvidiaRim(id)));
  lookups.forEach((lookup, i) => {
    if (lookup.status !== 'found') return void notes.push(describeMiss(lookup));
    notes.push(...foundNotes(lookup));
    rims.push({ xml: lookup.value, id: wanted[i]! });
  });
  return { rims, notes };
}
