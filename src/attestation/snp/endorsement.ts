/**
 * The endorsement key certificate (VCEK: per chip and TCB; VLEK: per cloud provider and TCB):
 * what it says about the key, the product and the TCB it was issued for.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import type { SnpProduct } from '../reference-values.ts';
import { ParseError } from '../verdict.ts';
import { type AmdExtensions, parseAmdExtensions, readCertificateAsn1 } from './certificates.ts';
import type { SnpSigningKey } from './key-info.ts';
import { productFromName } from './product.ts';
import { encodeTcb } from './tcb.ts';

const RSASSA_PSS = '1.2.840.113549.1.1.10';

export interface EndorsementCertificate {
  readonly der: Uint8Array;
  readonly x509: X509Certificate;
  /** The ECDSA P-384 key that signs reports. */
  readonly publicKey: KeyObject;
  /** VCEK when the certificate has a hwID, VLEK when it has a cspId. */
  readonly kind: SnpSigningKey;
  readonly productName: string;
  /** null when productName names no known product. */
  readonly product: SnpProduct | null;
  readonly extensions: AmdExtensions;
  /** The TCB the certificate was issued for, composed in the product's TCB_VERSION layout. */
  readonly tcb: bigint;
}

/**
 * Reads a VCEK/VLEK; throws ParseError when it is not one (wrong key type, missing or
 * contradictory AMD extensions). The signature is checked by the chain, not here.
 */
export function parseEndorsementCertificate(der: Uint8Array, x509: X509Certificate): EndorsementCertificate {
  let key: KeyObject;
  try {
    key = x509.publicKey;
  } catch (err) {
    throw new ParseError('snp.certificate.key', `endorsement public key cannot be decoded: ${errorMessage(err)}`);
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new ParseError(
      'snp.certificate.key',
      `endorsement key is ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}, expected ECDSA P-384`.replace(
        / +,/,
        ',',
      ),
    );
  }
  const asn1 = readCertificateAsn1(der);
  if (asn1.signatureAlgorithm !== RSASSA_PSS) {
    throw new ParseError(
      'snp.certificate',
      `certificate signature algorithm is ${asn1.signatureAlgorithm}, expected RSASSA-PSS (${RSASSA_PSS})`,
    );
  }
  const ext = parseAmdExtensions(asn1);
  const missing = (['productName', 'blSpl', 'teeSpl', 'snpSpl', 'ucodeSpl'] as const).filter((k) => ext[k] === null);
  if (missing.length > 0)
    throw new ParseError('snp.certificate.extensions', `AMD extensions missing: ${missing.join(', ')}`);
  const productName = ext.productName!;
  const product = productFromName(productName);
  if (product === 'Turin' && ext.fmcSpl === null)
    throw new ParseError('snp.certificate.extensions', 'Turin certificate lacks the fmcSPL extension');
  let kind: SnpSigningKey;
  if (ext.hwId !== null && ext.cspId === null) kind = 'vcek';
  else if (ext.cspId !== null && ext.hwId === null) kind = 'vlek';
  else
    throw new ParseError(
      'snp.certificate.extensions',
      'certificate must carry exactly one of hwID (VCEK) and cspId (VLEK)',
    );
  if (kind === 'vcek' && ext.hwId!.length !== (product === 'Turin' ? 8 : 64)) {
    throw new ParseError(
      'snp.certificate.extensions',
      `hwID is ${ext.hwId!.length} bytes, expected ${product === 'Turin' ? 8 : 64} for ${productName}`,
    );
  }
  const tcbParts = {
    bootloader: ext.blSpl!,
    tee: ext.teeSpl!,
    snp: ext.snpSpl!,
    microcode: ext.ucodeSpl!,
    fmc: ext.fmcSpl ?? 0,
  };
  // The reserved TCB bytes carry spl4-spl7 on Milan/Genoa and spl5-spl7 on Turin (go-sev-guest).
  const reserved = (
    product === 'Turin' ? [ext.spl5, ext.spl6, ext.spl7] : [ext.spl4, ext.spl5, ext.spl6, ext.spl7]
  ).map((x) => x ?? 0);
  return {
    der,
    x509,
    publicKey: key,
    kind,
    productName,
    product,
    extensions: ext,
    tcb: encodeTcb(tcbParts, product, reserved),
  };
}
