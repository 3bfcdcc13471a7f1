/**
 * The opaque data of an NVIDIA SPDM MEASUREMENTS response: a list of little-endian TLVs
 * (type u16, length u16, value) that NVIDIA's firmware fills with driver and VBIOS versions,
 * the FWID, project and SKU strings, measurement counts and more. Types and their meaning follow
 * nvtrust's OpaqueData table (local_gpu_verifier attestation/spdm_msrt_resp_msg.py) and NVML.
 */
import { ParseError } from '../verdict.ts';

/** Opaque data field types, as nvtrust numbers and names them (OPAQUE_FIELD_ID_<name>). */
export const OPAQUE_FIELD_TYPES: Readonly<Record<number, string>> = {
  1: 'CERT_ISSUER_NAME',
  2: 'CERT_AUTHORITY_KEY_IDENTIFIER',
  3: 'DRIVER_VERSION',
  4: 'GPU_INFO',
  5: 'SKU',
  6: 'VBIOS_VERSION',
  7: 'MANUFACTURER_ID',
  8: 'TAMPER_DETECTION',
  9: 'SMC',
  10: 'VPR',
  11: 'NVDEC0_STATUS',
  12: 'MSRSCNT',
  13: 'CPRINFO',
  14: 'BOARD_ID',
  15: 'CHIP_SKU',
  16: 'CHIP_SKU_MOD',
  17: 'PROJECT',
  18: 'PROJECT_SKU',
  19: 'PROJECT_SKU_MOD',
  20: 'FWID',
  21: 'PROTECTED_PCIE_STATUS',
  22: 'SWITCH_PDI',
  23: 'FLOORSWEPT_PORTS',
  24: 'POSITION_ID',
  25: 'LOCK_SWITCH_STATUS',
  32: 'GPU_LINK_CONN',
  33: 'SYS_ENABLE_STATUS',
  34: 'OPAQUE_DATA_VERSION',
  35: 'CHIP_INFO',
  36: 'FEATURE_FLAG',
  255: 'INVALID',
};

export const OPAQUE_TYPE = {
  DRIVER_VERSION: 3,
  VBIOS_VERSION: 6,
  NVDEC0_STATUS: 11,
  MSRSCNT: 12,
  CHIP_SKU: 15,
  PROJECT: 17,
  PROJECT_SKU: 18,
  FWID: 20,
  SWITCH_PDI: 22,
  FEATURE_FLAG: 36,
} as const;

/**
 * The GPU's multi-GPU mode as FEATURE_FLAG states it (go-nvattest-tools abi.ParseFeatureFlag):
 * 0 single GPU passthrough, 1 multi-GPU passthrough, 2 protected PCIe. Reports from firmware
 * before the field existed carry none: LEGACY.
 */
export type GpuMode = 'SPT' | 'MPT' | 'PPCIE' | 'LEGACY';
const FEATURE_FLAG_MODES: Readonly<Record<number, GpuMode>> = { 0: 'SPT', 1: 'MPT', 2: 'PPCIE' };

/** NVDEC0 status byte values (nvtrust BaseSettings.NVDEC_STATUS). */
export const NVDEC0_ENABLED = 0xaa;
export const NVDEC0_DISABLED = 0x55;

export interface OpaqueField {
  readonly type: number;
  /** nvtrust's name without the OPAQUE_FIELD_ID_ prefix, or UNKNOWN_<type>. */
  readonly name: string;
  readonly value: Uint8Array;
}

/** The fields the verifier uses, decoded; every TLV is also kept raw in `fields`. */
export interface OpaqueData {
  readonly fields: readonly OpaqueField[];
  /** e.g. "550.90.07" (NUL padding removed). */
  readonly driverVersion?: string;
  /** As NVIDIA prints it, e.g. "96.00.9F.00.01". */
  readonly vbiosVersion?: string;
  readonly project?: string;
  readonly projectSku?: string;
  readonly chipSku?: string;
  /** 48 bytes; absent in reports from older firmware. */
  readonly fwid?: Uint8Array;
  /** Raw NVDEC0 status byte (0xAA enabled, 0x55 disabled). */
  readonly nvdec0Status?: number;
  readonly msrCounts?: readonly number[];
  /** 8-byte PDIs of the NVSwitches the GPU is connected to, hex. */
  readonly switchPdis?: readonly string[];
  /** FEATURE_FLAG as a little-endian number (at most 8 bytes); absent in older firmware's reports. */
  readonly featureFlag?: number;
}

/** The mode a report states, or the unknown FEATURE_FLAG value. */
export function gpuMode(od: OpaqueData): GpuMode | { unknown: number } {
  if (od.featureFlag === undefined) return 'LEGACY';
  return FEATURE_FLAG_MODES[od.featureFlag] ?? { unknown: od.featureFlag };
}

