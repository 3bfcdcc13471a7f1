/**
 * NVIDIA collateral for GPU evidence: the RIMs of one GPU report, that is the driver RIM
 * (NV_GPU_DRIVER_<chip>_<driver version>, the chip named in the device certificate chain) and the
 * VBIOS RIM (from the report's project, SKUs and VBIOS version), the IDs NVIDIA's RIM service
 * files them under; and OCSP answers for the device and RIM signer chains.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { VerificationCache } from '../attestation/nvidia/cache.ts';
import {
  chainStructure,
  type ParsedCertificate,
  parseCertificate,
  parseDeviceChain,
} from '../attestation/nvidia/certificates.ts';
import type { OcspAnswer } from '../attestation/nvidia/ocsp-answer.ts';
import { parseAnchors } from '../attestation/nvidia/report-check.ts';
import { parseRim } from '../attestation/nvidia/rim.ts';
import { chipOf, expectedDriverRimId, expectedVbiosRimId, type RimInput } from '../attestation/nvidia/rim-choice.ts';
import { parseGpuReport } from '../attestation/nvidia/spdm.ts';
import { pemCertificates } from '../attestation/pem.ts';
import { NVIDIA_DEVICE_IDENTITY_CA_PEM, NVIDIA_RIM_ROOT_CA_PEM } from '../attestation/roots/nvidia.ts';
import { ParseError } from '../attestation/verdict.ts';
import type { StoredOcspAnswer } from './layout.ts';
import { describeMiss, foundNotes } from './notes.ts';
import { certIdParts, type OcspQuery, ocspFile } from './nvidia-ocsp.ts';
import type { CollateralStore, Lookup } from './store.ts';

/** The RIM IDs a report implies; an ID is absent when the report or chain lacks what it is made of. */
export function gpuRimIds(report: Uint8Array, certificateChain: string): { driver?: string; vbios?: string } {
  let parsed: ReturnType<typeof parseGpuReport>;
  try {
    parsed = parseGpuReport(report);
  } catch (err) {
    if (err instanceof ParseError) return {}; // the verifier reports what is wrong with the report
    throw err;
  }
  const subjects: string[] = [];
  for (const der of pemBlocks(certificateChain)) {
    try {
      subjects.push(new X509Certificate(der).subject);
    } catch {
      // a broken certificate is the verifier's finding
    }
  }
  const driver = expectedDriverRimId(parsed, chipOf(subjects));
  const vbios = expectedVbiosRimId(parsed);
  return { ...(driver ? { driver } : {}), ...(vbios ? { vbios } : {}) };
}

export async function gpuRims(
  store: CollateralStore,
  gpu: { report: Uint8Array; certificateChain: string },
): Promise<{ rims: RimInput[]; notes: string[] }> {
  const ids = gpuRimIds(gpu.report, gpu.certificateChain);
  const rims: RimInput[] = [];
  const notes: string[] = [];
  if (!ids.driver) notes.push('no driver RIM ID: the report has no driver version or the chain names no chip');
  if (!ids.vbios) notes.push('no VBIOS RIM ID: the report lacks its project, SKUs or VBIOS version');
  const wanted = [ids.driver, ids.vbios].filter((id): id is string => id !== undefined);
  const lookups = await Promise.all(wanted.map((id) => store.nvidiaRim(id)));
  lookups.forEach((lookup, i) => {
    if (lookup.status !== 'found') {
      notes.push(describeMiss(lookup));
      return;
    }
    notes.push(...foundNotes(lookup));
    rims.push({ xml: lookup.value, id: wanted[i]! });
  });
  return { rims, notes };
}

/** Where OCSP answers come from: the CollateralStore, or a responder asked at the appraisal time. */
export interface OcspSource {
  nvidiaOcsp(query: OcspQuery): Promise<Lookup<StoredOcspAnswer>>;
}

/** Trust anchors for deciding which chains' certificates are worth asking about; default the pinned NVIDIA roots. */
export interface GpuOcspAnchors {
  readonly device?: readonly string[];
  readonly rim?: readonly string[];
}

