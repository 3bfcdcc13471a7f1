import assert from 'node:assert/strict';
import * as jose from 'jose';
import { GrantSigner } from '../../../src/coordinator/grant-signer.ts';
import { NonceStore } from '../../../src/coordinator/nonces.ts';
import { reportDataFor } from '../../../src/protocol/evidence-request.ts';
import { GRANT_RECEIVER_CLOCK_SKEW_SECONDS, verifyGrant } from '../../../src/protocol/grant.ts';

describe('nonces', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  it('are 32 random bytes, single use and bound to the node that asked', () => {
    const store = new NonceStore();
    const { nonce } = store.issue('node-a', 60_000, t0);
    assert.match(nonce, /^[0-9a-f]{64}$/);
    assert.notEqual(store.issue('node-a', 60_000, t0).nonce, nonce);
    assert.deepEqual(store.take(nonce, 'node-a', t0), { ok: true, issuedAt: t0 });
    assert.match((store.take(nonce, 'node-a', t0) as { reason: string }).reason, /unknown nonce/);
  });
  it('are refused for another node (which cannot burn them), and after they expire', () => {
    const store = new NonceStore();
    const foreign = store.issue('node-a', 60_000, t0).nonce;
    assert.match((store.take(foreign, 'node-b', t0) as { reason: string }).reason, /issued to node node-a, not node-b/);
    assert.equal(store.take(foreign, 'node-a', t0).ok, true, "still the owner's");
    const late = store.issue('node-a', 60_000, t0).nonce;
    assert.match((store.take(late, 'node-a', new Date(t0.getTime() + 60_000)) as { reason: string }).reason, /expired/);
    assert.match(
      (store.take(late, 'node-a', t0) as { reason: string }).reason,
      /unknown/,
      'a failed attempt by the owner consumes it',
    );
  });
  it("keep at most the configured number outstanding per node, dropping only that node's oldest", () => {
    const store = new NonceStore(3);
    const other = store.issue('other', 60_000, t0).nonce;
    const mine = Array.from({ length: 5 }, () => store.issue('n', 60_000, t0).nonce);
    assert.equal(store.outstanding('n', t0), 3);
    assert.equal(store.size, 4);
    assert.equal(store.take(mine[0]!, 'n', t0).ok, false, 'the oldest went');
    assert.equal(store.take(mine[4]!, 'n', t0).ok, true);
    assert.equal(store.take(other, 'other', t0).ok, true, "another node's nonce survives any number issued to n");
  });
  it("do not pile up: expired ones are swept, and a deleted node's are forgotten", () => {
    const store = new NonceStore(3);
    for (let i = 0; i < 3; i++) store.issue(`node-${i}`, 60_000, t0);
    store.issue('late', 60_000, new Date(t0.getTime() + 120_000));
    assert.equal(store.size, 1);
    store.forget('late');
    assert.equal(store.size, 0);
  });
});

describe('activation grants', () => {
  const now = new Date();
  const request = {
    node: 'n1',
    gpus: ['GPU-0'],
    evidence: 'e'.repeat(64),
    manifest: 'm'.repeat(64),
    agentKeyThumbprint: 'thumb',
    ttlSeconds: 60,
    now,
  };
  it('carry node, GPUs, evidence, Manifest and key binding, and verify with the published JWKS', async () => {
    const signer = await GrantSigner.create();
    const { token } = await signer.sign(request);
    const claims = await verifyGrant(token, jose.createLocalJWKSet(signer.jwks), now);
    assert.deepEqual(
      [claims.sub, claims.gpus, claims.evidence, claims.manifest, claims.cnf.jkt],
      ['n1', ['GPU-0'], 'e'.repeat(64), 'm'.repeat(64), 'thumb'],
    );
  });
  it("hold for a receiver whose clock is up to the tolerated skew ahead, while the Coordinator's own check has no tolerance", async () => {
    const signer = await GrantSigner.create();
    const { token } = await signer.sign(request);
    const keys = jose.createLocalJWKSet(signer.jwks);
    const skew = GRANT_RECEIVER_CLOCK_SKEW_SECONDS * 1000;
    const at = (ms: number) => new Date(now.getTime() + ms);
    assert.equal((await verifyGrant(token, keys, at(skew + 59_000), GRANT_RECEIVER_CLOCK_SKEW_SECONDS)).sub, 'n1');
    assert.equal((await verifyGrant(token, keys, at(-skew), GRANT_RECEIVER_CLOCK_SKEW_SECONDS)).sub, 'n1');
    await assert.rejects(verifyGrant(token, keys, at(skew + 61_000), GRANT_RECEIVER_CLOCK_SKEW_SECONDS), /exp/);
    await assert.rejects(signer.verify(token, at(61_000)), /exp/);
  });
  it('are refused when expired, signed by another Coordinator, or altered', async () => {
    const signer = await GrantSigner.create();
    const other = await GrantSigner.create();
    const { token } = await signer.sign(request);
    await assert.rejects(signer.verify(token, new Date(now.getTime() + 61_000)), /exp/);
    await assert.rejects(other.verify(token, now), /signature|no applicable key/i);
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    payload.sub = 'n2';
    await assert.rejects(
      signer.verify(`${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`, now),
      /signature/i,
    );
  });
});

describe('REPORT_DATA binding', () => {
  it('is 64 bytes that change with the nonce and with the key', () => {
    const a = reportDataFor(new Uint8Array(32), new Uint8Array([1]));
    assert.equal(a.length, 64);
    assert.notDeepEqual(a, reportDataFor(new Uint8Array(32).fill(1), new Uint8Array([1])));
    assert.notDeepEqual(a, reportDataFor(new Uint8Array(32), new Uint8Array([2])));
  });
});
