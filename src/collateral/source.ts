/**
 * Where the Coordinator gets the collateral for one node's evidence: a source it awaits before
 * each appraisal, which hands back plain values (NodeCollateral) and notes for the log. One source
 * serves every way collateral arrives: the operator's directories (`base`), the collateral cache
 * with its vendor fetches (`store`), and an OCSP responder asked at the appraisal time (the
 * simulated platform's, whose answers are always fresh: D30).
 */
import type { NodeCollateral, NodeEvidence } from '../attestation/node-appraisal.ts';
import { VerificationCache } from '../attestation/nvidia/cache.ts';
import type { OcspAnswer } from '../attestation/nvidia/ocsp-answer.ts';
import type { SnpProduct } from '../attestation/reference-values.ts';
import { type GpuOcspAnchors, gpuOcsp } from './gpu.ts';
import { type PreparedCollateral, prepareCollateral } from './prepare.ts';
import type { CollateralStore } from './store.ts';

/** Collateral for one node's evidence at the appraisal time. */
export type CollateralSource = (evidence: NodeEvidence, at: Date) => Promise<PreparedCollateral>;

/** Makes an OCSP answer for a certificate on demand; undefined when it knows nothing of it. */
export type OcspResponder = (certificate: Uint8Array, issuer: Uint8Array, at: Date) => OcspAnswer | undefined;

export interface CollateralSourceOptions {
  /** Collateral configured directly: directories, or the simulated platform's fixed collateral. */
  readonly base?: NodeCollateral;
  /** The collateral cache (prepare.ts): looked up, and fetched where allowed, per evidence. */
  readonly store?: CollateralStore;
  /** The SEV-SNP product of reports that do not name it (version 2), for the store's lookups. */
  readonly snpProduct?: SnpProduct;
  /** Asked for every certificate of the evidence's chains that needs an answer (after the store's). */
  readonly ocspResponder?: OcspResponder;
  /** Roots whose chains are asked about over OCSP; default the pinned NVIDIA roots. */
  readonly gpuAnchors?: GpuOcspAnchors;
}

export function collateralSource(options: CollateralSourceOptions): CollateralSource {
  const base = options.base ?? {};
  // Chains are checked before a responder is asked about them: once per chain, not per appraisal.
  const chains = new VerificationCache();
  return async (evidence, at) => {
    const prepared = options.store
      ? await prepareCollateral(evidence, options.store, {
          base,
          ...(options.snpProduct ? { snpProduct: options.snpProduct } : {}),
          ...(options.gpuAnchors ? { gpuAnchors: options.gpuAnchors } : {}),
        })
      : { collateral: base, notes: [] };
    const responder = options.ocspResponder;
    if (!responder || evidence.gpus.length === 0) return prepared;
    const gpu = prepared.collateral.gpu ?? {};
    const made = await gpuOcsp(
      {
        nvidiaOcsp: async (query) => {
          const answer = responder(query.certificate.der, query.issuer.der, at);
          return answer
            ? { status: 'found', value: answer, from: 'vendor' }
            : { status: 'missing', reason: `the OCSP responder knows nothing of "${query.certificate.name}"` };
        },
      },
      evidence.gpus,
      gpu.rims ?? [],
      options.gpuAnchors,
      chains,
    );
    return {
      collateral: { ...prepared.collateral, gpu: { ...gpu, ocsp: [...(gpu.ocsp ?? []), ...made.answers] } },
      notes: [...prepared.notes, ...made.notes],
    };
  };
}
