// Peer recovery on the wire: both REPORT_DATA constructions agree with an independent
// computation (openssl), the leader's binds every byte of the bundle whatever the key order, a
// bundle whose chain or Manifests do not hold together is named, and malformed messages are
// refused by part before anything is appraised.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import canonicalize from 'canonicalize';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { SIGNATURE_ANNOTATION } from '../../../src/api/manifest-signature.ts';
import { TransferKeyPair } from '../../../src/pki/key-transfer.ts';
import {
  decodePeerNonceResponse,
  decodePeerRecoverRequest,
  decodePeerRecoverResponse,
  type PeerBundle,
  peerBundleProblems,
  peerRequestReportData,
  peerResponseReportData,
  receivedManifest,
  transferredManifest,
} from '../../../src/protocol/peer-recovery.ts';
import { transitionChain } from '../../../src/protocol/transition-chain.ts';

const openssl = (algorithm: string, data: Uint8Array): Buffer =>
  execFileSync('openssl', ['dgst', `-${algorithm}`, '-binary'], { input: data });

function spec(byte: string): ManifestSpec {
  return {
    runtimeClasses: ['kata'],
    policies: [{ name: 'p', hash: byte.repeat(32) }],
    referenceValues: {
      snp: [{ measurements: [byte.repeat(48)], minimumTCB: { bootloader: 1, tee: 0, snp: 8, microcode: 115 } }],
    },
  };
}

const sealed = {
  certificate: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n',
  iv: 'aXY=',
  key: 'a2V5',
};

async function bundle(): Promise<PeerBundle> {
  const a = spec('0a');
  const b = spec('0b');
  const leader = await TransferKeyPair.generate();
  return {
    leaderKey: leader.publicJwk,
    manifest: { metadata: { name: 'b', creationTimestamp: '2026-02-01T00:00:00.000Z' }, spec: b },
    predecessor: { metadata: { name: 'a' }, spec: a },
    history: transitionChain([manifestHash(a), manifestHash(b)]),
    rootCA: sealed,
    meshCA: { ...sealed, key: 'bWVzaA==' },
  };
}

