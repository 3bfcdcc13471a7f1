/**
 * X.509 chains for NVIDIA evidence: the GPU's device chain (leaf first, as NVML returns it) and
 * the RIM signer chain in a RIM's KeyInfo. A chain is checked against pinned trust anchors; a
 * root that travels with the evidence is accepted only when it is byte-identical to one of them.
 * Signatures and names are checked with Node's X509Certificate (OpenSSL); extensions (FWID,
 * key usage, path length, criticality) with the small DER reader in der.ts.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { errorMessage } from '../../errors.ts';
import { BoundedMemo } from '../bounded-memo.ts';
import { chainToAnchor, commonName, validityProblems } from '../certificate-chain.ts';
import type { CheckId } from '../check-registry.ts';
import { pemCertificates } from '../pem.ts';
import { ParseError, type Reason, reason } from '../verdict.ts';
import type { VerificationCache } from './cache.ts';
import {
  certificateExtensions,
  children,
  DerError,
  isConstructed,
  oid,
  readTlv,
  smallInteger,
  type Tlv,
} from './der.ts';

/** TCG DICE extensions that carry the FWID of the firmware the key was derived for (Hopper; Blackwell's DiceTcbInfo). */
export const TCG_DICE_FWID_OID = '2.23.133.5.4.1';
export const TCG_DICE_TCB_INFO_OID = '2.23.133.5.4.1.1';
const SHA384_OID = '2.16.840.1.101.3.4.2.2';
// Critical extensions this checker understands; any other critical one refuses the chain
// (RFC 5280 4.2). nameConstraints is not here: NVIDIA chains carry none, and accepting it
// without enforcing it would be wrong.
const KNOWN_CRITICAL = new Set(['2.5.29.15', '2.5.29.19', '2.5.29.17', '2.5.29.37']);
const KEY_CERT_SIGN = 5;
const DIGITAL_SIGNATURE = 0;

/** One certificate, parsed once: what chain checks need. */
export interface ParsedCertificate {
  readonly der: Uint8Array;
  readonly x509: X509Certificate;
  readonly subject: string;
  /** The subject's CN, for messages. */
  readonly name: string;
  readonly selfIssued: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCA: boolean;
  readonly pathLength?: number;
  /** Key usage bits (bit 0 digitalSignature ... bit 5 keyCertSign); absent: no extension. */
  readonly keyUsage?: readonly boolean[];
  readonly unknownCritical: readonly string[];
  /** The SHA-384 FWID from the TCG DICE extension, when there is one. */
  readonly fwid?: Uint8Array;
}

/** Parses one DER certificate; throws ParseError with the given check id. */
export function parseCertificate(der: Uint8Array, check: CheckId = 'gpu.cert-chain'): ParsedCertificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (err) {
    throw new ParseError(check, `certificate does not parse: ${errorMessage(err)}`);
  }
  let keyUsage: boolean[] | undefined;
  let pathLength: number | undefined;
  let fwid: Uint8Array | undefined;
  const unknownCritical: string[] = [];
  try {
    for (const ext of certificateExtensions(der)) {
      if (ext.critical && !KNOWN_CRITICAL.has(ext.oid)) unknownCritical.push(ext.oid);
      if (ext.oid === '2.5.29.15') keyUsage = parseKeyUsage(ext.value);
      if (ext.oid === '2.5.29.19') pathLength = parsePathLength(ext.value);
      if (ext.oid === TCG_DICE_FWID_OID || ext.oid === TCG_DICE_TCB_INFO_OID) fwid = extractFwid(ext.value, check);
    }
  } catch (err) {
    if (err instanceof ParseError) throw err;
    throw new ParseError(check, `certificate extensions do not parse: ${errorMessage(err)}`);
  }
  const subject = x509.subject;
  const out: { -readonly [K in keyof ParsedCertificate]: ParsedCertificate[K] } = {
    der,
    x509,
    subject,
    name: commonName(subject),
    selfIssued: x509.subject === x509.issuer,
    notBefore: x509.validFromDate,
    notAfter: x509.validToDate,
    isCA: x509.ca,
    unknownCritical,
  };
  if (keyUsage) out.keyUsage = keyUsage;
  if (pathLength !== undefined) out.pathLength = pathLength;
  if (fwid) out.fwid = fwid;
  return out;
}

/** Parses a PEM chain; throws ParseError. */
export function parseCertificateChain(pem: string, check: CheckId = 'gpu.cert-chain'): ParsedCertificate[] {
  return pemCertificates(pem, check).map((der) => parseCertificate(der, check));
}

