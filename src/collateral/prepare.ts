/**
 * The bridge between the asynchronous store and the synchronous appraisal: before appraising a
 * node's evidence, the Coordinator awaits prepareCollateral(evidence), which looks up (and, where
 * allowed, fetches) everything this evidence needs, and gets a plain NodeCollateral back: values
 * for this evidence, nothing to call later. The notes say what is missing, stale or could not be
 * fetched; they are for logs and events, while the verdict stays the verifier's.
 *
 * Precedence: collateral the operator gave directly (`base`) wins where it is one value for every
 * node (an SNP VCEK or CRL), and the evidence's certificate table wins over both (no VCEK lookup
 * then). TDX collateral from the store wins field by field over `base.tdx`, which is one fixed
 * directory and may be for another FMSPC. RIMs are the union, by ID. OCSP answers: the
 * operator's first, then those the store found for the device chains and for the signer chains of
 * every RIM in the union.
 */
import type { NodeCollateral, NodeEvidence } from '../attestation/node-appraisal.ts';
import type { RimInput } from '../attestation/nvidia/index.ts';
import type { SnpProduct } from '../attestation/reference-values.ts';
import type { SnpCollateral } from '../attestation/snp/index.ts';
import { type GpuOcspAnchors, gpuOcsp, gpuRimIds, gpuRims } from './gpu.ts';
import { snpCertificates, snpCrl } from './snp.ts';
import type { CollateralStore } from './store.ts';
import { tdxCollateral } from './tdx.ts';

export interface PrepareOptions {
  /** Collateral the operator configured directly (directories); see the precedence above. */
  readonly base?: NodeCollateral;
  /** The SEV-SNP product of reports that do not name it (version 2). */
  readonly snpProduct?: SnpProduct;
  /** Roots whose chains are asked about over OCSP; default the pinned NVIDIA roots (tests pass generated ones). */
  readonly gpuAnchors?: GpuOcspAnchors;
}

export interface PreparedCollateral {
  readonly collateral: NodeCollateral;
  /** One line per problem, prefixed with what it is about (`snp:`, `tdx:`, `gpu <uuid>:`). */
  readonly notes: string[];
}

export async function prepareCollateral(
  evidence: NodeEvidence,
  store: CollateralStore,
  options: PrepareOptions = {},
): Promise<PreparedCollateral> {
  const base = options.base ?? {};
  const [cvm, gpus] = await Promise.all([
    evidence.cvm.platform === 'snp'
      ? prepareSnp(evidence.cvm, store, base.snp, options.snpProduct)
      : evidence.cvm.platform === 'tdx'
        ? prepareTdx(evidence.cvm.report, store, base)
        : { collateral: {}, notes: [] },
    Promise.all(evidence.gpus.map(async (g) => ({ uuid: g.uuid, ...(await gpuRims(store, g)) }))),
  ]);
  const rims: RimInput[] = [...(base.gpu?.rims ?? [])];
  const ids = new Set(rims.map((r) => r.id));
  for (const rim of gpus.flatMap((g) => g.rims)) {
    if (ids.has(rim.id)) continue;
    ids.add(rim.id);
    rims.push(rim);
  }
  // Only the RIMs this evidence can use (the operator's directory may hold many): those with the
  // IDs it implies, and any not named after an NVIDIA RIM ID, which the appraisal matches by version.
  const wanted = new Set(evidence.gpus.flatMap((g) => Object.values(gpuRimIds(g.report, g.certificateChain))));
  const usable = rims.filter((r) => r.id === undefined || wanted.has(r.id) || !/^NV_GPU_(DRIVER|VBIOS)_/.test(r.id));
  const ocsp =
    evidence.gpus.length > 0
      ? await gpuOcsp(store, evidence.gpus, usable, options.gpuAnchors)
      : { answers: [], notes: [] };
  const baseOcsp = base.gpu?.ocsp ?? [];
  return {
    collateral: {
      ...base,
      ...cvm.collateral,
      gpu: {
        rims,
        ...(ocsp.answers.length > 0 || baseOcsp.length > 0 ? { ocsp: [...baseOcsp, ...ocsp.answers] } : {}),
      },
    },
    notes: [...cvm.notes, ...gpus.flatMap((g) => g.notes.map((n) => `gpu ${g.uuid}: ${n}`)), ...ocsp.notes],
  };
}

async function prepareSnp(
  cvm: NodeEvidence['cvm'],
  store: CollateralStore,
  base: SnpCollateral | undefined,
  product: SnpProduct | undefined,
): Promise<{ collateral: NodeCollateral; notes: string[] }> {
  const report = cvm.report;
  const notes: string[] = [];
  let certificates = base?.certificates;
  let foundProduct: SnpProduct | undefined;
  if (certificates === undefined && !(cvm.auxblob && cvm.auxblob.length > 0)) {
    const looked = await snpCertificates(store, report, { product });
    certificates = looked.pem;
    foundProduct = looked.product;
    notes.push(...looked.notes);
  }
  let crl = base?.crl;
  if (!crl) {
    const looked = await snpCrl(store, report, { product, foundProduct });
    crl = looked.crl;
    notes.push(...looked.notes);
  }
  const snp: SnpCollateral = {
    ...(certificates !== undefined ? { certificates } : {}),
    ...(crl ? { crl } : {}),
  };
  return { collateral: Object.keys(snp).length > 0 ? { snp } : {}, notes: notes.map((n) => `snp: ${n}`) };
}

async function prepareTdx(
  quote: Uint8Array,
  store: CollateralStore,
  base: NodeCollateral,
): Promise<{ collateral: NodeCollateral; notes: string[] }> {
  const found = await tdxCollateral(store, quote);
  const tdx = { ...base.tdx, ...found.collateral };
  return { collateral: Object.keys(tdx).length > 0 ? { tdx } : {}, notes: found.notes.map((n) => `tdx: ${n}`) };
}
