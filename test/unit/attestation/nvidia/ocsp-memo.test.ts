// What an OCSP answer says, and who signed it, are read once per byte string: a second appraisal
// (and the collateral expiry gauge) take them from the memos, while a changed answer, an answer
// of another issuer, or a stale one is refused as before.
import assert from 'node:assert/strict';
import {
  type ParsedCertificate,
  parseCertificateChain,
  verifyChain,
} from '../../../../src/attestation/nvidia/certificates.ts';
import { checkRevocation } from '../../../../src/attestation/nvidia/ocsp.ts';
import { answerMemo, signerMemo } from '../../../../src/attestation/nvidia/ocsp-answer.ts';
import { createGpuSimulator, type GpuSimulator } from '../../../../src/attestation/sim/gpu.ts';
import { collateralNextUpdates } from '../../../../src/collateral/next-updates.ts';

const AT = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const CURRENT = { thisUpdate: new Date(AT.getTime() - DAY), nextUpdate: new Date(AT.getTime() + DAY) };
const FIELDS = { nonce: new Uint8Array(32), driverVersion: '550.90.07', vbiosVersion: '96.00.9F.00.01' };

describe('OCSP answers read once (memos by their bytes)', function () {
  this.timeout(120_000);
  let sim: GpuSimulator;
  let other: GpuSimulator;
  let gpu: Awaited<ReturnType<GpuSimulator['gpu']>>;
  let path: readonly ParsedCertificate[];
  /** Good answers for every certificate above the leaf. */
  let answers: Uint8Array[];

  before(async () => {
    sim = await createGpuSimulator();
    other = await createGpuSimulator(); // the same names and serials, keys of its own
    gpu = await sim.gpu('GPU-0', FIELDS);
    path = verifyChain(parseCertificateChain(gpu.certificateChainPem), {
      anchors: parseCertificateChain(sim.roots.device),
      at: AT,
      check: 'gpu.cert-chain',
      role: 'GPU attestation',
    }).path;
    answers = [1, 2, 3].map((i) => sim.ocsp(gpu, i, 'good', CURRENT));
  });

  const check = (given: readonly Uint8Array[], at = AT) =>
    checkRevocation({ path, from: 1, answers: given, at, check: 'gpu.ocsp' });

  it('a second check of the same answers reads and verifies none of them again', () => {
    const first = check(answers);
    assert.deepEqual(first.reasons, []);
    const read = { hits: answerMemo.hits, misses: answerMemo.misses };
    const signed = { hits: signerMemo.hits, misses: signerMemo.misses };
    const second = check(answers);
    assert.deepEqual(second, first);
    assert.equal(answerMemo.hits - read.hits, 3);
    assert.equal(answerMemo.misses - read.misses, 0);
    assert.equal(signerMemo.hits - signed.hits, 3);
    assert.equal(signerMemo.misses - signed.misses, 0);
  });

  it("the collateral expiry gauge takes each answer's nextUpdate from the verifier's read", () => {
    check(answers);
    const misses = answerMemo.misses;
    const found = collateralNextUpdates({ gpu: { rims: [], ocsp: answers } });
    assert.equal(answerMemo.misses, misses, 'no answer read again');
    assert.deepEqual(
      found.map((f) => [f.kind, f.nextUpdate.getTime()]),
      answers.map(() => ['nvidia-ocsp', CURRENT.nextUpdate.getTime()]),
    );
    assert.deepEqual(
      found.map((f) => f.item),
      [1, 2, 3].map((i) => path[i]!.x509.serialNumber.toUpperCase()),
    );
  });

  it('refuses an answer with one flipped byte after the good one was memoised', () => {
    assert.deepEqual(check(answers).reasons, []);
    const flipped = Buffer.from(answers[0]!);
    flipped[flipped.length - 1]! ^= 0x01; // inside the signature (no responder certificates follow)
    const v = check([flipped, answers[1]!, answers[2]!]);
    assert.match(v.reasons.map((r) => r.message).join('\n'), /is not signed by the issuer/);
    assert.equal(v.statuses[0]!.status, 'missing');
  });

  it('refuses an answer signed by another issuer of the same names after the genuine one was memoised', async () => {
    assert.deepEqual(check(answers).reasons, []);
    const foreign = other.ocsp(await other.gpu('GPU-0', FIELDS), 2, 'good', CURRENT);
    const v = check([answers[0]!, foreign, answers[2]!]);
    // Another CA key: neither its CertID (issuerKeyHash) nor its signature is the genuine issuer's.
    assert.deepEqual(
      v.statuses.map((s) => s.status),
      ['good', 'missing', 'good'],
    );
    assert.deepEqual([...new Set(v.reasons.map((r) => r.check))], ['gpu.ocsp']);
  });

  it('refuses memoised answers at a time after their nextUpdate: freshness is judged at every appraisal', () => {
    assert.deepEqual(check(answers).reasons, []);
    const hits = answerMemo.hits;
    const late = check(answers, new Date(AT.getTime() + 2 * DAY));
    assert.ok(answerMemo.hits > hits, 'the answers came from the memo');
    assert.equal(late.reasons.length, 3);
    assert.match(late.reasons[0]!.message, /stale since its nextUpdate/);
  });
});