describe('protocol: peer recovery', () => {
  it("binds the requesting replica's nonce and key: SHA-512(domain ‖ nonce ‖ SHA-256(SPKI)) (openssl)", async () => {
    const pair = await TransferKeyPair.generate();
    const nonce = new Uint8Array(32).fill(7);
    const expected = openssl(
      'sha512',
      Buffer.concat([Buffer.from('attestor peer recovery v1: request\n'), nonce, openssl('sha256', pair.spki)]),
    );
    assert.deepEqual(Buffer.from(peerRequestReportData(nonce, pair.spki)), expected);
    assert.throws(() => peerRequestReportData(new Uint8Array(31), pair.spki), /32 bytes/);
  });

  it("binds the replica's key and the whole bundle as RFC 8785 JSON in the leader's REPORT_DATA (openssl), whatever the key order", async () => {
    const pair = await TransferKeyPair.generate();
    const b = await bundle();
    const expected = openssl(
      'sha512',
      Buffer.concat([
        Buffer.from('attestor peer recovery v1: response\n'),
        openssl('sha256', pair.spki),
        openssl('sha256', Buffer.from(canonicalize(b)!)),
      ]),
    );
    assert.deepEqual(Buffer.from(peerResponseReportData(pair.spki, b)), expected);
    const reordered = Object.fromEntries(Object.entries(b).reverse()) as unknown as PeerBundle;
    assert.deepEqual(peerResponseReportData(pair.spki, reordered), peerResponseReportData(pair.spki, b));
    for (const change of [
      (x: PeerBundle) => (x.meshCA.key = 'b3RoZXI='),
      (x: PeerBundle) => (x.history[0]!.transition = 'ff'.repeat(32)),
      (x: PeerBundle) => (x.manifest.metadata.name = 'c'),
      (x: PeerBundle) => (x.leaderKey.x = b.leaderKey.y),
    ]) {
      const changed = structuredClone(b);
      change(changed);
      assert.notDeepEqual(peerResponseReportData(pair.spki, changed), peerResponseReportData(pair.spki, b));
    }
    const request = peerRequestReportData(new Uint8Array(32), pair.spki);
    assert.notDeepEqual(peerResponseReportData(pair.spki, b), request, 'the two directions never coincide');
  });

  it('names a bundle whose chain does not follow, whose Manifest is not its last entry, or whose predecessor is not the entry before', async () => {
    assert.deepEqual(peerBundleProblems(await bundle()), []);
    const broken = await bundle();
    broken.history[1]!.transition = '00'.repeat(32);
    assert.match(peerBundleProblems(broken).join(), /does not follow from its Manifest hashes/);
    const other = await bundle();
    other.manifest.spec = spec('0c');
    assert.match(peerBundleProblems(other).join(), /Manifest b hashes to [0-9a-f]{64}, not to the chain's last entry/);
    const pred = await bundle();
    pred.predecessor!.spec = spec('0c');
    assert.match(peerBundleProblems(pred).join(), /predecessor a .* is not the chain's entry before/);
    const first = await bundle();
    first.history = first.history.slice(1);
    assert.ok(peerBundleProblems(first).length >= 1);
  });

  it("carries a Manifest's name, age, owner signature and spec, and nothing else of it", () => {
    const m: Manifest = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'Manifest',
      metadata: {
        name: 'm',
        creationTimestamp: new Date('2026-03-01T00:00:00Z'),
        uid: 'u',
        annotations: { [SIGNATURE_ANNOTATION]: 'jws', other: 'x' },
      },
      spec: spec('0d'),
      status: { hash: '00'.repeat(32) },
    };
    const t = transferredManifest(m);
    assert.deepEqual(t, {
      metadata: {
        name: 'm',
        creationTimestamp: '2026-03-01T00:00:00.000Z',
        annotations: { [SIGNATURE_ANNOTATION]: 'jws' },
      },
      spec: m.spec,
    });
    const back = receivedManifest(JSON.parse(JSON.stringify(t)));
    assert.equal(manifestHash(back.spec), manifestHash(m.spec));
    assert.equal(new Date(back.metadata.creationTimestamp!).getTime(), new Date('2026-03-01T00:00:00Z').getTime());
  });

  it('refuses malformed requests and answers by part', async () => {
    const pair = await TransferKeyPair.generate();
    const good = { nonce: 'ab'.repeat(32), peerKey: pair.publicJwk, evidence: { platform: 'snp', report: 'AAE=' } };
    const decoded = decodePeerRecoverRequest(good);
    assert.ok(!('error' in decoded));
    assert.deepEqual(decoded.peerKeySpki, pair.spki);
    for (const [bad, part] of [
      [{ ...good, nonce: 'AB'.repeat(32) }, /^nonce/],
      [{ ...good, peerKey: { ...pair.publicJwk, d: 'secret' } }, /^peerKey/],
      [{ ...good, peerKey: { ...pair.publicJwk, x: pair.publicJwk.y } }, /^peerKey: not a valid/],
      [{ ...good, evidence: { platform: 'sgx', report: '' } }, /^evidence/],
      [null, /not a JSON object/],
    ] as const) {
      const r = decodePeerRecoverRequest(bad);
      assert.ok('error' in r && part.test(r.error), JSON.stringify(r));
    }
    assert.deepEqual(decodePeerNonceResponse({ nonce: 'cd'.repeat(32), identity: null, reason: 'none' }), {
      nonce: 'cd'.repeat(32),
      identity: null,
      reason: 'none',
    });
    assert.ok('error' in decodePeerNonceResponse({ nonce: 'cd'.repeat(32), identity: { rootCA: 'x' } }));
    const b = await bundle();
    assert.ok(!('error' in decodePeerRecoverResponse({ evidence: good.evidence, bundle: b })));
    for (const [change, part] of [
      [(x: PeerBundle) => delete (x as Partial<PeerBundle>).leaderKey, /bundle\.leaderKey/],
      [(x: PeerBundle) => (x.history = []), /bundle\.history/],
      [(x: PeerBundle) => (x.rootCA.certificate = 'x'), /bundle\.rootCA/],
      [(x: PeerBundle) => ((x.manifest as { spec?: unknown }).spec = undefined), /bundle\.manifest/],
    ] as const) {
      const changed = structuredClone(b);
      change(changed);
      const r = decodePeerRecoverResponse({ evidence: good.evidence, bundle: changed });
      assert.ok('error' in r && part.test(r.error), JSON.stringify(r));
    }
  });
});
