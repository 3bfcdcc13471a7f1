import assert from 'node:assert/strict';
import {
  bytesToGuid,
  certTableToPem,
  encodeSnpCertTable,
  guidToBytes,
  parseSnpCertTable,
  SNP_CERT_GUIDS,
} from '../../../../src/attestation/snp/cert-table.ts';
import { ParseError } from '../../../../src/attestation/verdict.ts';
import { vectorBytes } from '../../../vectors/paths.ts';

const vcek = vectorBytes('snp/milan-gosevguest/vcek.der');

describe('SNP certificate table (auxblob)', () => {
  it('encodes GUIDs mixed-endian, as EFI does', () => {
    assert.equal(Buffer.from(guidToBytes(SNP_CERT_GUIDS.vcek)).toString('hex'), '8d75da6364e66445adc5f4b93be8accd');
    for (const guid of Object.values(SNP_CERT_GUIDS)) assert.equal(bytesToGuid(guidToBytes(guid)), guid);
  });

  it('round-trips a table and finds the VCEK by its GUID', () => {
    const fake = new Uint8Array([1, 2, 3]);
    const entries = parseSnpCertTable(
      encodeSnpCertTable([
        { kind: 'vcek', der: vcek },
        { kind: 'ask', der: fake },
      ]),
    );
    assert.deepEqual(
      entries.map((e) => e.kind),
      ['vcek', 'ask'],
    );
    assert.deepEqual(entries[0]!.der, vcek);
    assert.match(certTableToPem(entries.slice(0, 1)), /^-----BEGIN CERTIFICATE-----\nMII/);
  });

  it('refuses tables without a terminator, with entries pointing outside, or with zero lengths', () => {
    const table = encodeSnpCertTable([{ kind: 'vcek', der: vcek }]);
    const noTerminator = table.slice(0, 24);
    const outside = Buffer.from(table);
    outside.writeUInt32LE(table.length, 20);
    const zero = Buffer.from(table);
    zero.writeUInt32LE(0, 20);
    for (const bad of [noTerminator, new Uint8Array(outside), new Uint8Array(zero), new Uint8Array(0)]) {
      assert.throws(
        () => parseSnpCertTable(bad),
        (err: unknown) => err instanceof ParseError && err.check === 'snp.cert-table',
      );
    }
  });
});