/**
 * OCSP answers for every certificate above the leaf of each GPU's device chain and for every
 * certificate but the root of each RIM's signer chain, from `source`: the store (the cache or,
 * where fetching is on, the responder), or the simulated platform's responder. Only chains whose signatures lead
 * to the anchors are asked about: a forged chain cannot make the Coordinator POST to a URL of its
 * choosing. One lookup per certificate, however many GPUs share it.
 */
export async function gpuOcsp(
  source: OcspSource,
  gpus: ReadonlyArray<{ uuid: string; certificateChain: string }>,
  rims: readonly RimInput[],
  anchors: GpuOcspAnchors = {},
  cache?: VerificationCache,
): Promise<{ answers: OcspAnswer[]; notes: string[] }> {
  const queries = new Map<string, { query: OcspQuery; about: string }>();
  const ask = (path: readonly ParsedCertificate[], from: number, about: string): void => {
    for (let i = from; i + 1 < path.length; i++) {
      const query = { certificate: path[i]!, issuer: path[i + 1]! };
      const key = ocspFile(certIdParts(query));
      if (!queries.has(key)) queries.set(key, { query, about });
    }
  };
  const notes: string[] = [];
  const deviceAnchors = parseAnchors(anchors.device ?? [NVIDIA_DEVICE_IDENTITY_CA_PEM]);
  for (const gpu of gpus) {
    const path = trustedPath(() => parseDeviceChain(gpu.certificateChain), deviceAnchors, {
      check: 'gpu.cert-chain',
      role: 'GPU attestation',
      cache,
    });
    if (path) ask(path, 1, `gpu ${gpu.uuid}`);
    else notes.push(`gpu ${gpu.uuid}: no OCSP lookups: the device chain does not lead to the pinned roots`);
  }
  const rimAnchors = parseAnchors(anchors.rim ?? [NVIDIA_RIM_ROOT_CA_PEM]);
  for (const rim of rims) {
    const path = trustedPath(
      () =>
        memo(cache, `ocsp-rim:${createHash('sha384').update(rim.xml).digest('hex')}`, () =>
          parseRim(rim.xml).certificates.map((der) => parseCertificate(der, 'gpu.rim.cert-chain')),
        ),
      rimAnchors,
      { check: 'gpu.rim.cert-chain', role: 'RIM signer', cache },
    );
    if (path) ask(path, 0, `rim ${rim.id ?? '(unnamed)'}`);
  }
  const answers: OcspAnswer[] = [];
  const lookups = await Promise.all(
    [...queries.values()].map(async (q) => ({ ...q, lookup: await source.nvidiaOcsp(q.query) })),
  );
  for (const { about, lookup } of lookups) {
    if (lookup.status !== 'found') {
      notes.push(`${about}: ${describeMiss(lookup)}`);
      continue;
    }
    notes.push(...foundNotes(lookup).map((n) => `${about}: ${n}`));
    answers.push({ der: lookup.value.der, ...(lookup.value.nonce ? { nonce: lookup.value.nonce } : {}) });
  }
  return { answers, notes };
}

/** The chain up to its anchor when its signatures and names hold (time aside); undefined otherwise. */
function trustedPath(
  parse: () => ParsedCertificate[],
  anchors: readonly ParsedCertificate[],
  chain: { check: 'gpu.cert-chain' | 'gpu.rim.cert-chain'; role: string; cache: VerificationCache | undefined },
): readonly ParsedCertificate[] | undefined {
  let certificates: ParsedCertificate[];
  try {
    certificates = parse();
  } catch (err) {
    if (err instanceof ParseError) return undefined; // the verifier reports it
    throw err;
  }
  const structure = chainStructure(certificates, {
    anchors,
    check: chain.check,
    role: chain.role,
    ...(chain.cache ? { cache: chain.cache } : {}),
  });
  return structure.reasons.length === 0 ? structure.path : undefined;
}

/** The chain's DER certificates, none when it is not PEM (the verifier reports that). */
function pemBlocks(chain: string): Uint8Array[] {
  try {
    return pemCertificates(chain, 'gpu.cert-chain');
  } catch (err) {
    if (err instanceof ParseError) return [];
    throw err;
  }
}

/** `make()` once per key when there is a cache (the same chains and RIMs come with every appraisal). */
function memo<T>(cache: VerificationCache | undefined, key: string, make: () => T): T {
  if (!cache) return make();
  let value = cache.get<T>(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
  }
  return value;
}
