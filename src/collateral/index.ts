/** Vendor collateral for the Coordinator: URL builders, the cache store, and per-evidence lookups (docs/collateral.md). */
export { AMD_KDS_URL, kdsCertChainUrl, kdsCrlUrl, kdsHwid, kdsVcekUrl, type KdsSigner } from './amd-kds.ts';
export { INTEL_PCS_URL, INTEL_ROOT_CA_CRL_URL, PCS_ISSUER_CHAIN_HEADERS, pckCaOf, pcsPckCrlUrl, pcsTdxQeIdentityUrl, pcsTdxTcbInfoUrl, type PckCa, type PcsUpdate } from './intel-pcs.ts';
export { NVIDIA_OCSP_URL, NVIDIA_RIM_SERVICE_URL, isRimId, nvidiaOcspUrl, nvidiaRimUrl } from './nvidia-services.ts';
export { DEFAULT_HTTP_LIMITS, undiciFetch, type FetchFunction, type HttpAnswer, type HttpLimits } from './http.ts';
export { VENDOR_ENDPOINTS, type PckCrlCollateral, type SignedJsonCollateral, type StoredOcspAnswer, type VendorEndpoints } from './layout.ts';
export { CollateralStore, type CollateralStoreOptions, type Lookup } from './store.ts';
export { snpCertificates, snpCrl, type SnpCollateralOptions } from './snp.ts';
export { quotePlatform, tdxCollateral } from './tdx.ts';
export { gpuOcsp, gpuRimIds, gpuRims, type GpuOcspAnchors } from './gpu.ts';
export { certIdParts, ocspFile, ocspRequest, ocspUrlOf, type OcspQuery } from './nvidia-ocsp.ts';
export { prepareCollateral, type PrepareOptions, type PreparedCollateral } from './prepare.ts';
