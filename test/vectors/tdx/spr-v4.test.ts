import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pemCertificates } from '../../../src/attestation/pem.ts';
import { INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_CA_SHA256 } from '../../../src/attestation/roots/intel.ts';
import { appraiseTdx } from '../../../src/attestation/tdx/appraise.ts';
import type { TdxCollateral } from '../../../src/attestation/tdx/collateral.ts';
import { crlSignatureProblem, parseCrl } from '../../../src/attestation/tdx/crl.ts';
import { parseTdxQuote } from '../../../src/attestation/tdx/quote.ts';
import { verifySignedJson } from '../../../src/attestation/tdx/signed-json.ts';
import { intelTrustAnchors, verifyTdx } from '../../../src/attestation/tdx/verify.ts';
import { COLLATERAL_DIR, COLLATERAL_TIME, fixturePath, SPR_QUOTE, vectorBytes, vectorPath } from './testdata.ts';

const quote = vectorBytes(SPR_QUOTE);
const tcbChain = readFileSync(fixturePath('tcbinfo-issuer-chain.pem'), 'utf8');
const collateralFile = (name: string): Uint8Array => vectorBytes(COLLATERAL_DIR + name);
const collateral: TdxCollateral = {
  tcbInfo: collateralFile('sample_tcbInfo_response'),
  qeIdentity: collateralFile('sample_qeIdentity_response'),
  tcbInfoIssuerChain: tcbChain,
  pckCrl: collateralFile('pckcrl'),
  rootCrl: collateralFile('rootcrl.der'),
};

