/**
 * Every byte of the real reports and certificates, flipped (XOR 0xFF) one at a time, must make
 * the evidence refused: the signature covers request and response, and the certificates are
 * covered by their issuers' signatures or, for the root, pinned byte for byte.
 */
import assert from 'node:assert/strict';
import { VerificationCache } from '../../../src/attestation/nvidia/cache.ts';
import { checkGpuReport } from '../../../src/attestation/nvidia/report-check.ts';
import { pemCertificates } from '../../../src/attestation/pem.ts';
import {
  hexBytes,
  NO_OCSP_IN_TESTDATA,
  NONCE_535,
  NONCE_550,
  NOW,
  OLD_FIRMWARE,
  reportBytes,
  text,
} from './testdata.ts';

// No OCSP answers exist for these chains, and hopper-535's firmware reports no FWID (testdata.ts).
const vectors = [
  { name: 'hopper-550', nonce: NONCE_550, policy: NO_OCSP_IN_TESTDATA },
  { name: 'hopper-535', nonce: NONCE_535, policy: { ...NO_OCSP_IN_TESTDATA, ...OLD_FIRMWARE } },
];

function toPem(ders: readonly Uint8Array[]): string {
  return ders
    .map(
      (d) =>
        `-----BEGIN CERTIFICATE-----\n${Buffer.from(d).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`,
    )
    .join('');
}

describe('vectors: every byte flip of the real GPU evidence', function () {
  this.timeout(180_000);

  for (const { name, nonce, policy } of vectors) {
    const report = reportBytes(`${name}/report.hex`);
    const certificateChain = text(`${name}/certs.pem`);
    // The chain is unchanged while the report is mutated: cache its (time-independent) check.
    const options = { at: NOW, policy, cache: new VerificationCache() };

    it(`${name}: the unmodified report verifies and carries its nonce (baseline)`, () => {
      const v = checkGpuReport({ report, certificateChain }, options);
      assert.deepEqual(v.reasons, []);
      assert.deepEqual(v.report!.request.nonce, hexBytes(nonce));
    });

    it(`${name}: each of the ${report.length} report bytes (request, response, signature) flipped is refused`, () => {
      const accepted: number[] = [];
      const mutated = new Uint8Array(report);
      for (let i = 0; i < report.length; i++) {
        mutated[i] = report[i]! ^ 0xff;
        const v = checkGpuReport({ report: mutated, certificateChain }, options);
        if (v.reasons.length === 0 || v.signatureVerified) accepted.push(i);
        mutated[i] = report[i]!;
      }
      assert.deepEqual(accepted, []);
    });

    it(`${name}: trailing bytes after the signature make no difference (nothing signs them)`, () => {
      const padded = new Uint8Array(report.length + 16);
      padded.set(report);
      for (let i = report.length; i < padded.length; i++) {
        padded[i] = 0xa5;
        const v = checkGpuReport({ report: padded, certificateChain }, options);
        assert.deepEqual(v.reasons, [], `trailing byte ${i}`);
        assert.equal(v.report!.trailingBytes, 16);
      }
    });
  }

  it('hopper-550: each byte of each certificate flipped is refused (or does not parse); none is accepted', () => {
    const report = reportBytes('hopper-550/report.hex');
    const ders = pemCertificates(text('hopper-550/certs.pem'), 'gpu.cert-chain');
    const accepted: string[] = [];
    let refused = 0;
    for (const [c, der] of ders.entries()) {
      const mutated = new Uint8Array(der);
      for (let i = 0; i < der.length; i++) {
        mutated[i] = der[i]! ^ 0xff;
        const chain = ders.map((d, k) => (k === c ? mutated : d));
        const v = checkGpuReport(
          { report, certificateChain: toPem(chain) },
          {
            at: NOW,
            policy: NO_OCSP_IN_TESTDATA,
          },
        );
        if (v.reasons.length === 0) accepted.push(`certificate ${c} byte ${i}`);
        else refused++;
        mutated[i] = der[i]!;
      }
    }
    // Every byte of a certificate is under its issuer's signature (TBS), is that signature, or is
    // DER framing whose change breaks parsing or the signature check; the root is compared with the
    // pinned copy byte for byte. So no flipped byte is expected to go unnoticed.
    assert.deepEqual(accepted, []);
    assert.equal(
      refused,
      ders.reduce((n, d) => n + d.length, 0),
    );
  });
});
