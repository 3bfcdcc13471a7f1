/** The cache layout of AMD collateral (layout.ts): VCEKs, ASK/ARK chains and CRLs from AMD KDS. */
import { pemCertificates } from '../attestation/pem.ts';
import type { SnpProduct } from '../attestation/reference-values.ts';
import { decodeTcb, encodeTcb } from '../attestation/snp/tcb.ts';
import { errorMessage } from '../errors.ts';
import { type KdsSigner, kdsCertChainUrl, kdsCrlUrl, kdsHwid, kdsVcekUrl } from './amd-kds.ts';
import { type CollateralItem, certificate, crl, crlNextUpdate, type VendorEndpoints } from './layout.ts';

export function snpVcekItem(
  endpoints: VendorEndpoints,
  product: SnpProduct,
  chipId: Uint8Array,
  reportedTcb: bigint,
): CollateralItem<Uint8Array> {
  // The key is the TCB KDS is asked for: reserved bytes are not part of the query.
  const tcb = encodeTcb(decodeTcb(reportedTcb, product), product).toString(16).padStart(16, '0');
  const hwid = kdsHwid(chipId, product);
  return {
    what: `the VCEK of ${product} chip ${hwid.slice(0, 16)}… at TCB ${tcb}`,
    service: 'AMD KDS',
    url: kdsVcekUrl(product, chipId, reportedTcb, endpoints.amdKds),
    file: `snp/vcek/${product}/${hwid}-${tcb}.der`,
    read: certificate,
  };
}

export function snpCertChainItem(
  endpoints: VendorEndpoints,
  product: SnpProduct,
  signer: KdsSigner,
): CollateralItem<string> {
  return {
    what: `the ${product} ${signer === 'vcek' ? 'ASK' : 'ASVK'}/ARK chain`,
    service: 'AMD KDS',
    url: kdsCertChainUrl(product, signer, endpoints.amdKds),
    file: `snp/cert_chain/${product}${signer === 'vlek' ? '-vlek' : ''}.pem`,
    read: (bytes) => {
      const pem = Buffer.from(bytes).toString('utf8');
      let blocks: Uint8Array[];
      try {
        blocks = pemCertificates(pem, 'snp.certificate');
      } catch (err) {
        return { invalid: errorMessage(err) };
      }
      if (blocks.length !== 2) return { invalid: `expected 2 PEM certificates (ASK, ARK), found ${blocks.length}` };
      for (const block of blocks)
        if ('invalid' in certificate(block)) return { invalid: 'a PEM block is not an X.509 certificate' };
      return { value: pem };
    },
  };
}

export function snpCrlItem(
  endpoints: VendorEndpoints,
  product: SnpProduct,
  signer: KdsSigner,
): CollateralItem<Uint8Array> {
  return {
    what: `the ${product} ${signer.toUpperCase()} CRL`,
    service: 'AMD KDS',
    url: kdsCrlUrl(product, signer, endpoints.amdKds),
    file: `snp/crl/${product}${signer === 'vlek' ? '-vlek' : ''}.der`,
    read: crl,
    nextUpdate: crlNextUpdate,
  };
}