/** Parses the opaque data bytes; throws ParseError (check `gpu.report`) when malformed. */
export function parseOpaqueData(bytes: Uint8Array): OpaqueData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: OpaqueField[] = [];
  const seen = new Set<number>();
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length)
      throw new ParseError('gpu.report', `opaque data: truncated TLV header at offset ${offset}`);
    const type = view.getUint16(offset, true);
    const length = view.getUint16(offset + 2, true);
    offset += 4;
    if (offset + length > bytes.length)
      throw new ParseError(
        'gpu.report',
        `opaque data: field type ${type} of ${length} bytes runs past the end (${bytes.length - offset} left)`,
      );
    // A second TLV of the same type would make "the" driver version ambiguous: refuse it.
    if (seen.has(type)) throw new ParseError('gpu.report', `opaque data: field type ${type} appears twice`);
    seen.add(type);
    fields.push({
      type,
      name: OPAQUE_FIELD_TYPES[type] ?? `UNKNOWN_${type}`,
      value: bytes.subarray(offset, offset + length),
    });
    offset += length;
  }
  const get = (type: number): Uint8Array | undefined => fields.find((f) => f.type === type)?.value;

  const out: {
    -readonly [K in keyof OpaqueData]: OpaqueData[K];
  } = { fields };
  const driver = get(OPAQUE_TYPE.DRIVER_VERSION);
  if (driver) out.driverVersion = asciiField('DRIVER_VERSION', driver);
  const vbios = get(OPAQUE_TYPE.VBIOS_VERSION);
  if (vbios) out.vbiosVersion = formatVbiosVersion(vbios);
  const project = get(OPAQUE_TYPE.PROJECT);
  if (project) out.project = asciiField('PROJECT', project);
  const projectSku = get(OPAQUE_TYPE.PROJECT_SKU);
  if (projectSku) out.projectSku = asciiField('PROJECT_SKU', projectSku);
  const chipSku = get(OPAQUE_TYPE.CHIP_SKU);
  if (chipSku) out.chipSku = asciiField('CHIP_SKU', chipSku);
  const fwid = get(OPAQUE_TYPE.FWID);
  if (fwid) {
    if (fwid.length !== 48)
      throw new ParseError('gpu.report', `opaque data: FWID is ${fwid.length} bytes, expected 48 (SHA-384)`);
    out.fwid = fwid;
  }
  const nvdec = get(OPAQUE_TYPE.NVDEC0_STATUS);
  if (nvdec) {
    if (nvdec.length !== 1)
      throw new ParseError('gpu.report', `opaque data: NVDEC0_STATUS is ${nvdec.length} bytes, expected 1`);
    out.nvdec0Status = nvdec[0];
  }
  const msrs = get(OPAQUE_TYPE.MSRSCNT);
  if (msrs) {
    if (msrs.length % 4 !== 0)
      throw new ParseError('gpu.report', `opaque data: MSRSCNT is ${msrs.length} bytes, not a multiple of 4`);
    const dv = new DataView(msrs.buffer, msrs.byteOffset, msrs.byteLength);
    out.msrCounts = Array.from({ length: msrs.length / 4 }, (_, i) => dv.getUint32(i * 4, true));
  }
  const pdis = get(OPAQUE_TYPE.SWITCH_PDI);
  if (pdis) {
    if (pdis.length % 8 !== 0)
      throw new ParseError('gpu.report', `opaque data: SWITCH_PDI is ${pdis.length} bytes, not a multiple of 8`);
    out.switchPdis = Array.from({ length: pdis.length / 8 }, (_, i) =>
      Buffer.from(pdis.subarray(i * 8, i * 8 + 8)).toString('hex'),
    );
  }
  const flag = get(OPAQUE_TYPE.FEATURE_FLAG);
  if (flag) {
    if (flag.length === 0 || flag.length > 8)
      throw new ParseError('gpu.report', `opaque data: FEATURE_FLAG is ${flag.length} bytes, expected 1 to 8`);
    // Little-endian; a value above 2^53 is unknown anyway, so Number precision does not matter.
    out.featureFlag = flag.reduceRight((n, b) => n * 256 + b, 0);
  }
  return out;
}

/**
 * Formats the 8-byte VBIOS version field the way nvtrust's format_vbios_version and nvidia-smi
 * do: bytes b0..b7 print as b3.b2.b1.b0.b4 (upper-case hex), so 00 9F 00 96 01 00 00 00 is
 * "96.00.9F.00.01".
 */
export function formatVbiosVersion(raw: Uint8Array): string {
  if (raw.length !== 8)
    throw new ParseError('gpu.report', `opaque data: VBIOS_VERSION is ${raw.length} bytes, expected 8`);
  const order = [3, 2, 1, 0, 4];
  return order.map((i) => raw[i]!.toString(16).padStart(2, '0').toUpperCase()).join('.');
}

/** The inverse of formatVbiosVersion (for the simulator): "96.00.9F.00.01" -> 8 bytes. */
export function encodeVbiosVersion(version: string): Uint8Array {
  const m = /^([0-9a-f]{2})\.([0-9a-f]{2})\.([0-9a-f]{2})\.([0-9a-f]{2})\.([0-9a-f]{2})$/i.exec(version);
  if (!m) throw new Error(`VBIOS version must look like 96.00.9F.00.01, got "${version}"`);
  const [b3, b2, b1, b0, b4] = m.slice(1).map((h) => parseInt(h, 16));
  return new Uint8Array([b0!, b1!, b2!, b3!, b4!, 0, 0, 0]);
}

/** NUL-padded ASCII as the firmware writes it; anything else is malformed evidence. */
function asciiField(name: string, raw: Uint8Array): string {
  let end = raw.length;
  while (end > 0 && raw[end - 1] === 0) end--;
  for (let i = 0; i < end; i++) {
    const c = raw[i]!;
    if (c < 0x20 || c > 0x7e)
      throw new ParseError(
        'gpu.report',
        `opaque data: ${name} contains a non-printable byte 0x${c.toString(16).padStart(2, '0')} at ${i}`,
      );
  }
  return Buffer.from(raw.subarray(0, end)).toString('latin1');
}
