/**
 * AMD Key Distribution Service (KDS, AMD spec 57230) URLs, built as google/go-sev-guest kds.go
 * builds them:
 *   {base}/vcek/v1/{product}/{hwid}?blSPL=&teeSPL=&snpSPL=&ucodeSPL=   VCEK (DER) for a chip and TCB
 *   {base}/vcek/v1/Turin/{hwid}?fmcSPL=&blSPL=&teeSPL=&snpSPL=&ucodeSPL=  Turin: FMC SPL, 8-byte hwid
 *   {base}/{vcek|vlek}/v1/{product}/cert_chain                          ASK (or ASVK) then ARK, PEM
 *   {base}/{vcek|vlek}/v1/{product}/crl                                 CRL (DER) signed by the ARK
 * There is no builder for VLEKs: KDS serves them only to the cloud provider, with its secret; a
 * VLEK-signed report brings its VLEK in the certificate table.
 */
import type { SnpProduct } from '../attestation/reference-values.ts';
import { decodeTcb } from '../attestation/snp/tcb.ts';

export const AMD_KDS_URL = 'https://kdsintf.amd.com';

/** Which endorsement key's tree: VCEK (chip keys, under the ASK) or VLEK (under the ASVK). */
export type KdsSigner = 'vcek' | 'vlek';

/** Turin VCEKs are issued for the first 8 bytes of CHIP_ID (go-sev-guest kds.TurinHWIDSize). */
const TURIN_HWID_SIZE = 8;

/** The hwid KDS knows a chip by, in lower-case hex: all of CHIP_ID, or its first 8 bytes on Turin. */
export function kdsHwid(chipId: Uint8Array, product: SnpProduct): string {
  const hwid = product === 'Turin' ? chipId.subarray(0, TURIN_HWID_SIZE) : chipId;
  return Buffer.from(hwid).toString('hex');
}

/** The TCB query of a VCEK URL: only the SPLs KDS takes, in go-sev-guest's order. */
export function kdsTcbQuery(reportedTcb: bigint, product: SnpProduct): string {
  const t = decodeTcb(reportedTcb, product);
  const spls = `blSPL=${t.bootloader}&teeSPL=${t.tee}&snpSPL=${t.snp}&ucodeSPL=${t.microcode}`;
  return product === 'Turin' ? `fmcSPL=${t.fmc ?? 0}&${spls}` : spls;
}

export function kdsVcekUrl(
  product: SnpProduct,
  chipId: Uint8Array,
  reportedTcb: bigint,
  base: string = AMD_KDS_URL,
): string {
  return `${productUrl(base, 'vcek', product)}/${kdsHwid(chipId, product)}?${kdsTcbQuery(reportedTcb, product)}`;
}

export function kdsCertChainUrl(product: SnpProduct, signer: KdsSigner = 'vcek', base: string = AMD_KDS_URL): string {
  return `${productUrl(base, signer, product)}/cert_chain`;
}

export function kdsCrlUrl(product: SnpProduct, signer: KdsSigner = 'vcek', base: string = AMD_KDS_URL): string {
  return `${productUrl(base, signer, product)}/crl`;
}

function productUrl(base: string, signer: KdsSigner, product: SnpProduct): string {
  return `${base.replace(/\/+$/, '')}/${signer}/v1/${product}`;
}
