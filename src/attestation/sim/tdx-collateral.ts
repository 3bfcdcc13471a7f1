/**
 * The contents of simulated PCS collateral: TCB info (for the platform's FMSPC and PCK TCB, with
 * one current level and one out-of-date one) and the TD QE identity, shaped as Intel's, before
 * they are signed (tdx.ts signs them with the TCB Signing key).
 */
import type { TcbStatus } from '../tdx/tcb-info.ts';
import type { TdxCollateralOptions } from './tdx.ts';
import { TD_QE_MRSIGNER } from './tdx-quote.ts';

/** The platform the collateral is for. */
export interface CollateralPlatform {
  readonly fmspc: string;
  readonly pceId: string;
  readonly pckTcb: readonly number[];
  readonly pceSvn: number;
  readonly qeIsvSvn: number;
}

export function collateralJson(
  c: TdxCollateralOptions,
  platform: CollateralPlatform,
  issueDate: Date,
  nextUpdate: Date,
): { tcbInfo: unknown; qeIdentity: unknown } {
  const { fmspc, pceId, pckTcb, pceSvn, qeIsvSvn } = platform;
  const dates = { issueDate: iso(issueDate), nextUpdate: iso(nextUpdate) };
  const level = (
    sgx: readonly number[],
    pce: number,
    tdx: readonly number[],
    status: TcbStatus,
    date: string,
  ): unknown => ({
    tcb: {
      sgxtcbcomponents: sgx.map((svn) => ({ svn })),
      pcesvn: pce,
      tdxtcbcomponents: tdx.map((svn) => ({ svn })),
    },
    tcbDate: date,
    tcbStatus: status,
    ...(status === 'UpToDate' ? {} : { advisoryIDs: ['INTEL-SA-00000'] }),
  });
  const zeros = new Array<number>(16).fill(0);
  const tdxTcb = [3, 0, 4, ...new Array<number>(13).fill(0)];
  const module = { mrsigner: '0'.repeat(96), attributes: '0000000000000000', attributesMask: 'FFFFFFFFFFFFFFFF' };
  const tcbInfo = {
    id: 'TDX',
    version: 3,
    ...dates,
    fmspc: c.fmspc ?? fmspc,
    pceId,
    tcbType: 0,
    tcbEvaluationDataNumber: 17,
    tdxModule: module,
    ...(c.moduleIdentityStatus !== undefined
      ? {
          tdxModuleIdentities: [
            {
              id: 'TDX_03',
              ...module,
              tcbLevels: [{ tcb: { isvsvn: 3 }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: c.moduleIdentityStatus }],
            },
          ],
        }
      : {}),
    tcbLevels: [
      level(pckTcb, pceSvn, tdxTcb, c.tcbStatus ?? 'UpToDate', '2024-03-13T00:00:00Z'),
      level(zeros, 0, zeros, 'OutOfDate', '2018-01-04T00:00:00Z'),
    ],
  };
  const qeIdentity = {
    id: 'TD_QE',
    version: 2,
    ...dates,
    tcbEvaluationDataNumber: 17,
    miscselect: '00000000',
    miscselectMask: 'FFFFFFFF',
    attributes: '11000000000000000000000000000000',
    attributesMask: 'FBFFFFFFFFFFFFFF0000000000000000',
    mrsigner: TD_QE_MRSIGNER.toUpperCase(),
    isvprodid: 2,
    tcbLevels: [{ tcb: { isvsvn: qeIsvSvn }, tcbDate: '2024-03-13T00:00:00Z', tcbStatus: c.qeTcbStatus ?? 'UpToDate' }],
  };
  return { tcbInfo, qeIdentity };
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
