/**
 * When each piece of expiring collateral an appraisal used must be replaced: the nextUpdate of the
 * CRLs (AMD KDS, Intel PCK and root CA), the PCS TCB info and QE identity, and the NVIDIA OCSP
 * answers, read from the collateral itself. The Coordinator exports them as a gauge, so that an
 * alert fires days before an air-gapped cache goes stale. Pure; what does not parse is skipped
 * (the verifier reports it).
 */
import * as pkijs from 'pkijs';
import type { NodeCollateral } from '../attestation/node-appraisal.ts';
import { answerContent } from '../attestation/nvidia/ocsp-answer.ts';
import { parseCrl, serialHex } from '../attestation/tdx/crl.ts';

export type CollateralKind =
  | 'snp-crl'
  | 'tdx-tcb-info'
  | 'tdx-qe-identity'
  | 'tdx-pck-crl'
  | 'tdx-root-crl'
  | 'nvidia-ocsp';

export interface CollateralNextUpdate {
  readonly kind: CollateralKind;
  /** Which one: a CRL's issuer CN, the TCB info's FMSPC, the QE identity's id, the OCSP answer's certificate serial. */
  readonly item: string;
  readonly nextUpdate: Date;
}

const COMMON_NAME = '2.5.4.3';

export function collateralNextUpdates(collateral: NodeCollateral): CollateralNextUpdate[] {
  const out: CollateralNextUpdate[] = [];
  const add = (found: CollateralNextUpdate | undefined) => {
    if (found) out.push(found);
  };
  if (collateral.snp?.crl) add(crlNextUpdate('snp-crl', collateral.snp.crl));
  const tdx = collateral.tdx;
  if (tdx?.tcbInfo) add(signedJsonNextUpdate('tdx-tcb-info', tdx.tcbInfo, 'tcbInfo', 'fmspc'));
  if (tdx?.qeIdentity) add(signedJsonNextUpdate('tdx-qe-identity', tdx.qeIdentity, 'enclaveIdentity', 'id'));
  if (tdx?.pckCrl) add(crlNextUpdate('tdx-pck-crl', tdx.pckCrl));
  if (tdx?.rootCrl) add(crlNextUpdate('tdx-root-crl', tdx.rootCrl));
  for (const answer of collateral.gpu?.ocsp ?? [])
    out.push(...ocspNextUpdates(answer instanceof Uint8Array ? answer : answer.der));
  return out;
}

function crlNextUpdate(kind: CollateralKind, data: Uint8Array): CollateralNextUpdate | undefined {
  try {
    // The check ID only names a parse error, which is skipped here.
    const crl = parseCrl(data, 'snp.crl');
    if (!crl.nextUpdate) return undefined;
    return { kind, item: commonName(crl.issuer) ?? 'unnamed', nextUpdate: crl.nextUpdate };
  } catch {
    return undefined;
  }
}

function signedJsonNextUpdate(
  kind: CollateralKind,
  body: string | Uint8Array,
  member: string,
  name: string,
): CollateralNextUpdate | undefined {
  try {
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    const value = (JSON.parse(text) as Record<string, Record<string, unknown> | undefined>)[member];
    const next = typeof value?.nextUpdate === 'string' ? new Date(value.nextUpdate) : undefined;
    if (!next || Number.isNaN(next.getTime())) return undefined;
    const raw = typeof value?.[name] === 'string' ? (value[name] as string) : 'unnamed';
    // FMSPCs are hex, which PCS writes in either case.
    const item = name === 'fmspc' ? raw.toLowerCase() : raw;
    return { kind, item, nextUpdate: next };
  } catch {
    return undefined;
  }
}

/** From what the verifier read of the same bytes (ocsp-answer.ts's memo): each answer is parsed once, not per appraisal. */
function ocspNextUpdates(der: Uint8Array): CollateralNextUpdate[] {
  const content = answerContent(der);
  if ('problem' in content) return [];
  return content.singles.flatMap((single) =>
    single.nextUpdate
      ? [{ kind: 'nvidia-ocsp' as const, item: serialHex(single.certId.serial), nextUpdate: single.nextUpdate }]
      : [],
  );
}

function commonName(nameDer: Uint8Array): string | undefined {
  try {
    const name = pkijs.RelativeDistinguishedNames.fromBER(nameDer);
    const cn = name.typesAndValues.find((t) => t.type === COMMON_NAME);
    return cn ? String(cn.value.valueBlock.value) : undefined;
  } catch {
    return undefined;
  }
}
