/**
 * Intel PCS TD Quoting Enclave identity (`/tdx/certification/v4/qe/identity`, enclaveIdentity
 * version 2, id "TD_QE"): which enclave may sign TDX quotes (MRSIGNER, ISVPRODID, masked
 * MISCSELECT and ATTRIBUTES) and the TCB status of each QE ISVSVN.
 */

import { bytesEqual, hex } from '../bytes.ts';
import { ParseError, type Reason, reason } from '../verdict.ts';
import { JsonObject } from './json-fields.ts';
import type { QeReport } from './qe-report.ts';
import { INTEL_TCB_STATUSES, type ModuleTcbLevel, type TcbStatus } from './tcb-info.ts';

export interface QeIdentity {
  readonly id: string;
  readonly version: number;
  readonly issueDate: Date;
  readonly nextUpdate: Date;
  readonly tcbEvaluationDataNumber: number;
  /** 4 bytes, in report byte order (as go-tdx-guest reads them). */
  readonly miscSelect: Uint8Array;
  readonly miscSelectMask: Uint8Array;
  readonly attributes: Uint8Array;
  readonly attributesMask: Uint8Array;
  readonly mrSigner: Uint8Array;
  readonly isvProdId: number;
  /** Sorted by ISVSVN, highest first, as Intel publishes them. */
  readonly tcbLevels: readonly ModuleTcbLevel[];
}

const CHECK = 'tdx.collateral.qe-identity' as const;

/** Parses the `enclaveIdentity` object; throws ParseError (`tdx.collateral.qe-identity`). */
export function parseQeIdentity(value: unknown): QeIdentity {
  const o = new JsonObject(value, 'enclaveIdentity', CHECK);
  const id = o.string('id');
  if (id !== 'TD_QE') throw new ParseError(CHECK, `enclaveIdentity.id is "${id}", expected "TD_QE"`);
  const version = o.integer('version');
  if (version !== 2) throw new ParseError(CHECK, `enclaveIdentity.version ${version} is not supported (2)`);
  const tcbLevels = o.objects('tcbLevels').map((l) => {
    const status = l.string('tcbStatus');
    if (!(INTEL_TCB_STATUSES as readonly string[]).includes(status))
      throw new ParseError(CHECK, `unknown tcbStatus "${status}"`);
    return {
      isvSvn: l.object('tcb').integer('isvsvn', 0xffff),
      tcbDate: l.string('tcbDate'),
      status: status as TcbStatus,
      advisoryIds: l.strings('advisoryIDs'),
    };
  });
  if (tcbLevels.length === 0) throw new ParseError(CHECK, 'enclaveIdentity.tcbLevels is empty');
  return {
    id,
    version,
    issueDate: o.date('issueDate'),
    nextUpdate: o.date('nextUpdate'),
    tcbEvaluationDataNumber: o.integer('tcbEvaluationDataNumber'),
    miscSelect: o.hex('miscselect', 4),
    miscSelectMask: o.hex('miscselectMask', 4),
    attributes: o.hex('attributes', 16),
    attributesMask: o.hex('attributesMask', 16),
    mrSigner: o.hex('mrsigner', 32),
    isvProdId: o.integer('isvprodid', 0xffff),
    tcbLevels,
  };
}

export interface QeEvaluation {
  readonly status: TcbStatus;
  readonly advisoryIds: readonly string[];
  readonly problems: readonly Reason[];
}

/** Matches the QE report against the identity and finds the QE's TCB status. */
export function evaluateQe(identity: QeIdentity, report: QeReport): QeEvaluation {
  const problems: Reason[] = [];
  if (!bytesEqual(report.mrSigner, identity.mrSigner))
    problems.push(
      reason('tdx.qe-identity.mrsigner', `QE MRSIGNER ${hex(report.mrSigner)} is not ${hex(identity.mrSigner)}`),
    );
  if (report.isvProdId !== identity.isvProdId)
    problems.push(reason('tdx.qe-identity.isvprodid', `QE ISVPRODID ${report.isvProdId} is not ${identity.isvProdId}`));
  const misc = new Uint8Array(4);
  new DataView(misc.buffer).setUint32(0, report.miscSelect, true);
  if (!bytesEqual(masked(misc, identity.miscSelectMask), identity.miscSelect))
    problems.push(
      reason(
        'tdx.qe-identity.miscselect',
        `QE MISCSELECT ${hex(misc)} under mask ${hex(identity.miscSelectMask)} is not ${hex(identity.miscSelect)}`,
      ),
    );
  if (!bytesEqual(masked(report.attributes, identity.attributesMask), identity.attributes)) {
    problems.push(
      reason(
        'tdx.qe-identity.attributes',
        `QE ATTRIBUTES ${hex(report.attributes)} under mask ${hex(identity.attributesMask)} are not ${hex(identity.attributes)}`,
      ),
    );
  }
  const level = identity.tcbLevels.find((l) => l.isvSvn <= report.isvSvn);
  return { status: level?.status ?? 'NotSupported', advisoryIds: level?.advisoryIds ?? [], problems };
}

function masked(a: Uint8Array, mask: Uint8Array): Uint8Array {
  return a.map((b, i) => b & (mask[i] ?? 0));
}
