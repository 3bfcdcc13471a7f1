/**
 * The Quoting Enclave's SGX enclave report (REPORT body, 384 bytes) inside a TDX quote. The PCK
 * key signs it; its REPORTDATA binds the attestation key, so it is what ties the quote signature
 * to Intel's certificate chain.
 */
import { ParseError } from '../verdict.ts';

export const QE_REPORT_LENGTH = 384;

export interface QeReport {
  readonly cpuSvn: Uint8Array;
  readonly miscSelect: number;
  readonly attributes: Uint8Array;
  readonly mrEnclave: Uint8Array;
  readonly mrSigner: Uint8Array;
  readonly isvProdId: number;
  readonly isvSvn: number;
  readonly reportData: Uint8Array;
}

/** Parses the 384-byte report; throws ParseError (`tdx.quote`) for any other length. */
export function parseQeReport(bytes: Uint8Array): QeReport {
  if (bytes.length !== QE_REPORT_LENGTH)
    throw new ParseError('tdx.quote', `QE report is ${bytes.length} bytes, expected ${QE_REPORT_LENGTH}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    cpuSvn: bytes.subarray(0, 16),
    miscSelect: view.getUint32(16, true),
    attributes: bytes.subarray(48, 64),
    mrEnclave: bytes.subarray(64, 96),
    mrSigner: bytes.subarray(128, 160),
    isvProdId: view.getUint16(256, true),
    isvSvn: view.getUint16(258, true),
    reportData: bytes.subarray(320, 384),
  };
}
