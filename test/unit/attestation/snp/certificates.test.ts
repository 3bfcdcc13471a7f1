import 'reflect-metadata';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import {
  AMD_OID,
  parseAmdExtensions,
  sortCertificates,
  splitCertificates,
} from '../../../../src/attestation/snp/certificates.ts';
import { ParseError } from '../../../../src/attestation/verdict.ts';
import { vectorPath } from '../../../vectors/paths.ts';
import { hex } from './fixture.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

let keys: webcrypto.CryptoKeyPair;

/** A throwaway certificate carrying the given extensions (its signature is irrelevant here). */
async function withExtensions(...extensions: x509.Extension[]): Promise<Uint8Array> {
  keys ??= (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '00',
    name: 'CN=test',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams,
    extensions,
  });
  return new Uint8Array(cert.rawData);
}

const ext = (oid: string, block: asn1js.BaseBlock | Uint8Array): x509.Extension =>
  new x509.Extension(oid, false, block instanceof Uint8Array ? block : block.toBER());
const int = (n: number | bigint) =>
  typeof n === 'bigint' ? asn1js.Integer.fromBigInt(n) : new asn1js.Integer({ value: n });
const isParseError = (check: string) => (e: unknown) => e instanceof ParseError && e.check === check;

describe('snp/certificates: AMD KDS extensions', () => {
  it('reads the extensions of a real Milan VCEK (go-sev-guest test data)', () => {
    const e = parseAmdExtensions(readFileSync(vectorPath('snp/milan-gosevguest/vcek.der')));
    assert.equal(e.structVersion, 0);
    assert.equal(e.productName, 'Milan-B0');
    assert.deepEqual(
      [e.blSpl, e.teeSpl, e.snpSpl, e.ucodeSpl, e.spl4, e.spl5, e.spl6, e.spl7, e.fmcSpl],
      [2, 0, 5, 68, 0, 0, 0, 0, null],
    );
    assert.equal(hex(e.hwId!).slice(0, 16), '3ac3fe21e13fb099');
    assert.equal(e.hwId!.length, 64);
    assert.equal(e.cspId, null);
  });

  it('accepts the hwID raw (as KDS encodes it) or wrapped in an OCTET STRING', async () => {
    const raw = new Uint8Array(64).fill(0xab);
    assert.deepEqual(parseAmdExtensions(await withExtensions(ext(AMD_OID.hwId, raw))).hwId, raw);
    assert.deepEqual(
      parseAmdExtensions(await withExtensions(ext(AMD_OID.hwId, new asn1js.OctetString({ valueHex: raw })))).hwId,
      raw,
    );
    const turin = new Uint8Array(8).fill(0xcd);
    assert.deepEqual(parseAmdExtensions(await withExtensions(ext(AMD_OID.hwId, turin))).hwId, turin);
    await assert.rejects(
      async () => parseAmdExtensions(await withExtensions(ext(AMD_OID.hwId, new Uint8Array(33)))),
      isParseError('snp.certificate.extensions'),
    );
  });

  it('refuses malformed values: not an INTEGER, out of byte range, trailing bytes, wrong string tag, duplicates', async () => {
    const bad: x509.Extension[][] = [
      [ext(AMD_OID.blSpl, new asn1js.IA5String({ value: '3' }))],
      [ext(AMD_OID.snpSpl, int(256))],
      [ext(AMD_OID.snpSpl, int(-1))],
      [ext(AMD_OID.ucodeSpl, new Uint8Array([0x02, 0x01, 0x05, 0x00]))],
      [ext(AMD_OID.productName, new asn1js.Utf8String({ value: 'Milan-B0' }))],
      [ext(AMD_OID.teeSpl, int(1)), ext(AMD_OID.teeSpl, int(1))],
    ];
    for (const exts of bad) {
      await assert.rejects(
        async () => parseAmdExtensions(await withExtensions(...exts)),
        isParseError('snp.certificate.extensions'),
        exts.map((e) => e.type).join(),
      );
    }
  });

  it('ignores extensions outside 1.3.6.1.4.1.3704.1 and unknown AMD ones', async () => {
    const e = parseAmdExtensions(
      await withExtensions(ext('1.3.6.1.4.1.3704.1.99', int(1)), ext('1.2.3.4', int(1)), ext(AMD_OID.fmcSpl, int(7))),
    );
    assert.equal(e.fmcSpl, 7);
    assert.equal(e.productName, null);
  });

  it('splits PEM bundles and DER, and sorts the leaf from CA certificates', () => {
    const vcek = readFileSync(vectorPath('snp/negative-chipid/vcek.pem'), 'utf8');
    const roots = readFileSync(vectorPath('roots/ask_ark_milan.pem'), 'utf8');
    assert.equal(splitCertificates(vcek + roots).length, 3);
    assert.equal(splitCertificates(new Uint8Array(Buffer.from(vcek.replace(/\n/g, '\r\n')))).length, 1);
    const sorted = sortCertificates(roots + vcek);
    assert.match(sorted.leaf.x509.subject, /CN=SEV-VCEK/);
    // The self-signed ARK is dropped: roots are pinned, never taken from evidence.
    assert.deepEqual(
      sorted.intermediates.map((c) => /CN=(.*)/.exec(c.subject)![1]),
      ['SEV-Milan'],
    );
    assert.throws(
      () => splitCertificates('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----'),
      isParseError('snp.certificate'),
    );
    assert.throws(() => sortCertificates(new Uint8Array([1, 2, 3])), isParseError('snp.certificate'));
  });
});
