/**
 * Intel PCS TDX TCB info (`/tdx/certification/v4/tcb`, tcbInfo version 3, with the older single
 * `tdxModule` and, in newer responses, `tdxModuleIdentities` per TDX module major version) and
 * the TCB level evaluation of Intel's DCAP Quote Verification Library: the first level (they are
 * sorted newest first) whose SGX components and PCESVN the PCK certificate meets and whose TDX
 * components TEE_TCB_SVN meets gives the platform status, converged with the TDX module's status.
 */

import { bytesEqual, hex } from '../bytes.ts';
import { ParseError, type Reason, reason } from '../verdict.ts';
import { JsonObject } from './json-fields.ts';
import type { PckExtension } from './pck.ts';
import type { TdReportBody } from './quote.ts';

/**
 * Intel's TCB statuses, plus `NotSupported`: the platform is below every level Intel lists (Intel's
 * verification library reports this as STATUS_TCB_NOT_SUPPORTED).
 */
export type TcbStatus =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'Revoked'
  | 'NotSupported';

/** The statuses Intel's TCB info and QE identity assign (NotSupported is ours: no level matched). */
export const INTEL_TCB_STATUSES: readonly TcbStatus[] = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
];

/** Every status a verdict can carry. */
export const TCB_STATUSES: readonly TcbStatus[] = [...INTEL_TCB_STATUSES, 'NotSupported'];

export interface TcbLevel {
  readonly sgxComponents: readonly number[];
  readonly pceSvn: number;
  readonly tdxComponents: readonly number[];
  readonly tcbDate: string;
  readonly status: TcbStatus;
  readonly advisoryIds: readonly string[];
}

export interface ModuleTcbLevel {
  readonly isvSvn: number;
  readonly tcbDate: string;
  readonly status: TcbStatus;
  readonly advisoryIds: readonly string[];
}

export interface TdxModule {
  readonly mrSigner: Uint8Array;
  readonly attributes: Uint8Array;
  readonly attributesMask: Uint8Array;
}

export interface TdxModuleIdentity extends TdxModule {
  /** "TDX_" and the module major version as two hex digits (TEE_TCB_SVN[1]). */
  readonly id: string;
  readonly tcbLevels: readonly ModuleTcbLevel[];
}

export interface TcbInfo {
  readonly id: string;
  readonly version: number;
  readonly issueDate: Date;
  readonly nextUpdate: Date;
  /** Lower-case hex. */
  readonly fmspc: string;
  /** Lower-case hex. */
  readonly pceId: string;
  readonly tcbType: number;
  readonly tcbEvaluationDataNumber: number;
  readonly tdxModule?: TdxModule;
  readonly tdxModuleIdentities?: readonly TdxModuleIdentity[];
  readonly tcbLevels: readonly TcbLevel[];
}

const CHECK = 'tdx.collateral.tcb-info' as const;

/** Parses the `tcbInfo` object; throws ParseError (`tdx.collateral.tcb-info`). */
export function parseTcbInfo(value: unknown): TcbInfo {
  const o = new JsonObject(value, 'tcbInfo', CHECK);
  const id = o.string('id');
  if (id !== 'TDX') throw new ParseError(CHECK, `tcbInfo.id is "${id}", expected "TDX"`);
  const version = o.integer('version');
  if (version !== 3) throw new ParseError(CHECK, `tcbInfo.version ${version} is not supported (3)`);
  const info: TcbInfo = {
    id,
    version,
    issueDate: o.date('issueDate'),
    nextUpdate: o.date('nextUpdate'),
    fmspc: hex(o.hex('fmspc', 6)),
    pceId: hex(o.hex('pceId', 2)),
    tcbType: o.integer('tcbType'),
    tcbEvaluationDataNumber: o.integer('tcbEvaluationDataNumber'),
    ...(o.has('tdxModule') ? { tdxModule: parseModule(o.object('tdxModule')) } : {}),
    ...(o.has('tdxModuleIdentities')
      ? { tdxModuleIdentities: o.objects('tdxModuleIdentities').map(parseModuleIdentity) }
      : {}),
    tcbLevels: o.objects('tcbLevels').map(parseLevel),
  };
  if (info.tcbLevels.length === 0) throw new ParseError(CHECK, 'tcbInfo.tcbLevels is empty');
  return info;
}

function parseModule(o: JsonObject): TdxModule {
  return {
    mrSigner: o.hex('mrsigner', 48),
    attributes: o.hex('attributes', 8),
    attributesMask: o.hex('attributesMask', 8),
  };
}

function parseModuleIdentity(o: JsonObject): TdxModuleIdentity {
  return {
    id: o.string('id'),
    ...parseModule(o),
    tcbLevels: o
      .objects('tcbLevels')
      .map((l) => ({ isvSvn: l.object('tcb').integer('isvsvn', 0xffff), ...levelStatus(l) })),
  };
}

function parseLevel(o: JsonObject): TcbLevel {
  const tcb = o.object('tcb');
  return {
    sgxComponents: components(tcb, 'sgxtcbcomponents'),
    pceSvn: tcb.integer('pcesvn', 0xffff),
    tdxComponents: components(tcb, 'tdxtcbcomponents'),
    ...levelStatus(o),
  };
}

function components(o: JsonObject, key: string): number[] {
  const list = o.objects(key).map((c) => c.integer('svn', 0xff));
  if (list.length !== 16) throw new ParseError(CHECK, `${key} has ${list.length} components, expected 16`);
  return list;
}

