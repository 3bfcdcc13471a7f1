/**
 * Intel TDX quotes (DCAP "Quote Format" v4 and v5, Intel TDX DCAP Quoting Library API,
 * appendix A), parsed by position and length field. Only the layout that Intel's TDX Quoting
 * Enclave produces is accepted: attestation key type 2 (ECDSA P-256), TEE type 0x81 and
 * certification data type 6 (QE report certification data) wrapping type 5 (PCK chain PEM).
 * Bytes after the signature data are not covered by anything; they are counted, not parsed.
 */
import { ParseError } from '../verdict.ts';
import { parseQeReport, QE_REPORT_LENGTH, type QeReport } from './qe-report.ts';

export const HEADER_LENGTH = 48;
/** TDX 1.0 TD report body (v4 body, v5 body type 2). */
export const BODY_V10_LENGTH = 584;
/** TDX 1.5 TD report body (v5 body type 3): adds TEE_TCB_SVN2 and MRSERVICETD. */
export const BODY_V15_LENGTH = 648;
export const ATTESTATION_KEY_TYPE_ECDSA_P256 = 2;
export const TEE_TYPE_TDX = 0x81;
export const CERT_DATA_PCK_CHAIN = 5;
export const CERT_DATA_QE_REPORT = 6;
export const BODY_TYPE_TDX10 = 2;
export const BODY_TYPE_TDX15 = 3;
/** Intel's QE vendor ID (939A7233-F79C-4CA9-940A-0DB3957F0607). */
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';

const SIGNATURE_LENGTH = 64;
const ATTESTATION_KEY_LENGTH = 64;

export interface TdxQuoteHeader {
  readonly version: number;
  readonly attestationKeyType: number;
  readonly teeType: number;
  /** Bytes 8-9: QE SVN in v3 SGX quotes, reserved for TDX. */
  readonly reserved1: Uint8Array;
  /** Bytes 10-11: PCE SVN in v3 SGX quotes, reserved for TDX. */
  readonly reserved2: Uint8Array;
  readonly qeVendorId: Uint8Array;
  readonly userData: Uint8Array;
}

