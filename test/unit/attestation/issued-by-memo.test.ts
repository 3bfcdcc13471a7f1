// The memo of verified certificate links: a link that verified is not verified again, and no
// other byte string (a flipped byte, another issuer's key under the same names) ever finds its
// entry; validity is still checked at every appraisal's time.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chainToAnchor, issuedBy } from '../../../src/attestation/certificate-chain.ts';
import { IssuedByMemo, issuedByMemo } from '../../../src/attestation/issued-by-memo.ts';
import { parseCertificateChain, verifyChain } from '../../../src/attestation/nvidia/certificates.ts';
import { createGpuSimulator, type GpuSimulator } from '../../../src/attestation/sim/gpu.ts';

const AT = new Date('2026-06-01T00:00:00Z');
const FIELDS = { nonce: new Uint8Array(32), driverVersion: '550.90.07', vbiosVersion: '96.00.9F.00.01' };

describe('issued-by memo (verified certificate links)', function () {
  this.timeout(120_000);
  let sim: GpuSimulator;
  let other: GpuSimulator;
  let chain: X509Certificate[];
  let anchor: X509Certificate;

  before(async () => {
    sim = await createGpuSimulator();
    // The same seed, so the same names and serials, but keys of its own.
    other = await createGpuSimulator();
    chain = parseCertificateChain((await sim.gpu('GPU-0', FIELDS)).certificateChainPem).map((c) => c.x509);
    anchor = new X509Certificate(sim.roots.device);
  });

  it('verifies each link of a chain once, then answers from the memo', () => {
    const memo = new IssuedByMemo();
    assert.equal(issuedBy(chain[0]!, chain[1]!, memo), true);
    assert.deepEqual([memo.hits, memo.misses, memo.size], [0, 1, 1]);
    assert.equal(issuedBy(chain[0]!, chain[1]!, memo), true);
    assert.deepEqual([memo.hits, memo.misses], [1, 1]);
    // Other objects of the same bytes (another appraisal's parse) find the entry too.
    assert.equal(issuedBy(new X509Certificate(chain[0]!.raw), new X509Certificate(chain[1]!.raw), memo), true);
    assert.equal(memo.hits, 2);
  });

  it('chainToAnchor uses the process memo: a second check of the same chain verifies no link again', () => {
    const fresh = parseCertificateChain(chain.map((c) => c.toString()).join('\n')).map((c) => c.x509);
    assert.deepEqual(chainToAnchor(fresh, [anchor]).problems, []);
    const hits = issuedByMemo.hits;
    const misses = issuedByMemo.misses;
    assert.deepEqual(chainToAnchor(fresh, [anchor]).problems, []);
    // Leaf -> BROM -> ICA -> Identity, and Identity -> the anchor: four links, all from the memo.
    assert.equal(issuedByMemo.hits - hits, 4);
    assert.equal(issuedByMemo.misses - misses, 0);
  });

  it('refuses a certificate with one flipped byte after the good one was memoised', () => {
    const memo = new IssuedByMemo();
    assert.equal(issuedBy(chain[0]!, chain[1]!, memo), true);
    const der = Buffer.from(chain[0]!.raw);
    der[der.length - 1]! ^= 0x01; // the last byte of the signature
    const flipped = new X509Certificate(der);
    assert.equal(issuedBy(flipped, chain[1]!, memo), false);
    assert.equal(memo.hits, 0);
    // A failed link is not remembered: it is refused again, by verification, not by the memo.
    assert.equal(issuedBy(flipped, chain[1]!, memo), false);
    assert.equal(memo.size, 1);
    const withFlipped = [flipped, ...chain.slice(1)];
    assert.match(chainToAnchor(withFlipped, [anchor]).problems.join('\n'), /position 0\) is not issued by/);
  });

  it('refuses a certificate of another issuer with the same names after the genuine link was memoised', async () => {
    const memo = new IssuedByMemo();
    assert.equal(issuedBy(chain[0]!, chain[1]!, memo), true);
    const foreign = parseCertificateChain((await other.gpu('GPU-0', FIELDS)).certificateChainPem).map((c) => c.x509);
    assert.equal(foreign[0]!.issuer, chain[0]!.issuer, 'the foreign leaf names the same issuer');
    assert.equal(issuedBy(foreign[0]!, chain[1]!, memo), false);
    assert.equal(memo.hits, 0);
    assert.notDeepEqual(chainToAnchor([foreign[0]!, ...chain.slice(1)], [anchor]).problems, []);
    // The foreign chain as a whole leads to its own root, not to the pinned one.
    assert.notDeepEqual(chainToAnchor(foreign, [anchor]).problems, []);
  });

  it('refuses an expired chain after its links were memoised: validity is checked at every time', () => {
    const parsed = parseCertificateChain(chain.map((c) => c.toString()).join('\n'));
    const anchors = parseCertificateChain(sim.roots.device);
    const options = { anchors, check: 'gpu.cert-chain', role: 'GPU attestation' } as const;
    assert.deepEqual(verifyChain(parsed, { ...options, at: AT }).reasons, []);
    const hits = issuedByMemo.hits;
    const late = verifyChain(parsed, { ...options, at: new Date('2045-01-01T00:00:00Z') });
    assert.ok(issuedByMemo.hits > hits, 'the links came from the memo');
    assert.match(late.reasons.map((r) => r.message).join('\n'), /expired at 2044-01-01/);
  });

  it('holds at most its bound, least recently used out first', () => {
    const memo = new IssuedByMemo(2);
    memo.add(chain[0]!, chain[1]!);
    memo.add(chain[1]!, chain[2]!);
    assert.equal(memo.has(chain[0]!, chain[1]!), true); // now the most recent
    memo.add(chain[2]!, chain[3]!);
    assert.equal(memo.size, 2);
    assert.equal(memo.has(chain[1]!, chain[2]!), false);
    assert.equal(memo.has(chain[0]!, chain[1]!), true);
    assert.equal(memo.has(chain[2]!, chain[3]!), true);
  });
});