function levelStatus(o: JsonObject): { tcbDate: string; status: TcbStatus; advisoryIds: string[] } {
  const status = o.string('tcbStatus');
  if (!(INTEL_TCB_STATUSES as readonly string[]).includes(status))
    throw new ParseError(CHECK, `unknown tcbStatus "${status}"`);
  return { tcbDate: o.string('tcbDate'), status: status as TcbStatus, advisoryIds: o.strings('advisoryIDs') };
}

/** The outcome of matching a quote against TCB info. */
export interface TcbEvaluation {
  readonly status: TcbStatus;
  /** The matching platform level, when one matched. */
  readonly level?: TcbLevel;
  /** The TDX module's own status, when TCB info has module identities for its version. */
  readonly moduleStatus?: TcbStatus;
  readonly advisoryIds: readonly string[];
  /** Mismatches that make the TCB info inapplicable or the TDX module unknown (check id, message). */
  readonly problems: readonly Reason[];
}

/** Evaluates the TCB of a quote (PCK certificate + TD report body) against TCB info. */
export function evaluateTcb(info: TcbInfo, pck: PckExtension, body: TdReportBody): TcbEvaluation {
  const problems: Reason[] = [];
  if (info.fmspc !== hex(pck.fmspc))
    problems.push(
      reason(
        'tdx.collateral.tcb-info.fmspc',
        `TCB info is for FMSPC ${info.fmspc}, the PCK certificate says ${hex(pck.fmspc)}`,
      ),
    );
  if (info.pceId !== hex(pck.pceId))
    problems.push(
      reason(
        'tdx.collateral.tcb-info.fmspc',
        `TCB info is for PCE ID ${info.pceId}, the PCK certificate says ${hex(pck.pceId)}`,
      ),
    );

  const svn = body.teeTcbSvn;
  const moduleVersion = svn[1] as number;
  const identities = info.tdxModuleIdentities;
  // TDX 1.5+ modules (major version > 0) are judged by their own identity entry; TEE_TCB_SVN
  // bytes 0 and 1 (module SVN and version) then stay out of the platform level comparison.
  const useIdentity = moduleVersion > 0 && identities !== undefined;
  let moduleStatus: TcbStatus | undefined;
  let moduleAdvisories: readonly string[] = [];
  if (useIdentity) {
    const id = `TDX_${moduleVersion.toString(16).toUpperCase().padStart(2, '0')}`;
    const identity = identities.find((m) => m.id.toUpperCase() === id);
    if (identity === undefined) {
      problems.push(reason('tdx.tdx-module', `TCB info has no identity ${id} for TDX module version ${moduleVersion}`));
    } else {
      checkModule(identity, body, problems);
      const level = identity.tcbLevels.find((l) => l.isvSvn <= (svn[0] as number));
      moduleStatus = level?.status ?? 'NotSupported';
      moduleAdvisories = level?.advisoryIds ?? [];
    }
  } else if (info.tdxModule !== undefined) {
    checkModule(info.tdxModule, body, problems);
  } else {
    problems.push(reason('tdx.tdx-module', 'TCB info describes no TDX module'));
  }

  const start = useIdentity ? 2 : 0;
  const level = info.tcbLevels.find(
    (l) =>
      l.sgxComponents.every((c, i) => (pck.tcbComponents[i] ?? 0) >= c) &&
      pck.pceSvn >= l.pceSvn &&
      l.tdxComponents.every((c, i) => i < start || (svn[i] as number) >= c),
  );
  if (level === undefined)
    return { status: 'NotSupported', ...(moduleStatus ? { moduleStatus } : {}), advisoryIds: [], problems };
  const status = moduleStatus === undefined ? level.status : converge(level.status, moduleStatus);
  return {
    status,
    level,
    ...(moduleStatus ? { moduleStatus } : {}),
    advisoryIds: [...new Set([...level.advisoryIds, ...moduleAdvisories])],
    problems,
  };
}

function checkModule(m: TdxModule, body: TdReportBody, problems: Reason[]): void {
  if (!bytesEqual(m.mrSigner, body.mrSignerSeam))
    problems.push(
      reason(
        'tdx.tdx-module',
        `MRSIGNERSEAM ${hex(body.mrSignerSeam)} is not the TDX module signer ${hex(m.mrSigner)} in TCB info`,
      ),
    );
  const masked = body.seamAttributes.map((b, i) => b & (m.attributesMask[i] ?? 0));
  if (!bytesEqual(masked, m.attributes))
    problems.push(
      reason(
        'tdx.tdx-module',
        `SEAMATTRIBUTES ${hex(body.seamAttributes)} under mask ${hex(m.attributesMask)} are not ${hex(m.attributes)}`,
      ),
    );
}

/** Folds the TDX module's status into the platform's, as Intel's verification library does. */
function converge(platform: TcbStatus, module: TcbStatus): TcbStatus {
  if (module === 'Revoked' || module === 'NotSupported') return module;
  if (module !== 'OutOfDate') return platform;
  if (platform === 'UpToDate' || platform === 'SWHardeningNeeded') return 'OutOfDate';
  if (platform === 'ConfigurationNeeded' || platform === 'ConfigurationAndSWHardeningNeeded')
    return 'OutOfDateConfigurationNeeded';
  return platform;
}
