/** The cache layout of Intel collateral (layout.ts): TCB info, QE identity and CRLs from Intel PCS. */
import {
  PCS_ISSUER_CHAIN_HEADERS,
  type PckCa,
  pcsPckCrlUrl,
  pcsTdxQeIdentityUrl,
  pcsTdxTcbInfoUrl,
} from './intel-pcs.ts';
import {
  type CollateralItem,
  crl,
  crlNextUpdate,
  type Parsed,
  type PckCrlCollateral,
  type SignedJsonCollateral,
  type VendorEndpoints,
} from './layout.ts';

export function tdxTcbInfoItem(endpoints: VendorEndpoints, fmspc: string): CollateralItem<SignedJsonCollateral> {
  const f = fmspc.toLowerCase();
  if (!/^[0-9a-f]{12}$/.test(f)) throw new Error(`not an FMSPC: ${JSON.stringify(fmspc)}`);
  return {
    what: `the TDX TCB info for FMSPC ${f}`,
    service: 'Intel PCS',
    url: pcsTdxTcbInfoUrl(f, endpoints.intelPcs),
    file: `tdx/${f}/tcbinfo.json`,
    issuerChain: { file: `tdx/${f}/tcbinfo-issuer-chain.pem`, headers: PCS_ISSUER_CHAIN_HEADERS.tcbInfo },
    read: (bytes, issuerChain) =>
      signedJson(bytes, issuerChain, 'tcbInfo', (v) =>
        String(v.fmspc).toLowerCase() === f ? undefined : `it is for FMSPC ${String(v.fmspc)}`,
      ),
    nextUpdate: (v) => jsonNextUpdate(v.body, 'tcbInfo'),
  };
}

export function tdxQeIdentityItem(endpoints: VendorEndpoints): CollateralItem<SignedJsonCollateral> {
  return {
    what: 'the TD QE identity',
    service: 'Intel PCS',
    url: pcsTdxQeIdentityUrl(endpoints.intelPcs),
    file: 'tdx/qeidentity.json',
    issuerChain: { file: 'tdx/qeidentity-issuer-chain.pem', headers: PCS_ISSUER_CHAIN_HEADERS.qeIdentity },
    read: (bytes, issuerChain) =>
      signedJson(bytes, issuerChain, 'enclaveIdentity', (v) =>
        v.id === undefined || v.id === 'TD_QE' ? undefined : `it is the identity of ${String(v.id)}, not TD_QE`,
      ),
    nextUpdate: (v) => jsonNextUpdate(v.body, 'enclaveIdentity'),
  };
}

export function tdxPckCrlItem(endpoints: VendorEndpoints, ca: PckCa): CollateralItem<PckCrlCollateral> {
  return {
    what: `the PCK CRL of the ${ca} CA`,
    service: 'Intel PCS',
    url: pcsPckCrlUrl(ca, endpoints.intelPcs),
    file: `tdx/pckcrl-${ca}.der`,
    issuerChain: { file: `tdx/pckcrl-${ca}-issuer-chain.pem`, headers: PCS_ISSUER_CHAIN_HEADERS.pckCrl },
    read: (bytes, issuerChain) => {
      const c = crl(bytes);
      return 'invalid' in c ? c : { value: { crl: c.value, ...(issuerChain !== undefined ? { issuerChain } : {}) } };
    },
    nextUpdate: (v) => crlNextUpdate(v.crl),
  };
}

export function tdxRootCrlItem(endpoints: VendorEndpoints): CollateralItem<Uint8Array> {
  return {
    what: 'the Intel SGX Root CA CRL',
    service: 'Intel',
    url: endpoints.intelRootCrl,
    file: 'tdx/rootcrl.der',
    read: crl,
    nextUpdate: crlNextUpdate,
  };
}

function signedJson(
  bytes: Uint8Array,
  issuerChain: string | undefined,
  member: string,
  problem: (v: Record<string, unknown>) => string | undefined,
): Parsed<SignedJsonCollateral> {
  const body = Buffer.from(bytes).toString('utf8');
  let value: unknown;
  try {
    value = (JSON.parse(body) as Record<string, unknown>)[member];
  } catch {
    return { invalid: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { invalid: `no "${member}" object` };
  const p = problem(value as Record<string, unknown>);
  if (p !== undefined) return { invalid: p };
  if (jsonNextUpdate(body, member) === undefined) return { invalid: `"${member}" has no valid nextUpdate` };
  return { value: { body, ...(issuerChain !== undefined ? { issuerChain } : {}) } };
}

function jsonNextUpdate(body: string, member: string): Date | undefined {
  const next = (JSON.parse(body) as Record<string, { nextUpdate?: unknown }>)[member]?.nextUpdate;
  const d = typeof next === 'string' ? new Date(next) : undefined;
  return d && !Number.isNaN(d.getTime()) ? d : undefined;
}
