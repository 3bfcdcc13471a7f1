import assert from 'node:assert/strict';
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { SnpEndorsementCache } from '../../../../src/attestation/snp/endorsement-cache.ts';
import { amdRoots, SnpRoots } from '../../../../src/attestation/snp/roots.ts';
import { prepareEndorsement, verifySnp } from '../../../../src/attestation/snp/verify.ts';
import { AT, genoa, hex, milan, milanVlek, turin } from './fixture.ts';

const checks = (v: { reasons: readonly { check: string }[] }): string[] => v.reasons.map((r) => r.check).sort();

describe('snp/verify with simulated evidence', function () {
  this.timeout(60_000);

  it('verifies a simulated Milan report with the VCEK as PEM, as DER and as a full bundle', async () => {
    const sim = await milan();
    const report = sim.report();
    for (const certificates of [
      sim.endorsementPem,
      sim.endorsementDer,
      sim.certChainPem,
      Buffer.from(sim.certChainPem),
    ]) {
      const v = verifySnp({ report, certificates }, { at: AT, trust: sim.roots });
      assert.deepEqual(v.reasons, []);
      assert.equal(v.verified, true);
      assert.equal(v.claims?.product, 'Milan');
      assert.equal(v.claims?.signingKey, 'vcek');
      assert.equal(v.claims?.measurement, hex(sim.defaultMeasurement));
      assert.equal(v.claims?.certificate?.root, 'Milan');
    }
  });

  it('produces JSON-able claims (no bigint, hex lower-case)', async () => {
    const sim = await milan();
    const v = verifySnp(
      { report: sim.report({ reportData: new Uint8Array(64).fill(0xab) }), certificates: sim.endorsementPem },
      { at: AT, trust: sim.roots },
    );
    assert.ok(v.claims);
    const json: unknown = JSON.parse(JSON.stringify(v.claims));
    assert.deepEqual(json, v.claims);
    assert.equal(json.reportData, 'ab'.repeat(64));
    assert.equal(json.version, 3);
    assert.deepEqual(json.cpuid, { family: 0x19, model: 0x01, stepping: 1 });
  });

  it('verifies Genoa and Turin (Turin: FMC in the TCB, 8-byte hwID) and report versions 2 to 5', async () => {
    for (const sim of [await genoa(), await turin()]) {
      for (const version of [2, 3, 4, 5]) {
        const v = verifySnp(
          { report: sim.report({ version }), certificates: sim.certChainPem },
          { at: AT, trust: sim.roots },
        );
        assert.deepEqual(v.reasons, [], `${sim.product} v${version}`);
        assert.equal(v.claims?.product, sim.product);
        assert.equal(v.claims?.reportedTcb.bootloader, sim.tcb.bootloader);
        assert.equal(v.claims?.reportedTcb.snp, sim.tcb.snp);
        assert.equal(v.claims?.reportedTcb.fmc, sim.tcb.fmc);
      }
    }
    const t = await turin();
    const v = verifySnp({ report: t.report(), certificates: t.endorsementPem }, { at: AT, trust: t.roots });
    assert.equal(v.claims?.certificate?.hwId, hex(t.chipId.subarray(0, 8)));
    assert.equal(v.claims?.reportedTcb.raw, '0100000001010101');
  });

  it('checks only the first 8 bytes of CHIP_ID against a Turin hwID', async () => {
    const t = await turin();
    const other = t.chipId.slice();
    other[3]! ^= 1;
    assert.deepEqual(
      checks(
        verifySnp({ report: t.report({ chipId: other }), certificates: t.endorsementPem }, { at: AT, trust: t.roots }),
      ),
      ['snp.chip-id'],
    );
    const tail = t.chipId.slice();
    tail[40]! ^= 1;
    assert.deepEqual(
      checks(
        verifySnp({ report: t.report({ chipId: tail }), certificates: t.endorsementPem }, { at: AT, trust: t.roots }),
      ),
      [],
    );
  });

  it('verifies a VLEK chain through the ASVK, and refuses a VLEK signed by the ASK or a report naming the wrong key', async () => {
    const sim = await milanVlek();
    const ok = verifySnp({ report: sim.report(), certificates: sim.certChainPem }, { at: AT, trust: sim.roots });
    assert.deepEqual(ok.reasons, []);
    assert.equal(ok.claims?.certificate?.kind, 'vlek');
    assert.equal(ok.claims?.certificate?.cspId, 'attestor-simulated-csp');
    const viaAsk = await sim.issueEndorsement({ kind: 'vlek', issuer: 'ask' });
    assert.deepEqual(checks(verifySnp({ report: sim.report(), certificates: viaAsk }, { at: AT, trust: sim.roots })), [
      'snp.chain.kind',
    ]);
    assert.deepEqual(
      checks(
        verifySnp(
          { report: sim.report({ signingKey: 'vcek' }), certificates: sim.endorsementPem },
          { at: AT, trust: sim.roots },
        ),
      ),
      ['snp.signing-key'],
    );
    assert.deepEqual(
      checks(
        verifySnp(
          { report: sim.report({ signingKey: 'none' }), certificates: sim.endorsementPem },
          { at: AT, trust: sim.roots },
        ),
      ),
      ['snp.signing-key'],
    );
  });

  it('uses an ASK from the evidence only when it chains to a pinned ARK', async () => {
    const sim = await milan();
    // Roots with the ARK alone: the ASK must come from the bundle.
    const arkOnly = new SnpRoots([{ product: 'Milan', arkPem: sim.rootSet.arkPem }]);
    assert.deepEqual(
      checks(verifySnp({ report: sim.report(), certificates: sim.certChainPem }, { at: AT, trust: arkOnly })),
      [],
    );
    assert.deepEqual(
      checks(verifySnp({ report: sim.report(), certificates: sim.endorsementPem }, { at: AT, trust: arkOnly })),
      ['snp.chain'],
    );
    // A bundle that brings its own ARK (and ASK) gains nothing under AMD's roots.
    const v = verifySnp({ report: sim.report(), certificates: sim.certChainPem }, { at: AT, trust: amdRoots() });
    assert.deepEqual(checks(v), ['snp.chain']);
    assert.match(v.reasons[0]!.message, /does not chain to a pinned ARK/);
  });

  it('refuses a VCEK whose productName disagrees with the root, or with the report CPUID', async () => {
    const sim = await milan();
    const genoaNamed = await sim.issueEndorsement({ productName: 'Genoa-B1' });
    const v = verifySnp({ report: sim.report({ version: 2 }), certificates: genoaNamed }, { at: AT, trust: sim.roots });
    assert.deepEqual(checks(v), ['snp.chain.product']);
    const w = verifySnp(
      { report: sim.report({ cpuid: { family: 0x19, model: 0x11, stepping: 1 } }), certificates: sim.endorsementPem },
      { at: AT, trust: sim.roots },
    );
    assert.deepEqual(checks(w), ['snp.product.cpuid']);
  });

  it('binds REPORTED_TCB to the certificate TCB and CHIP_ID to the hwID (unless MASK_CHIP_ID)', async () => {
    const sim = await milan();
    const higher = { ...sim.tcb, snp: sim.tcb.snp + 1 };
    assert.deepEqual(
      checks(
        verifySnp(
          { report: sim.report({ reportedTcb: higher }), certificates: sim.endorsementPem },
          { at: AT, trust: sim.roots },
        ),
      ),
      ['snp.tcb.certificate'],
    );
    assert.deepEqual(
      checks(
        verifySnp(
          { report: sim.report({ chipId: new Uint8Array(64).fill(7) }), certificates: sim.endorsementPem },
          { at: AT, trust: sim.roots },
        ),
      ),
      ['snp.chip-id'],
    );
    const masked = verifySnp(
      { report: sim.report({ maskChipId: true }), certificates: sim.endorsementPem },
      { at: AT, trust: sim.roots },
    );
    assert.deepEqual(checks(masked), []);
    assert.equal(masked.claims?.maskChipId, true);
    assert.equal(masked.claims?.chipId, '00'.repeat(64));
  });

  it('checks validity periods at the given time, for the leaf and the chain', async () => {
    const sim = await milan();
    const report = sim.report();
    const at = (iso: string) =>
      checks(verifySnp({ report, certificates: sim.endorsementPem }, { at: new Date(iso), trust: sim.roots }));
    assert.deepEqual(at('2023-12-31T23:59:59Z'), ['snp.chain.validity']);
    assert.deepEqual(at('2024-01-01T00:00:00Z'), []);
    assert.deepEqual(at('2031-01-01T00:00:00Z'), []);
    assert.deepEqual(at('2031-01-01T00:00:01Z'), ['snp.chain.validity']);
    assert.deepEqual(at('2046-01-01T00:00:00Z'), ['snp.chain.validity', 'snp.chain.validity', 'snp.chain.validity']);
  });

  it('checks the CRL: signed by the ARK, current, and not revoking the ASK', async () => {
    const sim = await milan();
    const report = sim.report();
    const withCrl = (crl: Uint8Array, at = AT) =>
      checks(verifySnp({ report, certificates: sim.endorsementPem }, { at, trust: sim.roots, collateral: { crl } }));
    assert.deepEqual(withCrl(await sim.crl()), []);
    assert.deepEqual(withCrl(await sim.crl({ revoked: ['99'] })), []);
    assert.deepEqual(withCrl(await sim.crl({ revoked: [sim.askSerial] })), ['snp.crl.revoked']);
    assert.deepEqual(withCrl(await sim.crl({ nextUpdate: new Date('2025-01-01T00:00:00Z') })), ['snp.crl']);
    assert.deepEqual(withCrl(await sim.crl({ thisUpdate: new Date('2027-01-01T00:00:00Z') })), ['snp.crl']);
    assert.deepEqual(withCrl(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), ['snp.crl']);
    // A CRL from another ARK does not verify.
    const other = await genoa();
    assert.deepEqual(withCrl(await other.crl()), ['snp.crl']);
  });

  it('reports every failure at once, not only the first', async () => {
    const sim = await milan();
    const forged = sim.report({ chipId: new Uint8Array(64).fill(1), reportedTcb: { ...sim.tcb, tee: 9 } });
    forged[0x90]! ^= 1; // breaks the signature too
    forged[0x1f9] = 1; // reserved in a v3 report
    const v = verifySnp(
      { report: forged, certificates: sim.endorsementPem },
      { at: new Date('2040-01-01T00:00:00Z'), trust: sim.roots },
    );
    assert.deepEqual(checks(v), [
      'snp.chain.validity',
      'snp.chip-id',
      'snp.report.reserved',
      'snp.signature',
      'snp.tcb.certificate',
    ]);
    assert.equal(v.verified, false);
    assert.notEqual(v.claims, null);
  });

  it('refuses unusable input with reasons instead of throwing', async () => {
    const sim = await milan();
    const at = { at: AT, trust: sim.roots };
    assert.deepEqual(checks(verifySnp({ report: new Uint8Array(10), certificates: sim.endorsementPem }, at)), [
      'snp.report.length',
    ]);
    assert.deepEqual(checks(verifySnp({ report: sim.report(), certificates: 'not a certificate' }, at)), [
      'snp.certificate',
    ]);
    assert.deepEqual(checks(verifySnp({ report: sim.report(), certificates: new Uint8Array([0x30, 0x00]) }, at)), [
      'snp.certificate',
    ]);
    assert.deepEqual(
      checks(verifySnp({ report: sim.report(), certificates: sim.rootSet.askPem + sim.rootSet.arkPem }, at)),
      ['snp.certificate'],
    );
    assert.deepEqual(
      checks(verifySnp({ report: sim.report(), certificates: sim.endorsementPem + sim.endorsementPem }, at)),
      ['snp.certificate'],
    );
    assert.deepEqual(
      checks(verifySnp({ report: sim.report({ signatureAlgorithm: 2 }), certificates: sim.endorsementPem }, at)),
      ['snp.signature.algorithm'],
    );
    const v = verifySnp({ report: new Uint8Array(0), certificates: '' }, at);
    assert.deepEqual(checks(v), ['snp.certificate', 'snp.report.length']);
    assert.equal(v.claims, null);
  });

  it('refuses a leaf that is a CA, has a non-P-384 key or lacks the AMD extensions', async () => {
    const sim = await milan();
    // The ASK is an RSA CA; presented alone there is no endorsement certificate at all.
    assert.deepEqual(
      prepareEndorsement(new X509Certificate(sim.rootSet.askPem!).raw, sim.roots).reasons.map((r) => r.check),
      ['snp.certificate'],
    );
    const subtle = webcrypto.subtle;
    const rsa = (await subtle.generateKey(
      { name: 'RSA-PSS', hash: 'SHA-384', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
      true,
      ['sign', 'verify'],
    )) as webcrypto.CryptoKeyPair;
    const ec = (await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const leaf = async (publicKey: webcrypto.CryptoKey) =>
      (
        await x509.X509CertificateGenerator.create({
          serialNumber: '00',
          subject: 'CN=SEV-VCEK',
          issuer: 'CN=SEV-Milan',
          publicKey,
          signingKey: rsa.privateKey,
          signingAlgorithm: { name: 'RSA-PSS', saltLength: 48 } as webcrypto.RsaPssParams,
        })
      ).toString('pem');
    assert.deepEqual(
      prepareEndorsement(await leaf(rsa.publicKey), sim.roots).reasons.map((r) => r.check),
      ['snp.certificate.key'],
    );
    const bare = prepareEndorsement(await leaf(ec.publicKey), sim.roots);
    assert.deepEqual(
      bare.reasons.map((r) => r.check),
      ['snp.certificate.extensions'],
    );
    assert.match(bare.reasons[0]!.message, /productName, blSpl, teeSpl, snpSpl, ucodeSpl/);
  });

  it('caches checked chains by certificate bytes and roots, and still checks time on every call', async () => {
    const sim = await milan();
    const cache = new SnpEndorsementCache(2);
    const report = sim.report();
    const v1 = verifySnp({ report, certificates: sim.endorsementPem }, { at: AT, trust: sim.roots, cache });
    assert.equal(cache.size, 1);
    const v2 = verifySnp({ report, certificates: sim.endorsementPem }, { at: AT, trust: sim.roots, cache });
    assert.equal(cache.size, 1);
    assert.deepEqual(v2, v1);
    assert.deepEqual(
      checks(
        verifySnp(
          { report, certificates: sim.endorsementPem },
          { at: new Date('2040-01-01T00:00:00Z'), trust: sim.roots, cache },
        ),
      ),
      ['snp.chain.validity'],
    );
    // Other roots: another entry, and the cached success does not leak into it.
    assert.deepEqual(
      checks(verifySnp({ report, certificates: sim.endorsementPem }, { at: AT, trust: amdRoots(), cache })),
      ['snp.chain'],
    );
    assert.equal(cache.size, 2);
    verifySnp({ report, certificates: sim.endorsementDer }, { at: AT, trust: sim.roots, cache });
    assert.equal(cache.size, 2, 'LRU keeps at most maxEntries');
    assert.throws(() => new SnpEndorsementCache(0), RangeError);
  });
});