/**
 * GPU device chains parsed, by the SHA-256 of their PEM text, for the whole process: the
 * collateral step (gpuOcsp) and the report check of one appraisal share one parse, and a
 * node's chains appraised again soon (the simulated trust after the pinned one, a retry) are
 * not parsed again. Certificates are interned by the SHA-256 of their DER, so the intermediates
 * every GPU shares are one object, and a chain costs its own two certificates (leaf and device
 * certificate): about 17 KB of RSS, measured, most of it OpenSSL's. That is too much to keep a
 * fleet's chains (4,000 GPUs, about 70 MB) for the 0.5 ms a parse costs, so the memo holds the
 * chains of the last 32 nodes of 8 GPUs: 256 chains, at most about 4.5 MB; the 256 interned
 * certificates are at most about 2 MB.
 */
export const deviceChainMemo = new BoundedMemo<ParsedCertificate[]>(256);
export const internedCertificates = new BoundedMemo<ParsedCertificate>(256);

/** A GPU's device chain (PEM), from the memo or parsed now; throws ParseError (a chain that does not parse is not remembered). */
export function parseDeviceChain(pem: string): ParsedCertificate[] {
  const key = createHash('sha256').update(pem).digest('hex');
  return deviceChainMemo.getOrMake(key, () =>
    pemCertificates(pem, 'gpu.cert-chain').map((der) =>
      internedCertificates.getOrMake(createHash('sha256').update(der).digest('hex'), () =>
        parseCertificate(der, 'gpu.cert-chain'),
      ),
    ),
  );
}

/** The time-independent outcome of a chain check, which a cache may keep. */
export interface ChainStructure {
  /** Leaf first, ending with the pinned anchor that issued the top certificate (when found). */
  readonly path: readonly ParsedCertificate[];
  readonly reasons: readonly Reason[];
}

export interface ChainOptions {
  readonly anchors: readonly ParsedCertificate[];
  readonly at: Date;
  /** Reason check id, e.g. gpu.cert-chain or gpu.rim.cert-chain. */
  readonly check: CheckId;
  /** What the leaf is for, in messages ("GPU attestation key", "RIM signer"). */
  readonly role: string;
  readonly cache?: VerificationCache;
}

/**
 * Checks a chain (leaf first) against pinned anchors at a time; returns every problem found.
 * The structure (signatures, names, CA flags) is cached; validity is checked at `at` each time.
 */
export function verifyChain(
  chain: readonly ParsedCertificate[],
  options: ChainOptions,
): { path: readonly ParsedCertificate[]; reasons: Reason[] } {
  const structure = chainStructure(chain, options);
  const reasons = [...structure.reasons];
  for (const problem of validityProblems(structure.path, options.at)) reasons.push(reason(options.check, problem));
  return { path: structure.path, reasons };
}

/** The time-independent part of verifyChain (signatures, names, CA flags), cached when a cache is given. */
export function chainStructure(chain: readonly ParsedCertificate[], options: Omit<ChainOptions, 'at'>): ChainStructure {
  const key = options.cache ? chainKey(chain, options) : undefined;
  let structure = key ? options.cache!.get<ChainStructure>(key) : undefined;
  if (!structure) {
    structure = checkStructure(chain, options);
    if (key) options.cache!.set(key, structure);
  }
  return structure;
}

function checkStructure(chain: readonly ParsedCertificate[], options: Omit<ChainOptions, 'at'>): ChainStructure {
  const { check } = options;
  const anchored = chainToAnchor(
    chain.map((c) => c.x509),
    options.anchors.map((a) => a.x509),
    options.role,
  );
  const reasons = anchored.problems.map((p) => reason(check, p));
  // The path is the chain without a copy of the anchor at its end; a chain of the root alone has none.
  const certs = chain.slice(0, anchored.path.length);
  if (certs.length === 0) return { path: chain.slice(-1), reasons };
  const anchor = options.anchors.find((a) => a.x509 === anchored.anchor);
  const path = anchor ? [...certs, anchor] : certs;

  const leaf = certs[0]!;
  if (leaf.isCA)
    reasons.push(
      reason(
        check,
        `the ${options.role} certificate "${leaf.name}" is a CA certificate, not an end-entity one (is the leaf missing?)`,
      ),
    );
  if (leaf.keyUsage && !leaf.keyUsage[DIGITAL_SIGNATURE])
    reasons.push(
      reason(check, `the ${options.role} certificate "${leaf.name}" may not sign (no digitalSignature key usage)`),
    );
  for (let i = 1; i < path.length; i++) {
    const ca = path[i]!;
    if (!ca.isCA) reasons.push(reason(check, `"${ca.name}" issues certificates but is not a CA`));
    if (ca.keyUsage && !ca.keyUsage[KEY_CERT_SIGN])
      reasons.push(reason(check, `"${ca.name}" issues certificates without the keyCertSign key usage`));
    // Intermediate CAs below this one, not counting the leaf (RFC 5280 6.1.4 (l), (m)).
    if (ca.pathLength !== undefined && i - 1 > ca.pathLength)
      reasons.push(
        reason(check, `"${ca.name}" allows ${ca.pathLength} intermediate CAs below it, the chain has ${i - 1}`),
      );
  }
  for (const cert of path) {
    if (cert.unknownCritical.length > 0)
      reasons.push(
        reason(check, `"${cert.name}" has unsupported critical extensions ${cert.unknownCritical.join(', ')}`),
      );
  }
  return { path, reasons };
}

