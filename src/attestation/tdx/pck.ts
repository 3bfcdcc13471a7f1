/**
 * The PCK (Provisioning Certification Key) certificate's Intel SGX extension
 * (OID 1.2.840.113741.1.13.1, "SGX PCK Certificate and CRL Profile"): the platform's FMSPC, PCE ID
 * and the TCB it was certified at (16 CPUSVN components and PCESVN), which select and are matched
 * against the TCB info collateral. Decoded with asn1js; the certificate is walked directly to its
 * extensions (pkijs' full certificate model costs milliseconds per certificate and adds nothing here).
 */
import * as asn1js from 'asn1js';
import { ParseError } from '../verdict.ts';
import { decodeDer } from './der.ts';

export const SGX_EXTENSION_OID = '1.2.840.113741.1.13.1';
const PPID = `${SGX_EXTENSION_OID}.1`;
const TCB = `${SGX_EXTENSION_OID}.2`;
const PCESVN = `${TCB}.17`;
const CPUSVN = `${TCB}.18`;
const PCEID = `${SGX_EXTENSION_OID}.3`;
const FMSPC = `${SGX_EXTENSION_OID}.4`;
const SGX_TYPE = `${SGX_EXTENSION_OID}.5`;
const PLATFORM_INSTANCE_ID = `${SGX_EXTENSION_OID}.6`;
const CONFIGURATION = `${SGX_EXTENSION_OID}.7`;

/** What the PCK certificate says about the platform. */
export interface PckExtension {
  readonly ppid: Uint8Array;
  /** SGX TCB component SVNs 1..16 (index 0 = component 1). */
  readonly tcbComponents: readonly number[];
  readonly pceSvn: number;
  readonly cpuSvn: Uint8Array;
  /** 2 bytes. */
  readonly pceId: Uint8Array;
  /** 6 bytes: family, model, stepping, platform type, and customer SKU of the platform. */
  readonly fmspc: Uint8Array;
  /** 0 = Standard, 1 = Scalable, 2 = Scalable with integrity. */
  readonly sgxType: number;
  /** Platform CA PCK certificates only. */
  readonly platformInstanceId?: Uint8Array;
  readonly configuration?: {
    readonly dynamicPlatform?: boolean;
    readonly cachedKeys?: boolean;
    readonly smtEnabled?: boolean;
  };
}

/** Reads the SGX extension of a DER PCK certificate; throws ParseError (`tdx.pck-extension`). */
export function parsePckExtension(der: Uint8Array): PckExtension {
  const top = fields(sgxExtensionValue(der), 'SGX extension');
  const tcb = fields(sequence(top, TCB, 'TCB'), 'TCB');
  const tcbComponents: number[] = [];
  for (let i = 1; i <= 16; i++) tcbComponents.push(integer(tcb, `${TCB}.${i}`, `TCB component ${i}`));
  const config = top.get(CONFIGURATION);
  let configuration: PckExtension['configuration'];
  if (config !== undefined) {
    const c = fields(config, 'configuration');
    configuration = {
      dynamicPlatform: bool(c, `${CONFIGURATION}.1`),
      cachedKeys: bool(c, `${CONFIGURATION}.2`),
      smtEnabled: bool(c, `${CONFIGURATION}.3`),
    };
  }
  const platformInstanceId = top.has(PLATFORM_INSTANCE_ID)
    ? octets(top, PLATFORM_INSTANCE_ID, 'platform instance ID')
    : undefined;
  return {
    ppid: fixed(octets(top, PPID, 'PPID'), 16, 'PPID'),
    tcbComponents,
    pceSvn: integer(tcb, PCESVN, 'PCESVN'),
    cpuSvn: fixed(octets(tcb, CPUSVN, 'CPUSVN'), 16, 'CPUSVN'),
    pceId: fixed(octets(top, PCEID, 'PCE-ID'), 2, 'PCE-ID'),
    fmspc: fixed(octets(top, FMSPC, 'FMSPC'), 6, 'FMSPC'),
    sgxType: enumerated(top, SGX_TYPE, 'SGX type'),
    ...(platformInstanceId !== undefined ? { platformInstanceId } : {}),
    ...(configuration !== undefined ? { configuration } : {}),
  };
}

