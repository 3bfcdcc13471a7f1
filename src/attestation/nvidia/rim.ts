/**
 * NVIDIA Reference Integrity Manifests: SWID tags (ISO/IEC 19770-2:2015) with TCG RIM metadata,
 * listing golden measurements per index, signed with an enveloped XML signature whose KeyInfo
 * carries the signer chain (signer first, NVIDIA's RIM root last). Parsing follows nvtrust's
 * rim/__init__.py; the structural checks stand in for its XSD validation ("schema validated").
 */
import { createHash, webcrypto } from 'node:crypto';
import type { Document, Element, Node as XmlNode } from '@xmldom/xmldom';
import { errorMessage } from '../../errors.ts';
import { ParseError, prefixed, type Reason, reason } from '../verdict.ts';
import type { VerificationCache } from './cache.ts';
import { type ParsedCertificate, parseCertificate, verifyChain } from './certificates.ts';
import {
  C14N_10,
  C14N_11,
  ECDSA_SHA384,
  ENVELOPED,
  parseXml,
  SHA384,
  verifyEnvelopedSignature,
  XMLDSIG_NS,
} from './xmldsig.ts';

export const SWID_NS = 'http://standards.iso.org/iso/19770/-2/2015/schema.xsd';
export const TCG_RIM_NS =
  'https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/';
/** Namespace of the Hash0..HashN attributes (nvtrust's HashFunctionNamespace). */
export const HASH_NS = 'http://www.w3.org/2001/04/xmlenc#sha384';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';
/** More would only be a way to make a RIM expensive to process. */
const MAX_RESOURCES = 1024;
const MAX_ALTERNATIVES = 64;

export type RimKind = 'driver' | 'vbios';

/** One golden measurement: a report measurement at `index` matches if it equals any alternative. */
export interface GoldenMeasurement {
  readonly index: number;
  readonly name: string;
  readonly active: boolean;
  readonly size: number;
  readonly alternatives: readonly Uint8Array[];
}

export interface Rim {
  /** Driver RIMs carry a driver version ("550.144.03"), VBIOS RIMs a VBIOS version ("96.00.5E.00.01"). */
  readonly kind: RimKind;
  readonly colloquialVersion: string;
  /** SoftwareIdentity name (the chip, e.g. GH100) and tagId. */
  readonly product: string;
  readonly tagId: string;
  /** Meta attributes by local name (colloquialVersion, edition, product, FirmwareManufacturerId...). */
  readonly meta: Readonly<Record<string, string>>;
  readonly measurements: readonly GoldenMeasurement[];
  /** SHA-384 of the document bytes, hex: what a Manifest pins in rimDigests. */
  readonly digest: string;
  /** KeyInfo X509Certificate entries, signer first, as DER. */
  readonly certificates: readonly Uint8Array[];
  readonly document: Document;
  readonly signature: Element;
}

