/**
 * Every byte of the real reports and VCEKs, flipped (XOR 0xff) one at a time.
 *
 * Findings (asserted below):
 * - Report bytes 0x000-0x29F (signed) are all refused, with `snp.signature` (or, for the version
 *   and SIGNATURE_ALGO fields, with `snp.report.version` / `snp.signature.algorithm`).
 * - Signature bytes 0x2A0-0x32F are all refused, including the 24 zero-padding bytes above the
 *   48-byte r and s: non-zero padding makes r or s >= 2^384 > n, never a valid P-384 signature,
 *   and accepting it would give one report two accepted encodings.
 * - Bytes 0x330-0x49F (the rest of the 512-byte signature field, unsigned) make no difference:
 *   still authentic, same claims. go-sev-guest refuses non-zero bytes there (must-be-zero); here
 *   they are ignored on purpose because nothing protects them, so checking them adds no assurance.
 * - No flipped VCEK byte is accepted, not even outside the signed TBSCertificate: OpenSSL
 *   compares the outer signatureAlgorithm with the signed one, and everything else there is the
 *   signature value. Each flip is a parse refusal or a chain (signature) refusal.
 */
import assert from 'node:assert/strict';
import { SnpEndorsementCache } from '../../../src/attestation/snp/endorsement-cache.ts';
import { SNP_SIGNED_LENGTH } from '../../../src/attestation/snp/report.ts';
import { verifySnp } from '../../../src/attestation/snp/verify.ts';
import { gosevguest, trustee, VECTOR_TIME } from './testdata.ts';

const SIGNATURE_END = 0x2a0 + 2 * 72;
const PARSE_CHECKS = new Set([
  'snp.certificate',
  'snp.certificate.key',
  'snp.certificate.extensions',
  'snp.report.version',
]);

describe('snp vectors: every byte flipped', function () {
  this.timeout(180_000);

  for (const vector of [gosevguest, trustee]) {
    const v = vector();

    it(`${v.name}: each report byte in 0x000-0x32F is refused, each byte after it changes nothing`, () => {
      // The VCEK does not change here: cache its chain, the report signature is checked every time.
      const cache = new SnpEndorsementCache();
      const original = verifySnp({ report: v.report, certificates: v.vcek }, { at: VECTOR_TIME, cache });
      assert.equal(original.verified, true);
      const accepted: number[] = [];
      for (let i = 0; i < v.report.length; i++) {
        const m = v.report.slice();
        m[i]! ^= 0xff;
        const verdict = verifySnp({ report: m, certificates: v.vcek }, { at: VECTOR_TIME, cache });
        const ids = verdict.reasons.map((r) => r.check);
        if (i < SIGNATURE_END) {
          assert.equal(verdict.verified, false, `byte 0x${i.toString(16)} accepted`);
          // The version decides the layout, SIGNATURE_ALGO how to check: both refuse before any signature check.
          const expected =
            i < 0x04 ? 'snp.report.version' : i >= 0x34 && i < 0x38 ? 'snp.signature.algorithm' : 'snp.signature';
          assert.ok(ids.includes(expected), `byte 0x${i.toString(16)}: ${ids.join(', ')}`);
        } else {
          assert.deepEqual(verdict, original, `byte 0x${i.toString(16)} changed the verdict`);
          accepted.push(i);
        }
      }
      assert.equal(accepted.length, v.report.length - SIGNATURE_END);
      assert.ok(SNP_SIGNED_LENGTH < SIGNATURE_END);
    });

    it(`${v.name}: each VCEK byte flipped is refused (a parse refusal or a broken chain)`, () => {
      const kinds = new Map<string, number>();
      for (let i = 0; i < v.vcek.length; i++) {
        const m = v.vcek.slice();
        m[i]! ^= 0xff;
        const verdict = verifySnp({ report: v.report, certificates: m }, { at: VECTOR_TIME });
        assert.equal(verdict.verified, false, `certificate byte ${i} accepted`);
        const ids = verdict.reasons.map((r) => r.check);
        const kind = ids.some((c) => PARSE_CHECKS.has(c))
          ? 'parse'
          : ids.includes('snp.chain')
            ? 'chain'
            : ids.join(',');
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
      assert.deepEqual([...kinds.keys()].sort(), ['chain', 'parse']);
      assert.equal(kinds.get('chain')! + kinds.get('parse')!, v.vcek.length);
    });
  }
});
