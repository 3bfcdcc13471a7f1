/**
 * Every single-bit flip (byte ^ 0x01) of the real quote, region by region: each must be refused,
 * with the check that covers that region, except in the 39 trailing bytes nothing signs. Verified
 * with Intel's complete sample collateral at a time it is current, so that no flip is refused
 * merely for missing collateral.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TdxVerifierCache } from '../../../src/attestation/tdx/chain-cache.ts';
import type { TdxCollateral } from '../../../src/attestation/tdx/collateral.ts';
import { parseTdxQuote } from '../../../src/attestation/tdx/quote.ts';
import { verifyTdx } from '../../../src/attestation/tdx/verify.ts';
import { COLLATERAL_DIR, COLLATERAL_TIME, fixturePath, SPR_QUOTE, vectorBytes } from './testdata.ts';

const quote = vectorBytes(SPR_QUOTE);
const at = COLLATERAL_TIME;
const collateral: TdxCollateral = {
  tcbInfo: vectorBytes(COLLATERAL_DIR + 'sample_tcbInfo_response'),
  qeIdentity: vectorBytes(COLLATERAL_DIR + 'sample_qeIdentity_response'),
  tcbInfoIssuerChain: readFileSync(fixturePath('tcbinfo-issuer-chain.pem'), 'utf8'),
  pckCrl: vectorBytes(COLLATERAL_DIR + 'pckcrl'),
  rootCrl: vectorBytes(COLLATERAL_DIR + 'rootcrl.der'),
};
// Flips outside the PCK chain reuse the verified chain; flips inside it miss the cache (its key
// is the chain bytes), so every chain flip is verified from scratch.
const cache = new TdxVerifierCache();

/** Offsets of the quote's regions, from its own length fields. */
const q = parseTdxQuote(quote);
const SIG_DATA = 48 + 584 + 4;
const CERT_DATA = SIG_DATA + 128 + 6;
const AUTH_DATA = CERT_DATA + 384 + 64 + 2;
const PCK_CHAIN = AUTH_DATA + q.certification.qeAuthData.length + 6;
const END = PCK_CHAIN + q.certification.pckChain.length;

function flipped(i: number): Uint8Array {
  const m = Uint8Array.from(quote);
  m[i] = (m[i] as number) ^ 0x01;
  return m;
}

function checksAfterFlip(i: number): string[] {
  const v = verifyTdx({ quote: flipped(i) }, { at, cache, collateral });
  assert.equal(v.verified, v.reasons.length === 0);
  return v.reasons.map((r) => r.check);
}

/** Asserts every flip in [from, to) is refused and each has one of `expected` among its checks. */
function expectRegion(from: number, to: number, expected: readonly string[]): void {
  const accepted: number[] = [];
  const wrong: string[] = [];
  for (let i = from; i < to; i++) {
    const checks = checksAfterFlip(i);
    if (checks.length === 0) accepted.push(i);
    else if (!checks.some((c) => expected.includes(c))) wrong.push(`${i}: ${checks.join(',')}`);
  }
  assert.deepEqual(accepted, [], `flips accepted at offsets ${accepted.join(', ')}`);
  assert.deepEqual(wrong, [], 'flips refused for an unexpected reason');
}

describe('vectors: TDX spr-v4 byte flips', function () {
  this.timeout(120_000);

  it('the layout used below matches the quote (4299 bytes of signature data end at 4935)', () => {
    assert.equal(END, 4935);
    assert.equal(quote.length - END, 39);
    assert.deepEqual(checksAfterFlip(quote.length - 1), []);
  });

  it('header (48 bytes): refused by the quote signature, or as an unsupported or malformed version/key type/TEE type', () => {
    expectRegion(0, 48, [
      'tdx.quote-signature',
      'tdx.quote',
      'tdx.quote.version',
      'tdx.quote.attestation-key-type',
      'tdx.quote.tee-type',
      'tdx.qe-vendor-id',
    ]);
  });

  it('TD report body (584 bytes): refused by the quote signature', () => {
    expectRegion(48, 48 + 584, ['tdx.quote-signature']);
  });

  it('signature data length: refused as a malformed quote', () => {
    expectRegion(48 + 584, SIG_DATA, ['tdx.quote', 'tdx.quote.certification-data']);
  });

  it('quote signature (64 bytes): refused by the quote signature', () => {
    expectRegion(SIG_DATA, SIG_DATA + 64, ['tdx.quote-signature']);
  });

  it('attestation key (64 bytes): refused by the quote signature and the QE report data binding', () => {
    for (let i = SIG_DATA + 64; i < SIG_DATA + 128; i++) {
      const checks = checksAfterFlip(i);
      assert.ok(
        checks.includes('tdx.quote-signature') && checks.includes('tdx.qe-report-data'),
        `${i}: ${checks.join(',')}`,
      );
    }
  });

  it('certification data type and size: refused as malformed', () => {
    expectRegion(SIG_DATA + 128, CERT_DATA, ['tdx.quote', 'tdx.quote.certification-data']);
  });

  it('QE report (384 bytes) and its signature (64): refused by the QE report signature', () => {
    expectRegion(CERT_DATA, CERT_DATA + 384 + 64, ['tdx.qe-report-signature']);
  });

  it('QE auth data size and QE auth data: refused as malformed or by the QE report data binding', () => {
    expectRegion(CERT_DATA + 384 + 64, AUTH_DATA, ['tdx.quote', 'tdx.quote.certification-data']);
    expectRegion(AUTH_DATA, AUTH_DATA + q.certification.qeAuthData.length, ['tdx.qe-report-data']);
  });

  it('PCK certification data type and size: refused as malformed', () => {
    expectRegion(AUTH_DATA + q.certification.qeAuthData.length, PCK_CHAIN, [
      'tdx.quote',
      'tdx.quote.certification-data',
    ]);
  });

  it(`PCK chain PEM (3677 bytes): every flip is refused; none makes no difference`, () => {
    // Strict PEM (only LF/CRLF line ends, canonical base64) leaves no byte that can change
    // without the chain changing or the PEM being refused; a changed certificate then fails its
    // signature, its decoding, the SGX extension, or the QE report signature under a changed key.
    expectRegion(PCK_CHAIN, END, [
      'tdx.pck-chain',
      'tdx.pck-extension',
      'tdx.qe-report-signature',
      'tdx.pck-chain.validity',
    ]);
  });

  it('trailing bytes (39): no difference, nothing signs them', () => {
    const base = verifyTdx({ quote }, { at, collateral });
    assert.equal(base.claims.tcbEvaluated, true);
    for (let i = END; i < quote.length; i++) {
      const v = verifyTdx({ quote: flipped(i) }, { at, cache, collateral });
      assert.equal(v.verified, true, `offset ${i}`);
      assert.deepEqual(v.claims, base.claims);
    }
  });
});