/** The TD report body the TDX module wrote (TDREPORT's TDINFO and TEE_TCB_INFO parts). */
export interface TdReportBody {
  readonly teeTcbSvn: Uint8Array;
  readonly mrSeam: Uint8Array;
  readonly mrSignerSeam: Uint8Array;
  readonly seamAttributes: Uint8Array;
  readonly tdAttributes: Uint8Array;
  readonly xfam: Uint8Array;
  readonly mrTd: Uint8Array;
  readonly mrConfigId: Uint8Array;
  readonly mrOwner: Uint8Array;
  readonly mrOwnerConfig: Uint8Array;
  readonly rtmrs: readonly [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  readonly reportData: Uint8Array;
  /** TDX 1.5 bodies only. */
  readonly teeTcbSvn2?: Uint8Array;
  /** TDX 1.5 bodies only. */
  readonly mrServiceTd?: Uint8Array;
}

/** Certification data type 6: the QE's report, signed by the PCK key, and the PCK chain. */
export interface QeReportCertificationData {
  readonly qeReport: QeReport;
  /** The 384 bytes the QE report signature covers. */
  readonly qeReportBytes: Uint8Array;
  /** Raw r||s, ECDSA P-256 SHA-256 by the PCK key. */
  readonly qeReportSignature: Uint8Array;
  readonly qeAuthData: Uint8Array;
  /** Certification data type 5: PCK leaf, intermediate CA and root, concatenated PEM. */
  readonly pckChain: Uint8Array;
}

export interface TdxQuote {
  readonly header: TdxQuoteHeader;
  /** 2 = TDX 1.0 body, 3 = TDX 1.5 body (v4 quotes always carry a TDX 1.0 body). */
  readonly bodyType: number;
  readonly body: TdReportBody;
  /** Everything before the signature data length field: what the quote signature covers. */
  readonly signedBytes: Uint8Array;
  /** Raw r||s, ECDSA P-256 SHA-256 by the attestation key. */
  readonly signature: Uint8Array;
  /** Raw X||Y of the QE's P-256 attestation key. */
  readonly attestationKey: Uint8Array;
  readonly certification: QeReportCertificationData;
  /** Bytes after the signature data, covered by no signature. */
  readonly trailingBytes: number;
}

/** A bounds-checked little-endian reader; every overrun is a ParseError. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset: number;
  readonly #what: string;

  constructor(bytes: Uint8Array, what: string) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#offset = 0;
    this.#what = what;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  #need(n: number, field: string): void {
    if (n > this.remaining) {
      throw new ParseError(
        'tdx.quote',
        `${this.#what} truncated: ${field} needs ${n} bytes at offset ${this.#offset}, ${this.remaining} left`,
      );
    }
  }

  u16(field: string): number {
    this.#need(2, field);
    const v = this.#view.getUint16(this.#offset, true);
    this.#offset += 2;
    return v;
  }

  u32(field: string): number {
    this.#need(4, field);
    const v = this.#view.getUint32(this.#offset, true);
    this.#offset += 4;
    return v;
  }

  bytes(n: number, field: string): Uint8Array {
    this.#need(n, field);
    const v = this.#bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return v;
  }
}

/**
 * Parses a TDX quote (v4 or v5). Throws ParseError (checks `tdx.quote`, `tdx.quote.version`,
 * `tdx.quote.attestation-key-type`, `tdx.quote.tee-type`, `tdx.quote.certification-data`) for
 * anything else; never anything but ParseError. The returned arrays are views into `bytes`.
 */
export function parseTdxQuote(bytes: Uint8Array): TdxQuote {
  const r = new Reader(bytes, 'quote');
  const header = parseHeader(r);
  let bodyType = BODY_TYPE_TDX10;
  let bodyLength = BODY_V10_LENGTH;
  if (header.version === 5) {
    bodyType = r.u16('body type');
    const size = r.u32('body size');
    const expected =
      bodyType === BODY_TYPE_TDX10 ? BODY_V10_LENGTH : bodyType === BODY_TYPE_TDX15 ? BODY_V15_LENGTH : undefined;
    if (expected === undefined)
      throw new ParseError('tdx.quote', `v5 body type ${bodyType} is not a TD report (2 = TDX 1.0, 3 = TDX 1.5)`);
    if (size !== expected)
      throw new ParseError('tdx.quote', `v5 body type ${bodyType} must be ${expected} bytes, the quote says ${size}`);
    bodyLength = size;
  }
  const body = parseBody(r.bytes(bodyLength, 'TD report body'), bodyType);
  const signedBytes = bytes.subarray(0, r.offset);
  const signatureDataLength = r.u32('signature data length');
  const signatureData = r.bytes(signatureDataLength, 'signature data');
  const { signature, attestationKey, certification } = parseSignatureData(signatureData);
  return { header, bodyType, body, signedBytes, signature, attestationKey, certification, trailingBytes: r.remaining };
}

function parseHeader(r: Reader): TdxQuoteHeader {
  const version = r.u16('version');
  if (version !== 4 && version !== 5)
    throw new ParseError('tdx.quote.version', `quote version ${version} is not supported (4 or 5)`);
  const attestationKeyType = r.u16('attestation key type');
  if (attestationKeyType !== ATTESTATION_KEY_TYPE_ECDSA_P256) {
    throw new ParseError(
      'tdx.quote.attestation-key-type',
      `attestation key type ${attestationKeyType} is not supported (2 = ECDSA P-256)`,
    );
  }
  const teeType = r.u32('TEE type');
  if (teeType !== TEE_TYPE_TDX)
    throw new ParseError('tdx.quote.tee-type', `TEE type 0x${teeType.toString(16)} is not TDX (0x81)`);
  return {
    version,
    attestationKeyType,
    teeType,
    reserved1: r.bytes(2, 'reserved'),
    reserved2: r.bytes(2, 'reserved'),
    qeVendorId: r.bytes(16, 'QE vendor ID'),
    userData: r.bytes(20, 'user data'),
  };
}

function parseBody(bytes: Uint8Array, bodyType: number): TdReportBody {
  const r = new Reader(bytes, 'TD report body');
  const teeTcbSvn = r.bytes(16, 'TEE_TCB_SVN');
  const mrSeam = r.bytes(48, 'MRSEAM');
  const mrSignerSeam = r.bytes(48, 'MRSIGNERSEAM');
  const seamAttributes = r.bytes(8, 'SEAMATTRIBUTES');
  const tdAttributes = r.bytes(8, 'TDATTRIBUTES');
  const xfam = r.bytes(8, 'XFAM');
  const mrTd = r.bytes(48, 'MRTD');
  const mrConfigId = r.bytes(48, 'MRCONFIGID');
  const mrOwner = r.bytes(48, 'MROWNER');
  const mrOwnerConfig = r.bytes(48, 'MROWNERCONFIG');
  const rtmrs = [r.bytes(48, 'RTMR0'), r.bytes(48, 'RTMR1'), r.bytes(48, 'RTMR2'), r.bytes(48, 'RTMR3')] as const;
  const reportData = r.bytes(64, 'REPORTDATA');
  const base = {
    teeTcbSvn,
    mrSeam,
    mrSignerSeam,
    seamAttributes,
    tdAttributes,
    xfam,
    mrTd,
    mrConfigId,
    mrOwner,
    mrOwnerConfig,
    rtmrs,
    reportData,
  };
  if (bodyType !== BODY_TYPE_TDX15) return base;
  return { ...base, teeTcbSvn2: r.bytes(16, 'TEE_TCB_SVN2'), mrServiceTd: r.bytes(48, 'MRSERVICETD') };
}

function parseSignatureData(bytes: Uint8Array): Pick<TdxQuote, 'signature' | 'attestationKey' | 'certification'> {
  const r = new Reader(bytes, 'signature data');
  const signature = r.bytes(SIGNATURE_LENGTH, 'quote signature');
  const attestationKey = r.bytes(ATTESTATION_KEY_LENGTH, 'attestation key');
  const type = r.u16('certification data type');
  if (type !== CERT_DATA_QE_REPORT)
    throw new ParseError(
      'tdx.quote.certification-data',
      `certification data type ${type} is not supported (6 = QE report certification data)`,
    );
  const size = r.u32('certification data size');
  // The length fields must account for every byte: slack inside the signed structure would be
  // bytes nobody checks.
  if (size !== r.remaining)
    throw new ParseError(
      'tdx.quote.certification-data',
      `certification data size ${size} does not match the ${r.remaining} bytes the signature data leaves`,
    );
  const c = new Reader(r.bytes(size, 'certification data'), 'QE report certification data');
  const qeReportBytes = c.bytes(QE_REPORT_LENGTH, 'QE report');
  const qeReportSignature = c.bytes(SIGNATURE_LENGTH, 'QE report signature');
  const authLength = c.u16('QE auth data size');
  const qeAuthData = c.bytes(authLength, 'QE auth data');
  const innerType = c.u16('PCK certification data type');
  if (innerType !== CERT_DATA_PCK_CHAIN)
    throw new ParseError(
      'tdx.quote.certification-data',
      `QE report certification data carries type ${innerType}, expected 5 (PCK certificate chain)`,
    );
  const innerSize = c.u32('PCK certification data size');
  if (innerSize !== c.remaining)
    throw new ParseError(
      'tdx.quote.certification-data',
      `PCK certificate chain size ${innerSize} does not match the ${c.remaining} bytes left`,
    );
  const pckChain = c.bytes(innerSize, 'PCK certificate chain');
  return {
    signature,
    attestationKey,
    certification: { qeReport: parseQeReport(qeReportBytes), qeReportBytes, qeReportSignature, qeAuthData, pckChain },
  };
}
