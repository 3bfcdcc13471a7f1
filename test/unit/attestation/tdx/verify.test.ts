/**
 * The verifier on simulated evidence: v4 and both v5 bodies, the trust anchor parameter, the
 * chain cache, and collateral (required; signatures, freshness, revocation, FMSPC, TDX module
 * identities). Tests about the quote and its chain alone let missing collateral pass.
 */
import assert from 'node:assert/strict';
import { createTdxSimulator, type TdxSimulator } from '../../../../src/attestation/sim/tdx.ts';
import { type TrustAnchor, trustAnchors } from '../../../../src/attestation/tdx/chain.ts';
import { TdxVerifierCache } from '../../../../src/attestation/tdx/chain-cache.ts';
import type { TdxCollateral } from '../../../../src/attestation/tdx/collateral.ts';
import { parseTdxQuote } from '../../../../src/attestation/tdx/quote.ts';
import { verifyTdx } from '../../../../src/attestation/tdx/verify.ts';

const at = new Date('2024-06-10T00:00:00Z');
const checks = (v: { reasons: readonly { check: string }[] }): string[] => v.reasons.map((r) => r.check).sort();
/** For checks of the quote and its PCK chain alone. */
const chainOnly = { allowMissingCollateral: true } as const;

describe('tdx verify (simulated evidence)', () => {
  let sim: TdxSimulator;
  let anchors: TrustAnchor[];
  let collateral: TdxCollateral;

  before(async () => {
    sim = await createTdxSimulator();
    anchors = trustAnchors(sim.roots);
    collateral = await sim.collateral();
  });

  it('v4 quote: authentic, with the fields it was made with', () => {
    const mrTd = 'aa'.repeat(48);
    const v = verifyTdx(
      { quote: sim.quote({ mrTd, reportData: 'bb'.repeat(64) }) },
      {
        at,
        trust: anchors,
        collateral,
      },
    );
    assert.deepEqual(v.reasons, []);
    assert.equal(v.claims.tcbEvaluated, true);
    assert.equal(v.claims.missingCollateral, undefined);
    assert.equal(v.claims.qeSvn, 4);
    assert.equal(v.claims.version, 4);
    assert.equal(v.claims.mrTd, mrTd);
    assert.equal(v.claims.reportData, 'bb'.repeat(64));
    assert.equal(v.claims.fmspc, '50806f000000');
    assert.equal(v.claims.tdAttributes?.septVeDisable, true);
  });

  it('v5 quote with a TDX 1.5 body (type 3): TEE_TCB_SVN2 and MRSERVICETD are parsed and signed', () => {
    const q = sim.quote({ version: 5, bodyType: 3, teeTcbSvn2: '0a'.repeat(16), mrServiceTd: 'cc'.repeat(48) });
    const v = verifyTdx({ quote: q }, { at, trust: anchors, collateral });
    assert.deepEqual(v.reasons, []);
    assert.equal(v.claims.version, 5);
    assert.equal(v.claims.bodyType, 3);
    assert.equal(v.claims.teeTcbSvn2, '0a'.repeat(16));
    assert.equal(v.claims.mrServiceTd, 'cc'.repeat(48));
    assert.equal(
      parseTdxQuote(q).signedBytes.length,
      48 + 6 + 648,
      'the signature covers header, body descriptor and body',
    );
    const tampered = Uint8Array.from(q);
    tampered[48 + 6 + 600] = (tampered[48 + 6 + 600] as number) ^ 1; // inside MRSERVICETD
    assert.deepEqual(checks(verifyTdx({ quote: tampered }, { at, trust: anchors, collateral })), [
      'tdx.quote-signature',
    ]);
  });

  it('v5 quote with a TDX 1.0 body (type 2)', () => {
    const v = verifyTdx({ quote: sim.quote({ version: 5, bodyType: 2 }) }, { at, trust: anchors, collateral });
    assert.deepEqual(v.reasons, []);
    assert.equal(v.claims.bodyType, 2);
    assert.equal(v.claims.teeTcbSvn2, undefined);
  });

  it('trailing bytes make no difference', () => {
    const v = verifyTdx({ quote: sim.quote({ trailingBytes: 100 }) }, { at, trust: anchors, collateral });
    assert.deepEqual(v.reasons, []);
    assert.equal(v.claims.trailingBytes, 100);
  });

  it('simulated evidence is refused against the default (Intel) root', () => {
    assert.deepEqual(checks(verifyTdx({ quote: sim.quote() }, { at, ...chainOnly })), ['tdx.pck-chain']);
  });

  it('evidence of another simulator (another root, same names) is refused', async () => {
    const other = await createTdxSimulator();
    assert.deepEqual(checks(verifyTdx({ quote: other.quote() }, { at, trust: anchors, ...chainOnly })), [
      'tdx.pck-chain',
    ]);
  });

  it('a quote whose QE report binds another attestation key is refused (qe-report-data)', () => {
    const q = sim.quote({ qeAuthData: new Uint8Array([1, 2, 3]) });
    const p = parseTdxQuote(q);
    // Swap the auth data bytes for same-length others: the QE report data no longer matches.
    const offset = q.length - p.certification.pckChain.length - 6 - 3;
    q.set([9, 9, 9], offset);
    assert.deepEqual(checks(verifyTdx({ quote: q }, { at, trust: anchors, ...chainOnly })), ['tdx.qe-report-data']);
  });

  it('refuses an expired PCK certificate', async () => {
    const short = await createTdxSimulator({ pckNotAfter: new Date('2024-03-01T00:00:00Z') });
    assert.deepEqual(
      checks(verifyTdx({ quote: short.quote() }, { at, trust: trustAnchors(short.roots), ...chainOnly })),
      ['tdx.pck-chain.validity'],
    );
  });

  it('the cache skips chain verification the second time and keeps time checks', () => {
    const cache = new TdxVerifierCache();
    const q = sim.quote();
    assert.deepEqual(verifyTdx({ quote: q }, { at, trust: anchors, cache, ...chainOnly }).reasons, []);
    assert.equal(cache.size, 1);
    assert.deepEqual(verifyTdx({ quote: q }, { at, trust: anchors, cache, ...chainOnly }).reasons, []);
    assert.equal(cache.hits, 1);
    assert.deepEqual(
      checks(verifyTdx({ quote: q }, { at: new Date('2050-01-01T00:00:00Z'), trust: anchors, cache, ...chainOnly })),
      ['tdx.pck-chain.validity'],
    );
    // Other anchors are another key: the Intel root does not get the cached simulated result.
    assert.deepEqual(checks(verifyTdx({ quote: q }, { at, cache, ...chainOnly })), ['tdx.pck-chain']);
  });

  it('the cache keeps failures out and evicts the least recently used entry', async () => {
    const cache = new TdxVerifierCache(1);
    verifyTdx({ quote: sim.quote() }, { at, cache, ...chainOnly }); // refused: not cached
    assert.equal(cache.size, 0);
    const other = await createTdxSimulator();
    verifyTdx({ quote: sim.quote() }, { at, trust: anchors, cache, ...chainOnly });
    verifyTdx({ quote: other.quote() }, { at, trust: trustAnchors(other.roots), cache, ...chainOnly });
    assert.equal(cache.size, 1);
  });

  describe('collateral is required (TCB info, QE identity, PCK CRL, root CA CRL together)', () => {
    it('without collateral a quote from a non-Intel QE, on an OutOfDate platform or with a revoked PCK is refused (tdx.collateral.missing)', async () => {
      const nonIntelQe = sim.quote({ qeMrSigner: '5a'.repeat(32) });
      const outOfDate = sim.quote({ teeTcbSvn: '03000300000000000000000000000000' });
      const revoked = await sim.collateral({ revokePck: true });
      // Without collateral each is refused for the missing collateral, naming all four pieces.
      for (const q of [nonIntelQe, outOfDate, sim.quote()]) {
        const v = verifyTdx({ quote: q }, { at, trust: anchors });
        assert.deepEqual(checks(v), ['tdx.collateral.missing']);
        assert.match(v.reasons[0]!.message, /TCB info, QE identity, PCK CRL, root CA CRL/);
        assert.equal(v.claims.tcbEvaluated, false);
      }
      // With it, each for what is wrong with it.
      assert.deepEqual(checks(verifyTdx({ quote: nonIntelQe }, { at, trust: anchors, collateral })), [
        'tdx.qe-identity.mrsigner',
      ]);
      assert.equal(verifyTdx({ quote: outOfDate }, { at, trust: anchors, collateral }).claims.tcbStatus, 'OutOfDate');
      assert.deepEqual(checks(verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: revoked })), [
        'tdx.pck-revoked',
      ]);
    });

    it('each missing piece refuses, named; the pieces given are still checked', async () => {
      const pieces = [
        ['tcbInfo', 'TCB info'],
        ['qeIdentity', 'QE identity'],
        ['pckCrl', 'PCK CRL'],
        ['rootCrl', 'root CA CRL'],
      ] as const;
      for (const [key, name] of pieces) {
        const partial: Record<string, unknown> = { ...collateral };
        delete partial[key];
        const v = verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: partial as TdxCollateral });
        assert.deepEqual(checks(v), ['tdx.collateral.missing'], key);
        assert.match(v.reasons[0]!.message, new RegExp(`missing: ${name};`));
        assert.deepEqual(v.claims.missingCollateral, [name]);
      }
      const { rootCrl: _r, ...noRootCrl } = await sim.collateral({ revokePck: true });
      assert.deepEqual(
        checks(
          verifyTdx(
            { quote: sim.quote() },
            {
              at,
              trust: anchors,
              collateral: noRootCrl,
              allowMissingCollateral: true,
            },
          ),
        ),
        ['tdx.pck-revoked'],
      );
    });

    it('allowMissingCollateral lets it pass, and the claims say the TCB was not evaluated', () => {
      const v = verifyTdx({ quote: sim.quote() }, { at, trust: anchors, allowMissingCollateral: true });
      assert.deepEqual(v.reasons, []);
      assert.equal(v.claims.tcbEvaluated, false);
      assert.equal(v.claims.tcbStatus, undefined);
      assert.equal(v.claims.qeTcbStatus, undefined);
      assert.deepEqual(v.claims.missingCollateral, ['TCB info', 'QE identity', 'PCK CRL', 'root CA CRL']);
    });

    it("a PCK CRL signed by another Intel CA does not count: it must come from the PCK certificate's issuer", async () => {
      // The other CA is genuine (issued by the same root, with a valid issuer chain), so its CRL
      // verifies by itself; but it says nothing about this PCK: handed over in place of the PCK
      // CA's own CRL, it would hide a revocation.
      const other = await sim.collateral({ pckCrlFromOtherCa: true });
      const v = verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: other });
      assert.deepEqual(checks(v), ['tdx.collateral.pck-crl.issuer', 'tdx.collateral.pck-crl.signature']);
      const { pckCrlIssuerChain: _omit, ...withoutChain } = other;
      assert.deepEqual(checks(verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: withoutChain })), [
        'tdx.collateral.pck-crl.signature',
      ]);
    });

    it('the root CA CRL is checked against the TCB Signing certificate too', async () => {
      const c = await sim.collateral({ revokeTcbSigner: true });
      const v = verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: c });
      assert.deepEqual(checks(v), ['tdx.collateral.tcb-signing-revoked']);
      assert.match(v.reasons[0]!.message, /Intel SGX TCB Signing .* is revoked by the root CA CRL/);
    });
  });

  describe('collateral', () => {
    it('UpToDate platform and QE with every piece of collateral checked', () => {
      const v = verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral });
      assert.deepEqual(v.reasons, []);
      assert.equal(v.claims.tcbStatus, 'UpToDate');
      assert.equal(v.claims.qeTcbStatus, 'UpToDate');
      assert.equal(v.claims.tcbDate, '2024-03-13T00:00:00Z');
    });

    it('a TEE_TCB_SVN below the first level falls to the next one (OutOfDate)', () => {
      const v = verifyTdx(
        { quote: sim.quote({ teeTcbSvn: '03000300000000000000000000000000' }) },
        {
          at,
          trust: anchors,
          collateral,
        },
      );
      assert.deepEqual(v.reasons, []);
      assert.equal(v.claims.tcbStatus, 'OutOfDate');
      assert.deepEqual(v.claims.advisoryIds, ['INTEL-SA-00000']);
    });

    it('revoked PCK and revoked PCK CA', async () => {
      const c = await sim.collateral({ revokePck: true, revokeIntermediate: true });
      assert.deepEqual(checks(verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: c })), [
        'tdx.pck-revoked',
        'tdx.pck-revoked',
      ]);
    });

    it("the PCK CRL checked with the quote's own PCK issuer when no CRL issuer chain is given", async () => {
      const c = await sim.collateral({ revokePck: true });
      const { pckCrlIssuerChain: _omit, ...rest } = c;
      assert.deepEqual(checks(verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: rest })), [
        'tdx.pck-revoked',
      ]);
    });

    it('collateral of another simulator: every signature refused', async () => {
      const other = await createTdxSimulator();
      const c = await other.collateral();
      assert.deepEqual(checks(verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: c })), [
        'tdx.collateral.pck-crl.signature', // its issuer chain leads to another root
        'tdx.collateral.pck-crl.signature', // and the PCK's own CA did not sign it
        'tdx.collateral.qe-identity.signature',
        'tdx.collateral.root-crl.signature',
        'tdx.collateral.tcb-info.signature',
      ]);
    });

    it('collateral before its issue date and after its next update', () => {
      for (const when of ['2024-05-01T00:00:00Z', '2024-07-15T00:00:00Z']) {
        assert.deepEqual(
          checks(verifyTdx({ quote: sim.quote() }, { at: new Date(when), trust: anchors, collateral })),
          [
            'tdx.collateral.pck-crl.validity',
            'tdx.collateral.qe-identity.validity',
            'tdx.collateral.root-crl.validity',
            'tdx.collateral.tcb-info.validity',
          ],
        );
      }
    });

    it('TCB info for another FMSPC', async () => {
      const c = await sim.collateral({ fmspc: '90c06f000000' });
      assert.deepEqual(checks(verifyTdx({ quote: sim.quote() }, { at, trust: anchors, collateral: c })), [
        'tdx.collateral.tcb-info.fmspc',
      ]);
    });

    it('a TDX module not signed by Intel (MRSIGNERSEAM) is refused', () => {
      assert.deepEqual(
        checks(verifyTdx({ quote: sim.quote({ mrSignerSeam: '11'.repeat(48) }) }, { at, trust: anchors, collateral })),
        ['tdx.tdx-module'],
      );
    });

    it('TDX 1.5 module (TEE_TCB_SVN[1] = 3) judged by its module identity; OutOfDate module converges', async () => {
      const ok = await sim.collateral({ moduleIdentityStatus: 'UpToDate' });
      const v = verifyTdx(
        { quote: sim.quote({ teeTcbSvn: '03030400000000000000000000000000' }) },
        {
          at,
          trust: anchors,
          collateral: ok,
        },
      );
      assert.deepEqual(v.reasons, []);
      assert.equal(v.claims.tcbStatus, 'UpToDate');
      assert.equal(v.claims.tdxModuleTcbStatus, 'UpToDate');
      const old = await sim.collateral({ moduleIdentityStatus: 'OutOfDate' });
      const w = verifyTdx(
        { quote: sim.quote({ teeTcbSvn: '03030400000000000000000000000000' }) },
        {
          at,
          trust: anchors,
          collateral: old,
        },
      );
      assert.equal(w.claims.tcbStatus, 'OutOfDate');
      const unknown = verifyTdx(
        { quote: sim.quote({ teeTcbSvn: '03050400000000000000000000000000' }) },
        {
          at,
          trust: anchors,
          collateral: ok,
        },
      );
      assert.deepEqual(checks(unknown), ['tdx.tdx-module']);
    });

    it('tampered TCB info and QE identity bodies are refused; malformed ones are parse reasons', () => {
      const tcb = (collateral.tcbInfo as string).replace('"pcesvn":11', '"pcesvn":10');
      const qe = (collateral.qeIdentity as string).replace('"isvprodid":2', '"isvprodid":3');
      const v = verifyTdx(
        { quote: sim.quote() },
        {
          at,
          trust: anchors,
          collateral: { ...collateral, tcbInfo: tcb, qeIdentity: qe },
        },
      );
      assert.deepEqual(checks(v), [
        'tdx.collateral.qe-identity.signature',
        'tdx.collateral.tcb-info.signature',
        'tdx.qe-identity.isvprodid',
      ]);
      const broken = verifyTdx(
        { quote: sim.quote() },
        {
          at,
          trust: anchors,
          collateral: {
            tcbInfo: '{"tcbInfo":{"id":"TDX"',
            qeIdentity: '[]',
            pckCrl: new Uint8Array([1, 2, 3]),
            rootCrl: collateral.rootCrl!,
          },
        },
      );
      assert.deepEqual(checks(broken), [
        'tdx.collateral.pck-crl',
        'tdx.collateral.qe-identity',
        'tdx.collateral.tcb-info',
      ]);
    });
  });
});
