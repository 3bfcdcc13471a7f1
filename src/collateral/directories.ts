/**
 * Collateral an operator keeps in plain directories, for the operator's fixed collateral
 * (--rim-dir, --tdx-collateral) and `attestor verify tdx --collateral`. The collateral cache
 * (store.ts, docs/collateral.md) is the general home; these two layouts predate it and stay for
 * what they are good at: a flat directory of RIMs that any GPU may use, and one platform's Intel
 * collateral as PCS serves it.
 *
 * RIM directory: `<RIM ID>.xml` (NVIDIA's RIM service names, e.g. NV_GPU_DRIVER_GH100_550.90.07).
 *
 * TDX collateral directory (each file optional; the first name found is used):
 *   tcbinfo | tcbinfo.json | sample_tcbInfo_response        PCS TCB info response body
 *   qeidentity | qeidentity.json | sample_qeIdentity_response  PCS QE identity response body
 *   pckcrl | pckcrl.der | pckcrl.pem                        PCK CRL (DER, PEM or hex)
 *   rootcrl.der | rootcrl | rootcrl.pem                     Intel SGX Root CA CRL
 *   tcbinfo-issuer-chain.pem                                TCB-Info-Issuer-Chain header (PEM or URL-encoded)
 *   qeidentity-issuer-chain.pem                             SGX-Enclave-Identity-Issuer-Chain (default: the TCB info chain)
 *   pckcrl-issuer-chain.pem                                 SGX-PCK-CRL-Issuer-Chain (default: the quote's PCK issuer)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { RimInput } from '../attestation/nvidia/index.ts';
import type { TdxCollateral } from '../attestation/tdx/collateral.ts';
import { errorMessage } from '../errors.ts';

/** A directory that cannot be read as the layout says (a configuration error, not a verdict). */
export class UnusableCollateralDir extends Error {
  override name = 'UnusableCollateralDir';
}

/** File names per TDX collateral item, first found wins (see the module comment). */
export const TDX_COLLATERAL_FILES = {
  tcbInfo: ['tcbinfo', 'tcbinfo.json', 'sample_tcbInfo_response'],
  qeIdentity: ['qeidentity', 'qeidentity.json', 'sample_qeIdentity_response'],
  pckCrl: ['pckcrl', 'pckcrl.der', 'pckcrl.pem'],
  rootCrl: ['rootcrl.der', 'rootcrl', 'rootcrl.pem'],
  tcbInfoIssuerChain: ['tcbinfo-issuer-chain.pem'],
  qeIdentityIssuerChain: ['qeidentity-issuer-chain.pem'],
  pckCrlIssuerChain: ['pckcrl-issuer-chain.pem'],
} as const;

/** Reads a TDX collateral directory; UnusableCollateralDir when it holds none of the files. */
export function loadTdxCollateralDir(dir: string): TdxCollateral {
  if (!existsSync(dir)) throw new UnusableCollateralDir(`${dir} does not exist`);
  const find = (names: readonly string[]): string | undefined =>
    names.map((n) => join(dir, n)).find((p) => existsSync(p));
  const c: { -readonly [K in keyof TdxCollateral]: TdxCollateral[K] } = {};
  const text = (names: readonly string[]): string | undefined => {
    const p = find(names);
    return p === undefined ? undefined : Buffer.from(read(p)).toString('utf8');
  };
  // CRLs may be DER (binary), PEM or hex; the verifier tells them apart, so they are read raw.
  const bytes = (names: readonly string[]): Uint8Array | undefined => {
    const p = find(names);
    return p === undefined ? undefined : read(p);
  };
  const set = <K extends keyof TdxCollateral>(key: K, value: TdxCollateral[K] | undefined): void => {
    if (value !== undefined) c[key] = value;
  };
  set('tcbInfo', text(TDX_COLLATERAL_FILES.tcbInfo));
  set('qeIdentity', text(TDX_COLLATERAL_FILES.qeIdentity));
  set('pckCrl', bytes(TDX_COLLATERAL_FILES.pckCrl));
  set('rootCrl', bytes(TDX_COLLATERAL_FILES.rootCrl));
  set('tcbInfoIssuerChain', text(TDX_COLLATERAL_FILES.tcbInfoIssuerChain));
  set('qeIdentityIssuerChain', text(TDX_COLLATERAL_FILES.qeIdentityIssuerChain));
  set('pckCrlIssuerChain', text(TDX_COLLATERAL_FILES.pckCrlIssuerChain));
  if (Object.keys(c).length === 0)
    throw new UnusableCollateralDir(
      `${dir} holds none of the collateral files (${Object.values(TDX_COLLATERAL_FILES)
        .map((n) => n[0])
        .join(', ')})`,
    );
  return c;
}

/** RIM documents from a directory; the file name is the RIM ID. */
export function loadRimDir(dir: string): RimInput[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new UnusableCollateralDir(`cannot read ${dir}: ${errorMessage(err)}`);
  }
  return names
    .filter((f) => f.endsWith('.xml'))
    .map((f) => ({ xml: Buffer.from(read(join(dir, f))).toString('utf8'), id: basename(f, '.xml') }));
}

function read(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    throw new UnusableCollateralDir(`cannot read ${path}: ${errorMessage(err)}`);
  }
}