describe('vectors: TDX spr-v4 (go-tdx-guest tdx_prod_quote_SPR_E4.dat)', () => {
  it('pins the Intel SGX Root CA exactly as in the vectors', () => {
    const pinned = new X509Certificate(INTEL_SGX_ROOT_CA_PEM);
    const vector = new X509Certificate(readFileSync(vectorPath('roots/intel_sgx_root_ca.pem')));
    assert.ok(pinned.raw.equals(vector.raw));
    assert.equal(pinned.fingerprint256.replace(/:/g, '').toLowerCase(), INTEL_SGX_ROOT_CA_SHA256);
  });

  it('without collateral it is refused, naming every missing piece (tdx.collateral.missing)', () => {
    const v = verifyTdx({ quote }, { at: new Date('2024-01-01T00:00:00Z') });
    assert.deepEqual(
      v.reasons.map((r) => r.check),
      ['tdx.collateral.missing'],
    );
    assert.match(v.reasons[0]!.message, /TCB info, QE identity, PCK CRL, root CA CRL/);
  });

  it('is authentic with the README claims (collateral let pass: TCB not evaluated)', () => {
    const v = verifyTdx({ quote }, { at: new Date('2024-01-01T00:00:00Z'), allowMissingCollateral: true });
    assert.deepEqual(v.reasons, []);
    assert.equal(v.verified, true);
    const c = v.claims;
    assert.equal(c.version, 4);
    assert.equal(c.teeType, 0x81);
    assert.equal(c.fmspc, '50806f000000');
    assert.equal(
      c.mrTd,
      '6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb',
    );
    assert.equal(c.trailingBytes, 39);
    assert.equal(c.pceid, '0000');
    assert.deepEqual(c.pckTcb, {
      components: [3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0],
      pceSvn: 11,
      cpuSvn: '03030202020100020000000000000000',
    });
    assert.equal(c.teeTcbSvn, '03000400000000000000000000000000');
    assert.equal(c.xfam, 'e71a060000000000');
    assert.deepEqual(c.tdAttributes, {
      hex: '0000004000000000',
      debug: false,
      septVeDisable: false,
      migratable: false,
      pks: true,
      kl: false,
      perfmon: false,
    });
    assert.equal(c.rtmrs?.length, 4);
    assert.equal(c.rtmrs?.[3], '0'.repeat(96));
    assert.equal(c.tcbStatus, undefined, 'no TCB status without collateral');
    assert.equal(c.tcbEvaluated, false);
    assert.equal(c.qeSvn, 4);
  });

  it('parses the layout by length fields: 4299 bytes of signature data, 39 trailing bytes', () => {
    const q = parseTdxQuote(quote);
    assert.equal(q.signedBytes.length, 48 + 584);
    assert.equal(q.certification.qeAuthData.length, 32);
    assert.equal(q.certification.pckChain.length, 3677);
    assert.equal(pemCertificates(q.certification.pckChain, 'tdx.pck-chain', { strict: true }).length, 3);
    assert.equal(q.certification.qeReport.isvProdId, 2);
  });

  it('is refused when the PCK certificate has expired (2029-09-20) or is not yet valid', () => {
    for (const at of ['2030-01-01T00:00:00Z', '2022-01-01T00:00:00Z']) {
      const v = verifyTdx({ quote }, { at: new Date(at), allowMissingCollateral: true });
      assert.equal(v.verified, false);
      assert.deepEqual(
        v.reasons.map((r) => r.check),
        ['tdx.pck-chain.validity'],
      );
    }
  });

  it('is refused when the Intel root is not a trust anchor', async () => {
    const { createTdxSimulator } = await import('../../../src/attestation/sim/tdx.ts');
    const { trustAnchors } = await import('../../../src/attestation/tdx/chain.ts');
    const sim = await createTdxSimulator();
    const v = verifyTdx(
      { quote },
      {
        at: COLLATERAL_TIME,
        trust: trustAnchors(sim.roots),
        allowMissingCollateral: true,
      },
    );
    assert.deepEqual(
      v.reasons.map((r) => r.check),
      ['tdx.pck-chain'],
    );
  });

  describe('collateral (Intel PCS samples for FMSPC 50806f000000)', () => {
    it('TCB info v3 and QE identity signatures verify to the pinned Intel root', () => {
      const anchors = intelTrustAnchors();
      const tcb = verifySignedJson(
        collateral.tcbInfo!,
        'tcbInfo',
        tcbChain,
        anchors,
        COLLATERAL_TIME,
        'tdx.collateral.tcb-info',
      );
      assert.deepEqual(tcb.reasons, []);
      assert.equal((tcb.value as { fmspc: string }).fmspc, '50806f000000');
      const qe = verifySignedJson(
        collateral.qeIdentity!,
        'enclaveIdentity',
        tcbChain,
        anchors,
        COLLATERAL_TIME,
        'tdx.collateral.qe-identity',
      );
      assert.deepEqual(qe.reasons, []);
    });

    it('the newer TCB info sample (tdxModuleIdentities, FMSPC 90c06f000000) verifies with the same TCB Signing key', () => {
      // Issued 2026 under a renewed TCB Signing certificate with the same key; the fixture's copy
      // is valid until 2025-05-21, so the chain is checked at a time inside that window.
      const v5 = verifySignedJson(
        collateralFile('sample_tcbinfo_response_v5'),
        'tcbInfo',
        tcbChain,
        intelTrustAnchors(),
        new Date('2025-01-01T00:00:00Z'),
        'tdx.collateral.tcb-info',
      );
      assert.deepEqual(v5.reasons, []);
      assert.equal((v5.value as { tdxModuleIdentities: unknown[] }).tdxModuleIdentities.length, 2);
    });

    it('a TCB info body changed by one byte no longer verifies', () => {
      const text = Buffer.from(collateral.tcbInfo as Uint8Array)
        .toString('utf8')
        .replace('"pcesvn":11', '"pcesvn":12');
      const v = verifySignedJson(
        text,
        'tcbInfo',
        tcbChain,
        intelTrustAnchors(),
        COLLATERAL_TIME,
        'tdx.collateral.tcb-info',
      );
      assert.deepEqual(
        v.reasons.map((r) => r.check),
        ['tdx.collateral.tcb-info.signature'],
      );
    });

    it("the root CRL verifies with the pinned root and the PCK CRL with the quote's PCK Platform CA", () => {
      const root = new X509Certificate(INTEL_SGX_ROOT_CA_PEM);
      assert.equal(crlSignatureProblem(parseCrl(collateral.rootCrl!, 'tdx.collateral.pck-crl'), root), undefined);
      const ders = pemCertificates(parseTdxQuote(quote).certification.pckChain, 'tdx.pck-chain', { strict: true });
      const platformCa = new X509Certificate(Buffer.from(ders[1]!));
      assert.equal(crlSignatureProblem(parseCrl(collateral.pckCrl!, 'tdx.collateral.pck-crl'), platformCa), undefined);
      assert.match(crlSignatureProblem(parseCrl(collateral.pckCrl!, 'tdx.collateral.pck-crl'), root) ?? '', /issuer/);
    });

    it('reports a TCB status at a time when all collateral is current', () => {
      const v = verifyTdx({ quote }, { at: COLLATERAL_TIME, collateral });
      assert.deepEqual(v.reasons, []);
      assert.equal(v.claims.tcbEvaluated, true);
      // The PCK's SGX TCB (component 1 = 3) is below both levels Intel lists (5): Intel's library
      // calls this TCB_NOT_SUPPORTED, and go-tdx-guest's own test zeroes the levels to get past it.
      assert.equal(v.claims.tcbStatus, 'NotSupported');
      assert.equal(v.claims.qeTcbStatus, 'UpToDate');
      const appraised = appraiseTdx(v, [{ mrTd: [v.claims.mrTd!] }]);
      assert.deepEqual(
        appraised.reasons.map((r) => r.check),
        ['tdx.tcb-status'],
      );
      const allowed = appraiseTdx(v, [{ mrTd: [v.claims.mrTd!] }], {
        acceptedTcbStatuses: ['UpToDate', 'NotSupported'],
      });
      assert.equal(allowed.verified, true);
    });

    it('refuses stale collateral: after TCB info, QE identity and the PCK CRL expired', () => {
      const v = verifyTdx({ quote }, { at: new Date('2023-07-20T00:00:00Z'), collateral });
      assert.deepEqual(v.reasons.map((r) => r.check).sort(), [
        'tdx.collateral.pck-crl.validity',
        'tdx.collateral.qe-identity.validity',
        'tdx.collateral.tcb-info.validity',
      ]);
    });

    it('refuses TCB info whose signature cannot be checked (no issuer chain)', () => {
      const { tcbInfoIssuerChain: _omit, ...rest } = collateral;
      const v = verifyTdx({ quote }, { at: COLLATERAL_TIME, collateral: rest });
      assert.deepEqual(v.reasons.map((r) => r.check).sort(), [
        'tdx.collateral.qe-identity.signature',
        'tdx.collateral.tcb-info.signature',
      ]);
      assert.equal(v.claims.tcbStatus, 'NotSupported', 'the status is still reported as what could be read');
    });

    it('refuses TCB info for another platform (the FMSPC 90c06f000000 sample)', () => {
      const v = verifyTdx(
        { quote },
        {
          at: COLLATERAL_TIME,
          collateral: { tcbInfo: collateralFile('sample_tcbinfo_response_v5'), tcbInfoIssuerChain: tcbChain },
        },
      );
      const checks = v.reasons.map((r) => r.check);
      assert.ok(checks.includes('tdx.collateral.tcb-info.fmspc'), checks.join());
      assert.ok(checks.includes('tdx.collateral.tcb-info.validity'), checks.join());
    });
  });
});
