// The Coordinator's identity on the wire: REPORT_DATA and the transition chain agree with
// independent computations (openssl for the chain, WebCrypto for REPORT_DATA), and malformed
// requests and responses are named before anything is used.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import {
  type CoordinatorAttestResponse,
  coordinatorReportData,
  decodeCoordinatorAttestRequest,
  decodeCoordinatorAttestResponse,
} from '../../../src/protocol/coordinator-attest.ts';
import {
  extendHistory,
  GENESIS_TRANSITION,
  latestTransition,
  nextTransition,
  transitionChain,
} from '../../../src/protocol/transition-chain.ts';

/** SHA-256 by the openssl command, not by this process. */
function opensslSha256(data: Uint8Array): Buffer {
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: data });
}

describe('protocol: the transition chain', () => {
  const hashes = ['11'.repeat(32), '22'.repeat(32), '11'.repeat(32)];

  it('is SHA-256(manifest hash bytes ‖ previous transition), starting from 32 zero bytes (computed independently with openssl)', () => {
    let previous: Buffer = Buffer.alloc(32);
    const expected: string[] = [];
    for (const h of hashes) {
      previous = opensslSha256(Buffer.concat([Buffer.from(h, 'hex'), previous]));
      expected.push(previous.toString('hex'));
    }
    const chain = transitionChain(hashes);
    assert.deepEqual(
      chain.map((e) => e.transition),
      expected,
    );
    assert.deepEqual(
      chain.map((e) => e.manifestHash),
      hashes,
    );
    assert.deepEqual(Buffer.from(latestTransition(chain)).toString('hex'), expected[2]);
    assert.deepEqual(latestTransition([]), GENESIS_TRANSITION);
    assert.equal(Buffer.from(GENESIS_TRANSITION).toString('hex'), '00'.repeat(32));
  });

  it('depends on the order and on every earlier Manifest: a roll-back is a new transition, not the old one', () => {
    const chain = transitionChain(hashes);
    assert.notEqual(chain[2]!.transition, chain[0]!.transition, 'the same Manifest again after another one');
    assert.notEqual(transitionChain([hashes[1]!, hashes[0]!])[1]!.transition, chain[1]!.transition);
    assert.equal(
      Buffer.from(nextTransition(hashes[1]!, new Uint8Array(Buffer.from(chain[0]!.transition, 'hex')))).toString('hex'),
      chain[1]!.transition,
    );
  });

  it('extends a history one Manifest at a time exactly as the chain of all of them, leaving the history given alone', () => {
    const start = transitionChain(hashes.slice(0, 1));
    const copy = structuredClone(start);
    assert.deepEqual(extendHistory(start, hashes.slice(1)), transitionChain(hashes));
    assert.deepEqual(start, copy);
    assert.deepEqual(extendHistory([], hashes), transitionChain(hashes));
  });

  it('refuses what is not a Manifest hash or a transition', () => {
    assert.throws(() => nextTransition('AB'.repeat(32), GENESIS_TRANSITION), /not a manifest hash/);
    assert.throws(() => nextTransition('ab'.repeat(32), new Uint8Array(31)), /32 bytes/);
  });
});

describe('protocol: the Coordinator attestation', () => {
  const nonce = new Uint8Array(32).fill(7);
  const transition = new Uint8Array(32).fill(9);
  const root = new Uint8Array([1, 2, 3]);
  const mesh = new Uint8Array([4, 5, 6, 7]);

  it('REPORT_DATA is SHA-512(nonce ‖ latest transition ‖ SHA-256(root CA DER) ‖ SHA-256(mesh CA DER)) (computed independently with WebCrypto)', async () => {
    const digest = async (alg: string, data: Uint8Array) => new Uint8Array(await webcrypto.subtle.digest(alg, data));
    const expected = await digest(
      'SHA-512',
      Buffer.concat([nonce, transition, await digest('SHA-256', root), await digest('SHA-256', mesh)]),
    );
    const reportData = coordinatorReportData(nonce, transition, root, mesh);
    assert.equal(reportData.length, 64);
    assert.deepEqual(reportData, expected);
  });

  it('REPORT_DATA changes with each of its four parts', () => {
    const base = Buffer.from(coordinatorReportData(nonce, transition, root, mesh)).toString('hex');
    const variants = [
      coordinatorReportData(new Uint8Array(32), transition, root, mesh),
      coordinatorReportData(nonce, new Uint8Array(32), root, mesh),
      coordinatorReportData(nonce, transition, mesh, mesh),
      coordinatorReportData(nonce, transition, root, root),
    ];
    for (const v of variants) assert.notEqual(Buffer.from(v).toString('hex'), base);
    assert.throws(() => coordinatorReportData(new Uint8Array(16), transition, root, mesh), /32 bytes/);
  });

  it('the request is a 32-byte nonce in lower-case hex, as in the agent protocol', () => {
    assert.deepEqual(decodeCoordinatorAttestRequest({ nonce: '07'.repeat(32) }), { nonce });
    for (const bad of [undefined, null, {}, { nonce: '07'.repeat(31) }, { nonce: 'AB'.repeat(32) }, { nonce: 7 }])
      assert.match((decodeCoordinatorAttestRequest(bad) as { error: string }).error, /32 bytes/);
  });

  it('the response decodes the evidence as agent evidence is decoded, and names a malformed part', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
    const response: CoordinatorAttestResponse = {
      evidence: { platform: 'snp', report: Buffer.from([1, 2]).toString('base64'), auxblob: 'AwQ=' },
      manifest: '{}',
      manifestHash: 'ab'.repeat(32),
      history: transitionChain(['ab'.repeat(32)]),
      rootCA: pem,
      meshCA: pem,
    };
    const decoded = decodeCoordinatorAttestResponse(response);
    assert.ok(!('error' in decoded));
    assert.deepEqual(decoded.evidence, {
      platform: 'snp',
      report: new Uint8Array([1, 2]),
      auxblob: new Uint8Array([3, 4]),
    });
    const broken: Array<[Partial<Record<keyof CoordinatorAttestResponse, unknown>>, RegExp]> = [
      [{ evidence: { platform: 'sgx', report: '' } }, /^evidence:/],
      [{ manifest: 7 }, /^manifest:/],
      [{ manifestHash: 'AB'.repeat(32) }, /^manifestHash:/],
      [{ history: [{ manifestHash: 'ab'.repeat(32) }] }, /^history:/],
      [{ meshCA: 'not pem' }, /^meshCA:/],
    ];
    for (const [change, error] of broken)
      assert.match((decodeCoordinatorAttestResponse({ ...response, ...change }) as { error: string }).error, error);
  });
});