/** Parses a RIM; throws ParseError (check `gpu.rim.schema`) when it is not a well-formed NVIDIA RIM. */
export function parseRim(input: string | Uint8Array): Rim {
  const bytes =
    typeof input === 'string'
      ? Buffer.from(input, 'utf8')
      : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const digest = createHash('sha384').update(bytes).digest('hex');
  let doc: Document;
  try {
    doc = parseXml(typeof input === 'string' ? input : bytes.toString('utf8'));
  } catch (err) {
    throw new ParseError('gpu.rim.schema', `RIM: ${errorMessage(err)}`);
  }
  const root = doc.documentElement!;
  if (root.namespaceURI !== SWID_NS || root.localName !== 'SoftwareIdentity')
    throw schema(`root element is {${root.namespaceURI}}${root.localName}, expected a SWID SoftwareIdentity`);
  const children = elementChildren(root);
  const metas = children.filter((e) => e.namespaceURI === SWID_NS && e.localName === 'Meta');
  const payloads = children.filter((e) => e.namespaceURI === SWID_NS && e.localName === 'Payload');
  if (metas.length !== 1) throw schema(`expected one Meta element, found ${metas.length}`);
  if (payloads.length !== 1) throw schema(`expected one Payload element, found ${payloads.length}`);
  const meta: Record<string, string> = {};
  for (const attr of Array.from(metas[0]!.attributes)) meta[attr.localName ?? attr.name] = attr.value;
  const colloquialVersion = meta.colloquialVersion ?? '';
  if (colloquialVersion === '') throw schema('Meta has no colloquialVersion');

  const measurements: GoldenMeasurement[] = [];
  const indices = new Set<number>();
  const resources = elementChildren(payloads[0]!);
  if (resources.length === 0) throw schema('Payload has no Resource');
  if (resources.length > MAX_RESOURCES)
    throw schema(`Payload has ${resources.length} resources, more than ${MAX_RESOURCES}`);
  for (const res of resources) {
    if (res.namespaceURI !== SWID_NS || res.localName !== 'Resource')
      throw schema(`Payload holds a ${res.localName}, expected Resource`);
    const index = intAttr(res, 'index', 0, 255);
    if (indices.has(index)) throw schema(`measurement index ${index} appears twice`);
    indices.add(index);
    const activeText = res.getAttribute('active');
    if (activeText !== 'True' && activeText !== 'False')
      throw schema(`Resource ${index}: active="${activeText}", expected True or False`);
    const size = intAttr(res, 'size', 1, 1024);
    const count = intAttr(res, 'alternatives', 1, MAX_ALTERNATIVES);
    const alternatives: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const hex = res.getAttributeNS(HASH_NS, `Hash${i}`);
      if (!hex || !/^[0-9a-fA-F]*$/.test(hex) || hex.length !== size * 2)
        throw schema(`Resource ${index}: Hash${i} is missing or not ${size} bytes of hex`);
      alternatives.push(new Uint8Array(Buffer.from(hex, 'hex')));
    }
    measurements.push({
      index,
      name: res.getAttribute('name') ?? '',
      active: activeText === 'True',
      size,
      alternatives,
    });
  }

  const signatures = Array.from(doc.getElementsByTagNameNS(XMLDSIG_NS, 'Signature'));
  if (signatures.length !== 1 || signatures[0]!.parentNode !== root)
    throw schema(`expected one Signature element as a child of the root, found ${signatures.length}`);
  const signature = signatures[0]!;
  // c14n 1.1 is processed as 1.0 (xmldsig.ts); the two differ only on xml:* attributes.
  const all = Array.from(doc.getElementsByTagName('*'));
  if (all.some((el) => Array.from(el.attributes).some((a) => a.namespaceURI === XML_NS)))
    throw schema('xml:* attributes are not supported (c14n 1.1 would treat them differently from 1.0)');
  const certificates = Array.from(signature.getElementsByTagNameNS(XMLDSIG_NS, 'X509Certificate')).map((el) => {
    const body = (el.textContent ?? '').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw schema('X509Certificate is not base64');
    return new Uint8Array(Buffer.from(body, 'base64'));
  });
  if (certificates.length === 0) throw schema('KeyInfo carries no X509Certificate');

  return {
    kind: /^[0-9a-f]{2}(\.[0-9a-f]{2}){4}$/i.test(colloquialVersion) ? 'vbios' : 'driver',
    colloquialVersion,
    product: root.getAttribute('name') ?? '',
    tagId: root.getAttribute('tagId') ?? '',
    meta,
    measurements,
    digest,
    certificates,
    document: doc,
    signature,
  };
}

export interface RimVerification {
  readonly signatureVerified: boolean;
  readonly certChainVerified: boolean;
  /** Signer first; from the KeyInfo, with a pinned anchor at the end when one issued the chain. */
  readonly signerChain: readonly ParsedCertificate[];
  readonly reasons: readonly Reason[];
}

export interface RimVerifyOptions {
  readonly at: Date;
  readonly anchors: readonly ParsedCertificate[];
  readonly cache?: VerificationCache;
  /** Prefix for messages, e.g. "driver RIM NV_GPU_DRIVER_GH100_550.144.03". */
  readonly label: string;
}

interface CachedSignature {
  readonly ok: boolean;
  readonly message?: string;
}

/**
 * Verifies a parsed RIM: the signer chain in KeyInfo up to a pinned RIM root at `at`, and the XML
 * signature with the signer's key (never a key the KeyInfo merely names). Never throws.
 */