/** The extnValue contents of the SGX extension: Certificate > TBSCertificate > [3] > Extension. */
function sgxExtensionValue(der: Uint8Array): asn1js.AsnType {
  const cert = decodeDer(der, 'tdx.pck-extension', 'PCK certificate');
  const tbs = cert instanceof asn1js.Sequence ? cert.valueBlock.value[0] : undefined;
  if (!(tbs instanceof asn1js.Sequence)) throw new ParseError('tdx.pck-extension', 'PCK certificate does not decode');
  const explicit = tbs.valueBlock.value.find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 3);
  const list = explicit instanceof asn1js.Constructed ? explicit.valueBlock.value[0] : undefined;
  const extensions = list instanceof asn1js.Sequence ? list.valueBlock.value : [];
  for (const ext of extensions) {
    const parts = ext instanceof asn1js.Sequence ? ext.valueBlock.value : [];
    const [oid] = parts;
    const value = parts[parts.length - 1];
    if (oid instanceof asn1js.ObjectIdentifier && oid.valueBlock.toString() === SGX_EXTENSION_OID) {
      if (!(value instanceof asn1js.OctetString))
        throw new ParseError('tdx.pck-extension', 'SGX extension value is not an OCTET STRING');
      // asn1js already decoded the OCTET STRING's contents when they are DER; decoding them again
      // would double the cost of the slowest step here.
      const nested = value.valueBlock.value;
      if (!value.valueBlock.isHexOnly && nested.length === 1 && nested[0] !== undefined) return nested[0];
      return decodeDer(value.valueBlock.valueHexView, 'tdx.pck-extension', 'SGX extension');
    }
  }
  throw new ParseError('tdx.pck-extension', `PCK certificate has no SGX extension (${SGX_EXTENSION_OID})`);
}

/** SEQUENCE OF SEQUENCE { OID, value } as a map from OID to value. */
function fields(seq: asn1js.AsnType, what: string): Map<string, asn1js.AsnType> {
  if (!(seq instanceof asn1js.Sequence)) throw new ParseError('tdx.pck-extension', `${what} is not a DER SEQUENCE`);
  const map = new Map<string, asn1js.AsnType>();
  for (const item of seq.valueBlock.value) {
    const pair = item instanceof asn1js.Sequence ? item.valueBlock.value : [];
    const [oid, value] = pair;
    if (pair.length !== 2 || !(oid instanceof asn1js.ObjectIdentifier) || value === undefined) {
      throw new ParseError('tdx.pck-extension', `${what}: entry is not SEQUENCE { OID, value }`);
    }
    map.set(oid.valueBlock.toString(), value);
  }
  return map;
}

function get(map: Map<string, asn1js.AsnType>, oid: string, what: string): asn1js.AsnType {
  const v = map.get(oid);
  if (v === undefined) throw new ParseError('tdx.pck-extension', `SGX extension lacks ${what} (${oid})`);
  return v;
}

function sequence(map: Map<string, asn1js.AsnType>, oid: string, what: string): asn1js.Sequence {
  const v = get(map, oid, what);
  if (!(v instanceof asn1js.Sequence)) throw new ParseError('tdx.pck-extension', `${what} is not a SEQUENCE`);
  return v;
}

/** OCTET STRING contents. */
function octets(map: Map<string, asn1js.AsnType>, oid: string, what: string): Uint8Array {
  const v = get(map, oid, what);
  if (!(v instanceof asn1js.OctetString)) throw new ParseError('tdx.pck-extension', `${what} is not an OCTET STRING`);
  return v.valueBlock.valueHexView;
}

function fixed(bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (bytes.length !== length)
    throw new ParseError('tdx.pck-extension', `${what} is ${bytes.length} bytes, expected ${length}`);
  return bytes;
}

function integer(map: Map<string, asn1js.AsnType>, oid: string, what: string): number {
  const v = get(map, oid, what);
  if (!(v instanceof asn1js.Integer)) throw new ParseError('tdx.pck-extension', `${what} is not an INTEGER`);
  return smallNonNegative(v.valueBlock.valueHexView, what);
}

function enumerated(map: Map<string, asn1js.AsnType>, oid: string, what: string): number {
  const v = get(map, oid, what);
  if (!(v instanceof asn1js.Enumerated)) throw new ParseError('tdx.pck-extension', `${what} is not an ENUMERATED`);
  return smallNonNegative(v.valueBlock.valueHexView, what);
}

/** SVNs are at most 16 bits; anything wider or negative is not a PCK this verifier understands. */
function smallNonNegative(bytes: Uint8Array, what: string): number {
  if (bytes.length === 0 || bytes.length > 3 || ((bytes[0] as number) & 0x80) !== 0)
    throw new ParseError('tdx.pck-extension', `${what} is not a small non-negative integer`);
  let n = 0;
  for (const b of bytes) n = n * 256 + b;
  if (n > 0xffff) throw new ParseError('tdx.pck-extension', `${what} (${n}) exceeds 16 bits`);
  return n;
}

function bool(map: Map<string, asn1js.AsnType>, oid: string): boolean | undefined {
  const v = map.get(oid);
  return v instanceof asn1js.Boolean ? v.valueBlock.value : undefined;
}
