/**
 * Vendor collateral for the Coordinator: URL builders, the cache store, per-evidence lookups, the
 * operator's directories and the source the Coordinator awaits before each appraisal (docs/collateral.md).
 */
export { AMD_KDS_URL, type KdsSigner, kdsCertChainUrl, kdsCrlUrl, kdsHwid, kdsVcekUrl } from './amd-kds.ts';
export {
  loadRimDir,
  loadTdxCollateralDir,
  TDX_COLLATERAL_FILES,
  UnusableCollateralDir,
} from './directories.ts';
export { type GpuOcspAnchors, gpuOcsp, gpuRimIds, gpuRims } from './gpu.ts';
export { DEFAULT_HTTP_LIMITS, type FetchFunction, type HttpAnswer, type HttpLimits, undiciFetch } from './http.ts';
export {
  INTEL_PCS_URL,
  INTEL_ROOT_CA_CRL_URL,
  PCS_ISSUER_CHAIN_HEADERS,
  type PckCa,
  type PcsUpdate,
  pckCaOf,
  pcsPckCrlUrl,
  pcsTdxQeIdentityUrl,
  pcsTdxTcbInfoUrl,
} from './intel-pcs.ts';
export {
  type PckCrlCollateral,
  type SignedJsonCollateral,
  type StoredOcspAnswer,
  VENDOR_ENDPOINTS,
  type VendorEndpoints,
} from './layout.ts';
export { certIdParts, type OcspQuery, ocspFile, ocspRequest, ocspUrlOf } from './nvidia-ocsp.ts';
export { isRimId, NVIDIA_OCSP_URL, NVIDIA_RIM_SERVICE_URL, nvidiaOcspUrl, nvidiaRimUrl } from './nvidia-services.ts';
export { type PreparedCollateral, type PrepareOptions, prepareCollateral } from './prepare.ts';
export { type SnpCollateralOptions, snpCertificates, snpCrl } from './snp.ts';
export {
  type CollateralSource,
  type CollateralSourceOptions,
  collateralSource,
  type OcspResponder,
} from './source.ts';
export { CollateralStore, type CollateralStoreOptions, type Lookup } from './store.ts';
export { quotePlatform, tdxCollateral } from './tdx.ts';
export { cachedItems, type ItemOutcome, lookUpWanted, type WantedCollateral } from './wanted.ts';
