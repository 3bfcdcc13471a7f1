// Grants from issue to redemption (coordinator/grants.ts), without evidence or a cluster: each case
// changes one thing about a good redemption and says why it must not activate.
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { DEFAULT_GRANT_TTL_SECONDS, Grants } from '../../../src/coordinator/grants.ts';
import { readActivationReport, signActivationReport } from '../../../src/protocol/activation-report.ts';
import { verifyGrant } from '../../../src/protocol/grant.ts';
import type { ActivationReport } from '../../../src/protocol/messages.ts';

const MANIFEST = 'a1'.repeat(32);
const DIGEST = 'e5'.repeat(32);
const GPUS = ['GPU-0', 'GPU-1'];
const t0 = new Date('2026-06-01T00:00:00Z');

interface Agent {
  privateKey: jose.CryptoKey;
  evidence: { digest: string; agentKey: jose.JWK; agentKeyThumbprint: string };
}

async function agent(digest = DIGEST): Promise<Agent> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const agentKey = await jose.exportJWK(publicKey);
  return {
    privateKey,
    evidence: { digest, agentKey, agentKeyThumbprint: await jose.calculateJwkThumbprint(agentKey) },
  };
}

describe('grants', () => {
  let grants: Grants;
  let a: Agent;
  const active = { hash: MANIFEST };
  beforeEach(async () => {
    grants = await Grants.create();
    a = await agent();
    active.hash = MANIFEST;
  });

  /** Accepts node-a's evidence (the standing verdict) and issues a grant for it. */
  async function accepted(node = 'node-a', who = a): Promise<string> {
    grants.settle(node, { digest: who.evidence.digest, manifestHash: MANIFEST });
    const { token } = await grants.issue({ node, gpus: GPUS, evidence: who.evidence, manifestHash: MANIFEST, now: t0 });
    return token;
  }

  async function redeem(
    node: string,
    token: string,
    options: { key?: jose.CryptoKey; report?: Partial<ActivationReport>; at?: Date } = {},
  ) {
    const jws = await signActivationReport(
      { grant: token, gpusReady: true, gpus: GPUS, ...options.report },
      options.key ?? a.privateKey,
    );
    const report = readActivationReport(jws);
    assert.ok(!('error' in report));
    return grants.redeem(node, jws, report, () => active.hash, options.at ?? t0);
  }

  it('issues a grant bound to the node, its GPUs, the evidence, the Manifest and the agent key', async () => {
    const token = await accepted();
    const claims = await verifyGrant(token, jose.createLocalJWKSet(grants.jwks), t0);
    assert.deepEqual(
      [claims.sub, claims.gpus, claims.evidence, claims.manifest, claims.cnf.jkt],
      ['node-a', GPUS, DIGEST, MANIFEST, a.evidence.agentKeyThumbprint],
    );
    assert.equal(claims.exp - claims.iat, DEFAULT_GRANT_TTL_SECONDS);
    assert.equal(grants.pending, 1);
  });

  it('redeems once: the agent key spends it, and nothing spends it again', async () => {
    const token = await accepted();
    const first = await redeem('node-a', token);
    assert.ok(first.redeemed, JSON.stringify(first));
    assert.equal(first.grant.sub, 'node-a');
    assert.deepEqual(await redeem('node-a', token), {
      redeemed: false,
      reason: 'the grant was already used, was withdrawn by a later verdict, or is unknown to this Coordinator',
    });
    assert.equal(grants.pending, 0);
  });

  it('is not spent by a report signed with another key: the real one still redeems it', async () => {
    const token = await accepted();
    const stranger = await agent();
    assert.deepEqual(await redeem('node-a', token, { key: stranger.privateKey }), {
      redeemed: false,
      reason: 'the activation report is not signed by the key bound to the evidence',
    });
    assert.equal((await redeem('node-a', token)).redeemed, true);
  });

  it("is not redeemed by another node's agent", async () => {
    const token = await accepted();
    assert.deepEqual(await redeem('node-b', token), { redeemed: false, reason: 'the grant is for node node-a' });
    assert.equal(grants.pending, 1, 'still pending for node-a');
  });

  it('is not redeemed after it expired', async () => {
    const token = await accepted();
    const late = new Date(t0.getTime() + (DEFAULT_GRANT_TTL_SECONDS + 1) * 1000);
    const outcome = await redeem('node-a', token, { at: late });
    assert.ok(!outcome.redeemed && outcome.reason.startsWith('invalid grant:'), JSON.stringify(outcome));
  });

  it('is not redeemed when it was signed by another Coordinator (another leader)', async () => {
    const other = await Grants.create();
    other.settle('node-a', { digest: DIGEST, manifestHash: MANIFEST });
    const { token } = await other.issue({
      node: 'node-a',
      gpus: GPUS,
      evidence: a.evidence,
      manifestHash: MANIFEST,
      now: t0,
    });
    const outcome = await redeem('node-a', token);
    assert.ok(!outcome.redeemed && outcome.reason.startsWith('invalid grant:'), JSON.stringify(outcome));
  });

  it('is spent, and refused, by a report that covers other GPUs than the grant', async () => {
    const token = await accepted();
    assert.deepEqual(await redeem('node-a', token, { report: { gpus: ['GPU-0'] } }), {
      redeemed: false,
      reason: 'the report covers GPUs GPU-0 but the grant GPU-0,GPU-1',
    });
    assert.equal(grants.pending, 0, 'a signed report with the wrong GPUs spends the grant');
  });

  it('is refused when another Manifest became active since it was issued', async () => {
    const token = await accepted();
    active.hash = 'b2'.repeat(32);
    assert.deepEqual(await redeem('node-a', token), {
      redeemed: false,
      reason: 'the active Manifest changed since the grant was issued',
    });
  });

  it('is withdrawn by a later verdict on the node, and not by a verdict on another node', async () => {
    const token = await accepted();
    const other = await agent();
    await accepted('node-b', other);
    grants.settle('node-a', undefined); // node-a refused
    assert.equal((await redeem('node-a', token)).redeemed, false);
    const b = await grants.issue({
      node: 'node-b',
      gpus: GPUS,
      evidence: other.evidence,
      manifestHash: MANIFEST,
      now: t0,
    });
    assert.equal((await redeem('node-b', b.token, { key: other.privateKey })).redeemed, true);
  });

  it('is refused when the standing verdict is the acceptance of other evidence', async () => {
    const token = await accepted();
    const grantCount = grants.pending;
    // Settled again for newer evidence, then a grant for the old evidence is issued anyway (a race
    // the Coordinator's per-node serialisation prevents): the standing verdict still decides.
    grants.settle('node-a', { digest: 'f0'.repeat(32), manifestHash: MANIFEST });
    const stale = await grants.issue({
      node: 'node-a',
      gpus: GPUS,
      evidence: a.evidence,
      manifestHash: MANIFEST,
      now: t0,
    });
    assert.equal(grants.pending, grantCount, 'the first grant was withdrawn, the second is pending');
    assert.equal((await redeem('node-a', token)).redeemed, false);
    assert.deepEqual(await redeem('node-a', stale.token), {
      redeemed: false,
      reason: "the node's current verdict is not the acceptance of the evidence this grant was issued for",
    });
  });

  it('forgets a node: its grants and standing verdict', async () => {
    const token = await accepted();
    assert.deepEqual([...grants.nodes()], ['node-a']);
    grants.forget('node-a');
    assert.deepEqual([...grants.nodes()], []);
    assert.equal(grants.pending, 0);
    assert.equal((await redeem('node-a', token)).redeemed, false);
  });

  it('drops expired pending grants when it issues new ones', async () => {
    await accepted();
    const later = new Date(t0.getTime() + (DEFAULT_GRANT_TTL_SECONDS + 1) * 1000);
    const b = await agent();
    grants.settle('node-b', { digest: DIGEST, manifestHash: MANIFEST });
    await grants.issue({ node: 'node-b', gpus: GPUS, evidence: b.evidence, manifestHash: MANIFEST, now: later });
    assert.equal(grants.pending, 1, "node-a's expired grant is gone");
  });
});