function chainKey(chain: readonly ParsedCertificate[], options: Omit<ChainOptions, 'at'>): string {
  const h = createHash('sha256');
  for (const c of chain) h.update(c.der).update('|');
  h.update('anchors');
  for (const a of options.anchors) h.update(a.der).update('|');
  return `chain:${options.check}:${h.digest('hex')}`;
}

function parseKeyUsage(value: Uint8Array): boolean[] {
  const t = readTlv(value, 0);
  if (t.tag !== 0x03 || t.end !== value.length || t.end === t.start)
    throw new DerError('key usage is not a BIT STRING');
  const bits = value.subarray(t.start + 1, t.end);
  return Array.from({ length: 9 }, (_, bit) => ((bits[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0);
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }. */
function parsePathLength(value: Uint8Array): number | undefined {
  const t = readTlv(value, 0);
  if (t.tag !== 0x30 || t.end !== value.length) throw new DerError('basic constraints is not a SEQUENCE');
  const integer = children(value, t).find((c) => c.tag === 0x02);
  return integer ? smallInteger(value, integer) : undefined;
}

/**
 * The FWID in a TCG DICE extension, read as nvtrust's extract_fwid reads it. Hopper leaves carry
 * NVIDIA's SEQUENCE { version, SPKI, FWID { hashAlg, digest } } under 2.23.133.5.4.1, where
 * nvtrust takes the last 48 bytes: the last SHA-384 FWID. Blackwell leaves carry a DiceTcbInfo
 * under 2.23.133.5.4.1.1, whose fwids [6] list nvtrust reads entry 0 of.
 */
function extractFwid(value: Uint8Array, check: CheckId): Uint8Array {
  const top = readTlv(value, 0);
  if (top.tag !== 0x30 || top.end !== value.length) throw new DerError('FWID extension is not one SEQUENCE');
  const fwidOf = (t: Tlv): Uint8Array | undefined => {
    if (t.tag !== 0x30) return undefined;
    const items = children(value, t);
    if (items.length !== 2 || items[0]!.tag !== 0x06 || items[1]!.tag !== 0x04) return undefined;
    return oid(value, items[0]!) === SHA384_OID ? value.slice(items[1]!.start, items[1]!.end) : undefined;
  };
  let found: Uint8Array | undefined;
  const tcbFwids = children(value, top).find((t) => t.tag === 0xa6);
  if (tcbFwids) {
    const first = children(value, tcbFwids)[0];
    found = first ? fwidOf(first) : undefined;
  } else {
    const walk = (node: Tlv, depth: number): void => {
      if (depth > 8 || !isConstructed(node)) return;
      const f = fwidOf(node);
      if (f) {
        found = f;
        return;
      }
      for (const item of children(value, node)) walk(item, depth + 1);
    };
    walk(top, 0);
  }
  if (found?.length !== 48) throw new ParseError(check, 'FWID extension holds no SHA-384 FWID');
  return found;
}

/** Which GPU architecture a device chain is for, from the chip name in its subjects (GH100 -> HOPPER). */
export function architectureOf(chain: readonly ParsedCertificate[]): 'HOPPER' | 'BLACKWELL' | undefined {
  for (const cert of chain) {
    const m = /\bG([HB])\d{3}\b/.exec(cert.subject);
    if (m) return m[1] === 'H' ? 'HOPPER' : 'BLACKWELL';
  }
  return undefined;
}