export async function verifyRim(rim: Rim, options: RimVerifyOptions): Promise<RimVerification> {
  const reasons: Reason[] = [];
  let chain: ParsedCertificate[];
  try {
    const key = `rim-certificates:${rim.digest}`;
    chain =
      options.cache?.get<ParsedCertificate[]>(key) ??
      rim.certificates.map((der) => parseCertificate(der, 'gpu.rim.cert-chain'));
    options.cache?.set(key, chain);
  } catch (err) {
    reasons.push(reason('gpu.rim.cert-chain', `${options.label}: ${errorMessage(err)}`));
    return { signatureVerified: false, certChainVerified: false, signerChain: [], reasons };
  }
  const checked = verifyChain(chain, {
    anchors: options.anchors,
    at: options.at,
    check: 'gpu.rim.cert-chain',
    role: 'RIM signer',
    ...(options.cache ? { cache: options.cache } : {}),
  });
  for (const r of checked.reasons) reasons.push(prefixed(r, `${options.label}: `));

  const structural = signatureStructure(rim.signature);
  let signatureVerified = false;
  if (structural) {
    reasons.push(reason('gpu.rim.signature', `${options.label}: ${structural}`));
  } else {
    const key = `rim-signature:${rim.digest}`;
    let result = options.cache?.get<CachedSignature>(key);
    if (!result) {
      result = await checkSignature(rim, chain[0]!);
      options.cache?.set(key, result);
    }
    signatureVerified = result.ok;
    if (!result.ok) reasons.push(reason('gpu.rim.signature', `${options.label}: ${result.message}`));
  }
  return { signatureVerified, certChainVerified: checked.reasons.length === 0, signerChain: checked.path, reasons };
}

async function checkSignature(rim: Rim, signer: ParsedCertificate): Promise<CachedSignature> {
  try {
    const spki = signer.x509.publicKey.export({ type: 'spki', format: 'der' });
    const curve = signer.x509.publicKey.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'secp384r1')
      return {
        ok: false,
        message: `the signer key is not ECDSA P-384 (${curve ?? signer.x509.publicKey.asymmetricKeyType})`,
      };
    const key = await webcrypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-384' }, true, [
      'verify',
    ]);
    const ok = await verifyEnvelopedSignature(rim.document, rim.signature, key);
    return ok ? { ok } : { ok, message: `the XML signature does not verify with the key of "${signer.name}"` };
  } catch (err) {
    // xmldsigjs reports a wrong reference digest (the document was changed after signing) by throwing.
    return { ok: false, message: `the XML signature does not verify: ${errorMessage(err)}` };
  }
}

/**
 * Only the shape NVIDIA signs is accepted: one Reference to the whole document (URI=""),
 * enveloped-signature then c14n, SHA-384 digest, ECDSA-SHA384. Anything else (a Reference to a
 * fragment, other transforms) could leave the measurements outside what the signature covers.
 */
function signatureStructure(signature: Element): string | undefined {
  const one = (parent: Element, name: string): Element | undefined => {
    const found = elementChildren(parent).filter((e) => e.namespaceURI === XMLDSIG_NS && e.localName === name);
    return found.length === 1 ? found[0] : undefined;
  };
  const signedInfo = one(signature, 'SignedInfo');
  if (!signedInfo) return 'Signature has no single SignedInfo';
  const c14n = one(signedInfo, 'CanonicalizationMethod')?.getAttribute('Algorithm');
  if (c14n !== C14N_11 && c14n !== C14N_10) return `unsupported canonicalisation ${c14n}`;
  const method = one(signedInfo, 'SignatureMethod')?.getAttribute('Algorithm');
  if (method !== ECDSA_SHA384) return `signature method ${method}, expected ecdsa-sha384`;
  const refs = elementChildren(signedInfo).filter((e) => e.namespaceURI === XMLDSIG_NS && e.localName === 'Reference');
  if (refs.length !== 1) return `SignedInfo has ${refs.length} references, expected 1`;
  const ref = refs[0]!;
  if (ref.getAttribute('URI') !== '')
    return `the Reference URI is "${ref.getAttribute('URI')}", expected "" (the whole document)`;
  const transforms = one(ref, 'Transforms');
  const algs = transforms ? elementChildren(transforms).map((t) => t.getAttribute('Algorithm')) : [];
  if (algs.length !== 2 || algs[0] !== ENVELOPED || (algs[1] !== C14N_11 && algs[1] !== C14N_10))
    return `unexpected transforms ${algs.join(', ')}`;
  const digest = one(ref, 'DigestMethod')?.getAttribute('Algorithm');
  if (digest !== SHA384) return `digest method ${digest}, expected sha384`;
  return undefined;
}

function elementChildren(el: Element): Element[] {
  return Array.from(el.childNodes as ArrayLike<XmlNode>).filter((n): n is Element => n.nodeType === 1);
}

function intAttr(el: Element, name: string, min: number, max: number): number {
  const text = el.getAttribute(name) ?? '';
  if (!/^\d{1,6}$/.test(text)) throw schema(`Resource attribute ${name}="${text}" is not a number`);
  const n = Number(text);
  if (n < min || n > max) throw schema(`Resource attribute ${name}=${n} is outside ${min}..${max}`);
  return n;
}

function schema(message: string): ParseError {
  return new ParseError('gpu.rim.schema', `RIM: ${message}`);
}
