/**
 * Intel PCS collateral for one TDX quote: TCB info for the platform's FMSPC and the PCK CRL of the
 * CA that issued its PCK certificate (both read from the quote's PCK chain), the TD QE identity
 * and the root CA CRL. Whatever is found goes to the verifier, which checks every signature and
 * refuses the quote when any of the four is missing (tdx.collateral.missing); the notes say why.
 */
import { X509Certificate } from 'node:crypto';
import { commonName } from '../attestation/certificate-chain.ts';
import { pemCertificates } from '../attestation/pem.ts';
import type { TdxCollateral } from '../attestation/tdx/collateral.ts';
import { parsePckExtension } from '../attestation/tdx/pck.ts';
import { parseTdxQuote } from '../attestation/tdx/quote.ts';
import { ParseError } from '../attestation/verdict.ts';
import { type PckCa, pckCaOf } from './intel-pcs.ts';
import { describeMiss, foundNotes } from './notes.ts';
import type { CollateralStore, Lookup } from './store.ts';

/** The platform a quote's PCK certificate names, or undefined when the quote does not parse. */
export function quotePlatform(quote: Uint8Array): { fmspc: string; ca: PckCa | undefined } | undefined {
  try {
    const [leaf, issuer] = pemCertificates(parseTdxQuote(quote).certification.pckChain, 'tdx.quote.pck-chain', {
      strict: true,
    });
    const fmspc = Buffer.from(parsePckExtension(leaf!).fmspc).toString('hex');
    const cn = issuer ? commonName(new X509Certificate(issuer).subject) : undefined;
    return { fmspc, ca: cn === undefined ? undefined : pckCaOf(cn) };
  } catch (err) {
    if (err instanceof ParseError) return undefined; // the verifier reports what is wrong with the quote
    throw err;
  }
}

export async function tdxCollateral(
  store: CollateralStore,
  quote: Uint8Array,
): Promise<{ collateral?: TdxCollateral; notes: string[] }> {
  const platform = quotePlatform(quote);
  if (!platform) return { notes: [] };
  const notes: string[] = [];
  if (!platform.ca) notes.push("the PCK certificate's issuer is neither the platform nor the processor CA: no PCK CRL");
  const [tcbInfo, qeIdentity, pckCrl, rootCrl] = await Promise.all([
    store.tdxTcbInfo(platform.fmspc),
    store.tdxQeIdentity(),
    platform.ca ? store.tdxPckCrl(platform.ca) : undefined,
    store.tdxRootCrl(),
  ]);
  const c: { -readonly [K in keyof TdxCollateral]: TdxCollateral[K] } = {};
  const take = <T>(lookup: Lookup<T> | undefined, use: (value: T) => void): void => {
    if (!lookup) return;
    if (lookup.status !== 'found') return void notes.push(describeMiss(lookup));
    notes.push(...foundNotes(lookup));
    use(lookup.value);
  };
  take(tcbInfo, (v) => {
    c.tcbInfo = v.body;
    if (v.issuerChain !== undefined) c.tcbInfoIssuerChain = v.issuerChain;
  });
  take(qeIdentity, (v) => {
    c.qeIdentity = v.body;
    if (v.issuerChain !== undefined) c.qeIdentityIssuerChain = v.issuerChain;
  });
  take(pckCrl, (v) => {
    c.pckCrl = v.crl;
    if (v.issuerChain !== undefined) c.pckCrlIssuerChain = v.issuerChain;
  });
  take(rootCrl, (v) => (c.rootCrl = v));
  return { ...(Object.keys(c).length > 0 ? { collateral: c } : {}), notes };
}
