/**
 * What a TDX quote establishes, as plain JSON (lower-case hex): the form verdicts, the
 * NodeAttestation status and the CLI show, and what appraisal reads. Fields that could not be
 * parsed are absent.
 */
import { hex } from '../bytes.ts';
import type { PckExtension } from './pck.ts';
import type { TdxQuote } from './quote.ts';
import type { TcbStatus } from './tcb-info.ts';

/** TDATTRIBUTES decoded (Intel TDX module ABI, TD_PARAMS.ATTRIBUTES; little-endian 64-bit). */
export interface TdAttributes {
  /** Raw 8 bytes as in the quote. */
  readonly hex: string;
  /** Bit 0: the TD runs in debug mode; the host can read and change its state. */
  readonly debug: boolean;
  /** Bit 28: EPT violations on pending pages become #VE only if the TD asks (disable = safer). */
  readonly septVeDisable: boolean;
  /** Bit 29. */
  readonly migratable: boolean;
  /** Bit 30: protection keys for supervisor pages. */
  readonly pks: boolean;
  /** Bit 31: key locker. */
  readonly kl: boolean;
  /** Bit 63: the TD may use the performance monitoring unit. */
  readonly perfmon: boolean;
}

export interface PckTcb {
  /** SGX TCB components 1..16. */
  readonly components: readonly number[];
  readonly pceSvn: number;
  readonly cpuSvn: string;
}

export interface TdxClaims {
  readonly platform: 'tdx';
  readonly version?: number;
  readonly teeType?: number;
  /** 2 = TDX 1.0 body, 3 = TDX 1.5 body. */
  readonly bodyType?: number;
  readonly qeVendorId?: string;
  readonly mrTd?: string;
  readonly mrConfigId?: string;
  readonly mrOwner?: string;
  readonly mrOwnerConfig?: string;
  readonly rtmrs?: readonly string[];
  readonly mrSeam?: string;
  readonly mrSignerSeam?: string;
  readonly seamAttributes?: string;
  readonly reportData?: string;
  readonly tdAttributes?: TdAttributes;
  readonly xfam?: string;
  readonly teeTcbSvn?: string;
  readonly teeTcbSvn2?: string;
  readonly mrServiceTd?: string;
  /** Bytes after the quote, covered by no signature. */
  readonly trailingBytes?: number;
  readonly fmspc?: string;
  readonly pceid?: string;
  readonly pckTcb?: PckTcb;
  /** 0 = Standard, 1 = Scalable, 2 = Scalable with integrity. */
  readonly sgxType?: number;
  /** Platform TCB status from TCB info (only with collateral). */
  readonly tcbStatus?: TcbStatus;
  readonly tcbDate?: string;
  readonly advisoryIds?: readonly string[];
  /** TDX module status from TCB info module identities (TDX 1.5+ modules, only with collateral). */
  readonly tdxModuleTcbStatus?: TcbStatus;
  /** Quoting enclave TCB status from QE identity (only with collateral). */
  readonly qeTcbStatus?: TcbStatus;
  /** The quoting enclave's ISVSVN, from the QE report the PCK key signed. */
  readonly qeSvn?: number;
  /**
   * True only when the whole of Intel's collateral (TCB info, QE identity, PCK CRL, root CA CRL)
   * was given and checked: only then do the TCB statuses and revocation mean anything. False
   * (with `missingCollateral`) when some was missing and the caller let that pass.
   */
  readonly tcbEvaluated?: boolean;
  /** The collateral pieces that were missing, when any were. */
  readonly missingCollateral?: readonly string[];
}

/** Decodes TDATTRIBUTES. */
export function decodeTdAttributes(bytes: Uint8Array): TdAttributes {
  const bit = (n: number): boolean => (((bytes[n >> 3] ?? 0) >> (n & 7)) & 1) === 1;
  return {
    hex: hex(bytes),
    debug: bit(0),
    septVeDisable: bit(28),
    migratable: bit(29),
    pks: bit(30),
    kl: bit(31),
    perfmon: bit(63),
  };
}

/** Claims from a parsed quote. */
export function quoteClaims(q: TdxQuote): TdxClaims {
  const b = q.body;
  return {
    platform: 'tdx',
    version: q.header.version,
    teeType: q.header.teeType,
    bodyType: q.bodyType,
    qeVendorId: hex(q.header.qeVendorId),
    mrTd: hex(b.mrTd),
    mrConfigId: hex(b.mrConfigId),
    mrOwner: hex(b.mrOwner),
    mrOwnerConfig: hex(b.mrOwnerConfig),
    rtmrs: b.rtmrs.map(hex),
    mrSeam: hex(b.mrSeam),
    mrSignerSeam: hex(b.mrSignerSeam),
    seamAttributes: hex(b.seamAttributes),
    reportData: hex(b.reportData),
    tdAttributes: decodeTdAttributes(b.tdAttributes),
    xfam: hex(b.xfam),
    teeTcbSvn: hex(b.teeTcbSvn),
    ...(b.teeTcbSvn2 ? { teeTcbSvn2: hex(b.teeTcbSvn2) } : {}),
    ...(b.mrServiceTd ? { mrServiceTd: hex(b.mrServiceTd) } : {}),
    trailingBytes: q.trailingBytes,
    qeSvn: q.certification.qeReport.isvSvn,
  };
}

/** Claims from the PCK certificate's SGX extension. */
export function pckClaims(e: PckExtension): Partial<TdxClaims> {
  return {
    fmspc: hex(e.fmspc),
    pceid: hex(e.pceId),
    pckTcb: { components: [...e.tcbComponents], pceSvn: e.pceSvn, cpuSvn: hex(e.cpuSvn) },
    sgxType: e.sgxType,
  };
}
