// Peer recovery without a cluster: the leader's side (PeerLeader) and a replica's (PeerSync) with
// their real identities, simulated CVM evidence (real byte formats and verifiers), and between
// them the network, which the test plays as an attacker would: it carries every message as JSON
// and may change the answer on the way. A replica mirrors the leader only when everything proves
// itself; the leader hands nothing to another policy; nonces are single-use and per caller; the
// mesh CA of an earlier Manifest is never handed over; after a failover the chain goes on.
import assert from 'node:assert/strict';
import {
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SimulatedCvmSource,
} from '../../../src/agent/evidence/simulated.ts';
import type { ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { CoordinatorError } from '../../../src/coordinator/coordinator-error.ts';
import { type ClaimedIdentity, CoordinatorIdentity } from '../../../src/coordinator/identity.ts';
import type { PeerAnswer, PeerTransport } from '../../../src/coordinator/peer-client.ts';
import { PeerLeader } from '../../../src/coordinator/peer-leader.ts';
import { PeerSync } from '../../../src/coordinator/peer-sync.ts';
import type { CoordinatorTrust } from '../../../src/coordinator/trust.ts';
import { simulatedCollateral } from '../../../src/dev/local-coordinator.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { TransferKeyPair } from '../../../src/pki/key-transfer.ts';
import { encodeCvmEvidence } from '../../../src/protocol/evidence-request.ts';
import {
  PEER_NONCE_PATH,
  PEER_RECOVER_PATH,
  type PeerNonceResponse,
  type PeerRecoverResponse,
  peerRequestReportData,
} from '../../../src/protocol/peer-recovery.ts';
import { createFixture, type Fixture, manifestSpec } from './fixture.ts';

const OTHER_POLICY = 'aa'.repeat(32);
const CALLER = 'system:serviceaccount:attestor-system:attestor-operator';

/** The fixture's Manifest with a Coordinator entry and two coordinator policies (the admin listed a second image). */
function spec(worker = '0f'): ManifestSpec {
  const s = manifestSpec();
  for (const e of [...s.referenceValues.snp!, ...s.referenceValues.tdx!]) e.role = 'pod';
  s.referenceValues.snp!.push({
    name: 'coordinator',
    role: 'coordinator',
    measurements: [SIMULATED_COORDINATOR_MEASUREMENT],
    minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
  });
  s.policies = [
    { name: 'worker', hash: worker.repeat(32) },
    { name: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH, role: 'coordinator' },
    { name: 'coordinator-other', hash: OTHER_POLICY, role: 'coordinator' },
  ];
  return s;
}

/** The network between a replica and the leader: JSON both ways; `tamper` changes the leader's answer on the way. */
class Network implements PeerTransport {
  readonly #leader: PeerLeader;
  readonly posts: string[] = [];
  tamper: ((answer: PeerRecoverResponse) => void) | undefined;
  constructor(leader: PeerLeader) {
    this.#leader = leader;
  }
  async post(path: string, body: unknown): Promise<PeerAnswer> {
    this.posts.push(path);
    const via = 'https://leader.test';
    try {
      const request = JSON.parse(JSON.stringify(body)) as unknown;
      if (path === PEER_NONCE_PATH)
        return { status: 200, body: JSON.parse(JSON.stringify(this.#leader.issueNonce(CALLER))), via };
      const answer = JSON.parse(JSON.stringify(await this.#leader.recover(CALLER, request))) as PeerRecoverResponse;
      this.tamper?.(answer);
      return { status: 200, body: answer, via };
    } catch (err) {
      if (err instanceof CoordinatorError) return { status: err.status, body: { error: err.message }, via };
      throw err;
    }
  }
}

describe('peer recovery between a leader and a replica', function () {
  this.timeout(60_000);
  let f: Fixture;
  let trust: CoordinatorTrust;
  let leader: CoordinatorIdentity;
  let leaderEvidence: SimulatedCvmSource;
  let peerLeader: PeerLeader;

  const evidence = (policyHash: string) =>
    new SimulatedCvmSource(f.platform, {
      platform: 'snp',
      measurement: SIMULATED_COORDINATOR_MEASUREMENT,
      policyHash,
    });
  /** A replica with its own identity (own root, own mesh CA) over the same Manifests. */
  async function replica(policyHash = SIMULATED_COORDINATOR_POLICY_HASH, leading = false) {
    const source = evidence(policyHash);
    const identity = await CoordinatorIdentity.create({
      manifests: f.manifests,
      evidence: source,
      trust,
      transferable: true,
      log: silentLogger,
    });
    await identity.settle();
    const network = new Network(peerLeader);
    const sync = new PeerSync({
      identity,
      transport: network,
      evidence: source,
      trust,
      leading: () => leading,
      log: silentLogger,
    });
    return { identity, network, sync, ownRoot: identity.rootCa.pem };
  }

  before(async () => {
    f = await createFixture();
    f.activate('peers-1', spec());
    trust = { production: {}, simulated: f.platform.trust, simulatedCollateral: simulatedCollateral(f.platform) };
    leaderEvidence = evidence(SIMULATED_COORDINATOR_POLICY_HASH);
    leader = await CoordinatorIdentity.create({
      manifests: f.manifests,
      evidence: leaderEvidence,
      trust,
      transferable: true,
      log: silentLogger,
    });
    await leader.lead();
    peerLeader = new PeerLeader({ identity: leader, evidence: leaderEvidence, trust, log: silentLogger });
  });
  after(() => f?.coordinator.close());

  it('mirrors the leader when both prove themselves: the same root CA, mesh CA and history, after one nonce and one recovery', async () => {
    const r = await replica();
    assert.notEqual(r.identity.rootCa.pem, leader.rootCa.pem, 'it starts with a root of its own');
    assert.deepEqual(await r.sync.sync(), { state: 'synced' });
    assert.deepEqual(r.network.posts, [PEER_NONCE_PATH, PEER_RECOVER_PATH]);
    assert.deepEqual(r.identity.state, leader.state);
    assert.equal(r.identity.rootCa.pem, leader.rootCa.pem);
    assert.equal(r.identity.meshCa!.pem, leader.meshCa!.pem);
    assert.deepEqual(r.identity.history, leader.history);
    assert.equal(r.identity.replica, true);
    assert.equal(r.sync.readiness(), undefined);
    // Holding it, the next check costs no evidence: one nonce call, no recovery.
    r.network.posts.length = 0;
    assert.deepEqual(await r.sync.sync(), { state: 'synced' });
    assert.deepEqual(r.network.posts, [PEER_NONCE_PATH]);
  });

  it('gets no keys with another HOST_DATA, though the Manifest lists it as a coordinator policy: 403 naming both policies', async () => {
    const r = await replica(OTHER_POLICY);
    const s = await r.sync.sync();
    assert.equal(s.state, 'failed');
    assert.match(
      (s as { reason: string }).reason,
      new RegExp(`403: .*\\[coordinator\\.peer\\.policy\\].*${OTHER_POLICY}.*${SIMULATED_COORDINATOR_POLICY_HASH}`),
    );
    assert.equal(r.identity.rootCa.pem, r.ownRoot, 'it keeps its own root');
    assert.equal(r.identity.replica, false);
    assert.match(r.sync.readiness() ?? '', /does not hold the leader's Coordinator identity/);
  });

  it('refuses an answer changed on the way, saying why, and keeps its own identity', async () => {
    const stranger = await TransferKeyPair.generate();
    const changes: Array<[string, (a: PeerRecoverResponse) => void, RegExp]> = [
      [
        'a history whose chain does not follow',
        (a) => {
          a.bundle.history[0]!.transition = 'ff'.repeat(32);
        },
        /\[coordinator\.peer\.bundle\] the transition chain does not follow/,
      ],
      [
        "the root CA's sealed key in place of the mesh CA's",
        (a) => {
          a.bundle.meshCA = { ...a.bundle.meshCA, key: a.bundle.rootCA.key, iv: a.bundle.rootCA.iv };
        },
        /\[snp\.report-data\]/,
      ],
      [
        'another ephemeral key of the leader',
        (a) => {
          a.bundle.leaderKey = stranger.publicJwk;
        },
        /\[snp\.report-data\]/,
      ],
    ];
    for (const [what, change, expected] of changes) {
      const r = await replica();
      r.network.tamper = change;
      const s = await r.sync.sync();
      assert.equal(s.state, 'failed', what);
      assert.match((s as { reason: string }).reason, /refused the leader's identity/, what);
      assert.match((s as { reason: string }).reason, expected, what);
      assert.equal(r.identity.rootCa.pem, r.ownRoot, what);
      assert.equal(r.identity.replica, false, what);
    }
  });

  it("refuses a leader whose evidence carries another policy, though the Manifest lists it (the admin's other image posing as the leader)", async () => {
    const r = await replica();
    const impostor = new PeerLeader({ identity: leader, evidence: evidence(OTHER_POLICY), trust, log: silentLogger });
    const network = new Network(impostor);
    const sync = new PeerSync({
      identity: r.identity,
      transport: network,
      evidence: evidence(SIMULATED_COORDINATOR_POLICY_HASH),
      trust,
      leading: () => false,
      log: silentLogger,
    });
    const s = await sync.sync();
    assert.equal(s.state, 'failed');
    assert.match(
      (s as { reason: string }).reason,
      new RegExp(`refused the leader's identity: \\[coordinator\\.peer\\.policy\\] .*${OTHER_POLICY}`),
    );
    assert.equal(r.identity.rootCa.pem, r.ownRoot);
  });

  it('takes a nonce once, and only from the caller it was issued to', async () => {
    const source = evidence(SIMULATED_COORDINATOR_POLICY_HASH);
    const pair = await TransferKeyPair.generate();
    const { nonce } = peerLeader.issueNonce(CALLER) as PeerNonceResponse;
    const body = {
      nonce,
      peerKey: pair.publicJwk,
      evidence: encodeCvmEvidence(
        await source.collect(peerRequestReportData(new Uint8Array(Buffer.from(nonce, 'hex')), pair.spki)),
      ),
    };
    await assert.rejects(peerLeader.recover('system:serviceaccount:x:someone-else', body), (e: CoordinatorError) => {
      assert.equal(e.status, 403);
      return true;
    });
    const handed = await peerLeader.recover(CALLER, body);
    assert.equal(handed.bundle.history.length, leader.history.length);
    await assert.rejects(peerLeader.recover(CALLER, body), (e: CoordinatorError) => {
      assert.equal(e.status, 403);
      assert.match(e.message, /nonce/);
      return true;
    });
    await assert.rejects(peerLeader.recover(CALLER, { nonce }), (e: CoordinatorError) => e.status === 400);
  });

  it('follows a new Manifest of the leader with its new mesh CA, and never receives the earlier one', async () => {
    const r = await replica();
    assert.deepEqual(await r.sync.sync(), { state: 'synced' });
    const earlier = leader.meshCa!.pem;
    f.activate('peers-2', spec('0e'));
    await leader.settle();
    assert.notEqual(leader.meshCa!.pem, earlier);
    let handed: PeerRecoverResponse | undefined;
    r.network.tamper = (a) => {
      handed = structuredClone(a);
    };
    await r.identity.settle(); // a replica follows nothing itself
    assert.deepEqual(await r.sync.sync(), { state: 'synced' });
    assert.equal(r.identity.meshCa!.pem, leader.meshCa!.pem);
    assert.deepEqual(r.identity.history, leader.history);
    assert.equal(r.identity.history.length, 2);
    assert.ok(!JSON.stringify(handed).includes(earlier.split('\n')[1]!), 'the earlier mesh CA is not in the answer');
  });

  it('after a failover goes on from the chain it received: the same root, the history extended', async () => {
    const r = await replica();
    assert.deepEqual(await r.sync.sync(), { state: 'synced' });
    const before = leader.history;
    await r.identity.lead();
    f.activate('peers-3', spec('0d'));
    await r.identity.settle();
    assert.equal(r.identity.rootCa.pem, leader.rootCa.pem);
    assert.deepEqual(r.identity.history.slice(0, before.length), before);
    assert.equal(r.identity.history.at(-1)!.manifestHash, manifestHash(spec('0d')));
    assert.equal(r.identity.standing?.state, 'accepted');
    // Once it leads, an identity from another leader changes nothing.
    const late = await replica();
    assert.deepEqual(await late.sync.sync(), { state: 'synced' });
    const c = late.identity.claim() as ClaimedIdentity;
    const adopted = await r.identity.adopt({
      root: c.root,
      mesh: c.mesh,
      manifest: c.manifest,
      predecessor: c.predecessor,
      history: c.history,
      standing: { state: 'accepted', simulated: true, policyHash: c.policyHash },
    });
    assert.equal(adopted, false);
    assert.equal(r.identity.history.at(-1)!.manifestHash, manifestHash(spec('0d')));
  });

  it('does not ask while it leads', async () => {
    const r = await replica(SIMULATED_COORDINATOR_POLICY_HASH, true);
    assert.deepEqual(await r.sync.sync(), { state: 'leading' });
    assert.deepEqual(r.network.posts, []);
  });
});
