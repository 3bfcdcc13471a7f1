/**
 * NVIDIA GPU attestation reports as NVML returns them (nvmlDeviceGetConfComputeGpuAttestationReport):
 * the 37-byte SPDM 1.1 GET_MEASUREMENTS request the driver sent, followed by the device's
 * MEASUREMENTS response and its 96-byte raw r||s ECDSA P-384 signature over request and response.
 * Parsed by position (DMTF DSP0274 1.1 and nvtrust's spdm_msrt_req_msg.py / spdm_msrt_resp_msg.py).
 */
import { ParseError } from '../verdict.ts';
import { type OpaqueData, parseOpaqueData } from './opaque-data.ts';

export const SPDM_VERSION_1_1 = 0x11;
export const GET_MEASUREMENTS = 0xe0;
export const MEASUREMENTS = 0x60;
export const REQUEST_LENGTH = 37;
export const NONCE_LENGTH = 32;
/** Raw r||s of an ECDSA P-384 signature. */
export const SIGNATURE_LENGTH = 96;
/** MeasurementSpecification bit 0: the DMTF measurement format. */
export const DMTF_MEASUREMENT_SPEC = 0x01;

export interface SpdmRequest {
  readonly version: number;
  readonly code: number;
  /** Bit 0 set: the requester asked for a signature. */
  readonly param1: number;
  /** 0xFF: all measurement blocks. */
  readonly param2: number;
  readonly nonce: Uint8Array;
  readonly slotId: number;
}

/** One DMTF measurement block. `index` is the SPDM index (1-based); RIM index = index - 1. */
export interface MeasurementBlock {
  readonly index: number;
  readonly specification: number;
  readonly valueType: number;
  readonly value: Uint8Array;
}

export interface SpdmResponse {
  readonly version: number;
  readonly code: number;
  readonly param1: number;
  readonly param2: number;
  readonly blocks: readonly MeasurementBlock[];
  readonly nonce: Uint8Array;
  readonly opaqueData: OpaqueData;
  readonly signature: Uint8Array;
}

export interface GpuReport {
  readonly request: SpdmRequest;
  readonly response: SpdmResponse;
  /** Request and response up to the signature: what the signature covers. */
  readonly signedBytes: Uint8Array;
  /** Bytes after the signature; some real reports carry them, nothing covers them. */
  readonly trailingBytes: number;
}

/** Parses a report; throws ParseError (check `gpu.report`) for anything that is not one. */
export function parseGpuReport(bytes: Uint8Array): GpuReport {
  const r = new Reader(bytes);
  const request: SpdmRequest = {
    version: r.u8('request SPDMVersion'),
    code: r.u8('request RequestResponseCode'),
    param1: r.u8('request Param1'),
    param2: r.u8('request Param2'),
    nonce: r.bytes(NONCE_LENGTH, 'request Nonce'),
    slotId: r.u8('request SlotIDParam'),
  };
  if (request.version !== SPDM_VERSION_1_1)
    throw new ParseError('gpu.report', `request: SPDM version 0x${hex8(request.version)}, expected 0x11`);
  if (request.code !== GET_MEASUREMENTS)
    throw new ParseError('gpu.report', `request: code 0x${hex8(request.code)}, expected 0xE0 (GET_MEASUREMENTS)`);
  // Without bit 0 the device does not sign, and an unsigned response proves nothing.
  if ((request.param1 & 0x01) === 0)
    throw new ParseError('gpu.report', `request: Param1 0x${hex8(request.param1)} does not ask for a signature`);

  const version = r.u8('response SPDMVersion');
  const code = r.u8('response RequestResponseCode');
  const param1 = r.u8('response Param1');
  const param2 = r.u8('response Param2');
  if (version !== request.version)
    throw new ParseError(
      'gpu.report',
      `response: SPDM version 0x${hex8(version)} differs from the request's 0x${hex8(request.version)}`,
    );
  if (code !== MEASUREMENTS)
    throw new ParseError('gpu.report', `response: code 0x${hex8(code)}, expected 0x60 (MEASUREMENTS)`);
  const numberOfBlocks = r.u8('response NumberOfBlocks');
  const recordLength = r.u24le('response MeasurementRecordLength');
  const record = new Reader(r.bytes(recordLength, 'measurement record'), REQUEST_LENGTH + 8);
  const blocks: MeasurementBlock[] = [];
  const indices = new Set<number>();
  for (let i = 0; i < numberOfBlocks; i++) {
    const index = record.u8('block Index');
    const specification = record.u8('block MeasurementSpecification');
    const size = record.u16le('block MeasurementSize');
    if (specification !== DMTF_MEASUREMENT_SPEC)
      throw new ParseError(
        'gpu.report',
        `measurement block ${index}: specification 0x${hex8(specification)}, expected 0x01 (DMTF)`,
      );
    if (indices.has(index)) throw new ParseError('gpu.report', `measurement block index ${index} appears twice`);
    indices.add(index);
    const block = new Reader(record.bytes(size, `block ${index}`), 0);
    const valueType = block.u8('DMTFSpecMeasurementValueType');
    const valueSize = block.u16le('DMTFSpecMeasurementValueSize');
    if (valueSize + 3 !== size)
      throw new ParseError(
        'gpu.report',
        `measurement block ${index}: value size ${valueSize} does not fill the block of ${size} bytes`,
      );
    blocks.push({ index, specification, valueType, value: block.bytes(valueSize, 'DMTFSpecMeasurementValue') });
  }
  if (record.remaining !== 0)
    throw new ParseError(
      'gpu.report',
      `measurement record: ${record.remaining} bytes left after ${numberOfBlocks} blocks`,
    );
  const nonce = r.bytes(NONCE_LENGTH, 'response Nonce');
  const opaqueLength = r.u16le('response OpaqueLength');
  const opaqueData = parseOpaqueData(r.bytes(opaqueLength, 'response OpaqueData'));
  const signedEnd = r.offset;
  const signature = r.bytes(SIGNATURE_LENGTH, 'response Signature');
  return {
    request,
    response: { version, code, param1, param2, blocks, nonce, opaqueData, signature },
    signedBytes: bytes.subarray(0, signedEnd),
    trailingBytes: r.remaining,
  };
}

/** Bounds-checked little-endian reader; every overrun is a ParseError that says what was cut. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #base: number;
  #offset = 0;
  constructor(bytes: Uint8Array, base = 0) {
    this.#bytes = bytes;
    this.#base = base;
  }
  get offset(): number {
    return this.#offset;
  }
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }
  bytes(n: number, what: string): Uint8Array {
    if (this.#offset + n > this.#bytes.length) {
      throw new ParseError(
        'gpu.report',
        `truncated: ${what} needs ${n} bytes at offset ${this.#base + this.#offset}, ${this.remaining} left`,
      );
    }
    const out = this.#bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }
  u8(what: string): number {
    return this.bytes(1, what)[0]!;
  }
  u16le(what: string): number {
    const b = this.bytes(2, what);
    return b[0]! | (b[1]! << 8);
  }
  u24le(what: string): number {
    const b = this.bytes(3, what);
    return b[0]! | (b[1]! << 8) | (b[2]! << 16);
  }
}

function hex8(n: number): string {
  return n.toString(16).padStart(2, '0').toUpperCase();
}
