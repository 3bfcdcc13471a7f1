/**
 * Intel Provisioning Certification Service (PCS v4) URLs for TDX collateral, as google/go-tdx-guest
 * pcs/pcs.go builds them, and the response headers that carry each answer's issuer chain
 * (URL-encoded PEM: the signing certificate, then the Intel SGX Root CA):
 *   {base}/tdx/certification/v4/tcb?fmspc={fmspc}            TCB info       TCB-Info-Issuer-Chain
 *   {base}/tdx/certification/v4/qe/identity                  TD QE identity SGX-Enclave-Identity-Issuer-Chain
 *   {base}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der  PCK CRL        SGX-PCK-CRL-Issuer-Chain
 * The root CA CRL is a static file on Intel's certificate site. None of these need an API key.
 */
export const INTEL_PCS_URL = 'https://api.trustedservices.intel.com';
export const INTEL_ROOT_CA_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';

/** The PCK certificate's issuer: Intel SGX PCK Platform CA or Intel SGX PCK Processor CA. */
export type PckCa = 'platform' | 'processor';

/** PCS collateral update channel; PCS answers `standard` when none is asked for. */
export type PcsUpdate = 'standard' | 'early';

/** Header names, lower case as Node reports them; PCS v3 named the TCB info one SGX-TCB-Info-Issuer-Chain. */
export const PCS_ISSUER_CHAIN_HEADERS = {
  tcbInfo: ['tcb-info-issuer-chain', 'sgx-tcb-info-issuer-chain'],
  qeIdentity: ['sgx-enclave-identity-issuer-chain'],
  pckCrl: ['sgx-pck-crl-issuer-chain'],
} as const;

export function pcsTdxTcbInfoUrl(fmspc: string, base: string = INTEL_PCS_URL, update?: PcsUpdate): string {
  return `${trim(base)}/tdx/certification/v4/tcb?fmspc=${fmspc.toLowerCase()}${update ? `&update=${update}` : ''}`;
}

export function pcsTdxQeIdentityUrl(base: string = INTEL_PCS_URL, update?: PcsUpdate): string {
  return `${trim(base)}/tdx/certification/v4/qe/identity${update ? `?update=${update}` : ''}`;
}

export function pcsPckCrlUrl(ca: PckCa, base: string = INTEL_PCS_URL): string {
  return `${trim(base)}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`;
}

/** The PCK CRL that covers a PCK certificate issued by the CA with this subject CN. */
export function pckCaOf(issuerCommonName: string): PckCa | undefined {
  if (issuerCommonName === 'Intel SGX PCK Platform CA') return 'platform';
  if (issuerCommonName === 'Intel SGX PCK Processor CA') return 'processor';
  return undefined;
}

function trim(base: string): string {
  return base.replace(/\/+$/, '');
}
