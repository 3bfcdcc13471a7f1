/**
 * The one place that sets up xmldsigjs for NVIDIA RIMs. RIMs name canonicalisation
 * http://www.w3.org/2006/12/xml-c14n11, which xmldsigjs does not know. c14n 1.1 differs from
 * 1.0 only for xml:id, xml:base and inherited xml:* attributes, which RIMs do not use (see
 * NOTES.md), so the 1.1 URI is registered as the 1.0 algorithm; RIMs that use xml:* attributes
 * are refused rather than canonicalised wrongly. xmldsigjs also needs a WebCrypto engine and a
 * DOM implementation (xml-core's node dependencies), given here from node:crypto and xmldom.
 */
import { webcrypto } from 'node:crypto';
import { DOMParser, type Document, type Element, XMLSerializer } from '@xmldom/xmldom';
import { setNodeDependencies } from 'xml-core';
import * as xmldsig from 'xmldsigjs';

export const C14N_11 = 'http://www.w3.org/2006/12/xml-c14n11';
export const C14N_10 = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315';
export const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
export const ECDSA_SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384';
export const SHA384 = 'http://www.w3.org/2001/04/xmldsig-more#sha384';
export const XMLDSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';

type CryptoKey = webcrypto.CryptoKey;
// xmldsigjs is typed against the DOM and WebCrypto globals, which this Node project does not load.
type Loose = never;

/** c14n 1.0 under the 1.1 URI (so that signing writes the 1.1 URI, as NVIDIA's RIMs do). */
class C14N11AsC14N10 extends xmldsig.XmlDsigC14NTransform {
  constructor() {
    super();
    this.Algorithm = C14N_11;
  }
}

let ready = false;

/** Registers the engine, the DOM and the c14n 1.1 transform once; returns the xmldsigjs module. */
export function xmlDsig(): typeof xmldsig {
  if (!ready) {
    setNodeDependencies({ DOMParser, XMLSerializer });
    xmldsig.Application.setEngine('NodeJS', webcrypto as Loose);
    xmldsig.CryptoConfig.RegisterTransform(C14N_11, C14N11AsC14N10);
    ready = true;
  }
  return xmldsig;
}

/** Parses XML without DTDs (no entity expansion from evidence); throws Error on any XML error. */
export function parseXml(text: string): Document {
  if (/<!DOCTYPE/i.test(text)) throw new Error('XML with a DOCTYPE is not accepted');
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level: string, msg: string) => {
      if (level !== 'warning') errors.push(msg);
    },
  }).parseFromString(text, 'application/xml');
  if (errors.length > 0) throw new Error(`malformed XML: ${errors[0]}`);
  if (!doc.documentElement) throw new Error('XML has no document element');
  return doc;
}

/**
 * Verifies the enveloped signature of `doc` (whose Signature element is `signatureElement`) with
 * `publicKey` only; the KeyInfo's keys are not used. Resolves false for a wrong digest or
 * signature; rejects for a signature xmldsigjs cannot process.
 */
export async function verifyEnvelopedSignature(
  doc: Document,
  signatureElement: Element,
  publicKey: CryptoKey,
): Promise<boolean> {
  const x = xmlDsig();
  const signed = new x.SignedXml(doc as Loose);
  signed.LoadXml(signatureElement as Loose);
  // Verify re-imports the key with the SignatureMethod's algorithm, which lacks the curve.
  signed.Algorithm = {
    ...(signed.Algorithm as object),
    namedCurve: (publicKey.algorithm as webcrypto.EcKeyAlgorithm).namedCurve,
  } as Loose;
  return signed.Verify(publicKey as Loose);
}

/** Signs `doc` in place with an enveloped ecdsa-sha384 signature under c14n 1.1, as NVIDIA's RIMs are; for the simulator. */
export async function signEnveloped(
  doc: Document,
  privateKey: CryptoKey,
  certificatesDer: readonly Uint8Array[],
): Promise<string> {
  const x = xmlDsig();
  const signed = new x.SignedXml();
  // Set before signing: SignedInfo is canonicalised with, and carries, this algorithm.
  signed.XmlSignature.SignedInfo.CanonicalizationMethod.Algorithm = C14N_11;
  await signed.Sign({ name: 'ECDSA', hash: 'SHA-384' } as Loose, privateKey as Loose, doc as Loose, {
    references: [{ hash: 'SHA-384', transforms: ['enveloped', C14N_11], uri: '' }],
    x509: certificatesDer.map((der) => Buffer.from(der).toString('base64')),
  });
  doc.documentElement!.appendChild(signed.GetXml() as Loose);
  return new XMLSerializer().serializeToString(doc);
}
