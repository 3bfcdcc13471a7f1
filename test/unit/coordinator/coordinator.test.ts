// The Coordinator's decisions without a cluster (issue 7, items 7-10 and 18): simulated evidence
// through the real verifiers, NodeAttestations and Events in memory (test/unit/coordinator/fixture.ts).
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { SimulatedCvmSource } from '../../../src/agent/evidence/simulated.ts';
import { CoordinatorError } from '../../../src/coordinator/coordinator-error.ts';
import {
  activationReport,
  attestAndActivate,
  condition,
  createFixture,
  evidenceRequest,
  type Fixture,
  manifestSpec,
  POLICY_HASH,
  simulatedAgent,
  submit,
} from './fixture.ts';

async function refusedWith(promise: Promise<unknown>, status: number, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof CoordinatorError, String(err));
    assert.equal(err.status, status, err.message);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('Coordinator', function () {
  this.timeout(120_000);
  let f: Fixture;
  beforeEach(async () => {
    f = await createFixture();
    for (const n of ['node-a', 'node-b', 'node-c']) f.addNode(n);
  });
  afterEach(() => f.coordinator.close());

  describe('item 7: one node cannot knock other nodes offline', () => {
    it("keeps each node's nonces apart: a flood from one node evicts none of another node's", async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { nonce } = f.coordinator.issueNonce('node-a');
      for (let i = 0; i < 10_001; i++) f.coordinator.issueNonce('node-b');
      const answer = await f.coordinator.attest('node-a', await evidenceRequest(a, nonce));
      assert.equal(answer.accepted, true, JSON.stringify(answer));
    });

    it("answers a bad nonce or a malformed request with 4xx and leaves the node's verdict as it is", async () => {
      const a = await simulatedAgent(f, 'node-a');
      await attestAndActivate(f, a);
      const before = structuredClone(f.store.status('node-a'));
      const writes = f.store.writes;
      const events = f.events.events.length;
      const { nonce: foreign } = f.coordinator.issueNonce('node-b');
      await refusedWith(
        f.coordinator.attest('node-a', await evidenceRequest(a, foreign)),
        409,
        /\[coordinator\.nonce\] the nonce was issued to node node-b, not node-a/,
      );
      await refusedWith(
        f.coordinator.attest('node-a', await evidenceRequest(a, 'ab'.repeat(32))),
        409,
        /\[coordinator\.nonce\] unknown nonce/,
      );
      const { nonce } = f.coordinator.issueNonce('node-a');
      await refusedWith(
        f.coordinator.attest('node-a', { ...(await evidenceRequest(a, nonce)), gpus: 'none' } as never),
        400,
        /\[coordinator\.request\] gpus/,
      );
      await refusedWith(f.coordinator.attest('node-a', null as never), 400, /\[coordinator\.request\]/);
      assert.deepEqual(f.store.status('node-a'), before);
      assert.equal(f.store.writes, writes, 'no status write');
      assert.equal(f.events.events.length, events, 'no Event');
      assert.equal(condition(f.store.status('node-a'), 'Attested')?.status, 'True');
    });

    it("does not let another node burn a node's nonce", async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { nonce } = f.coordinator.issueNonce('node-a');
      await refusedWith(
        f.coordinator.attest('node-b', await evidenceRequest(await simulatedAgent(f, 'node-b'), nonce)),
        409,
        /issued to node node-a/,
      );
      assert.equal((await f.coordinator.attest('node-a', await evidenceRequest(a, nonce))).accepted, true);
    });

    it("caps outstanding nonces per node: a node's own oldest go, no other node's", async () => {
      const a = await simulatedAgent(f, 'node-a');
      const first = f.coordinator.issueNonce('node-a').nonce;
      const others = Array.from({ length: 4 }, () => f.coordinator.issueNonce('node-a').nonce);
      await refusedWith(f.coordinator.attest('node-a', await evidenceRequest(a, first)), 409, /unknown nonce/);
      assert.equal((await f.coordinator.attest('node-a', await evidenceRequest(a, others[3]!))).accepted, true);
    });

    it('rate-limits each node on its own: 429 with a retry time for the flooding node only', async () => {
      f = await createFixture({ requests: { burst: 3, intervalMs: 10_000 } });
      f.addNode('node-a');
      f.addNode('node-b');
      for (let i = 0; i < 3; i++) f.coordinator.admit('node-b', 'request');
      assert.throws(
        () => f.coordinator.admit('node-b', 'request'),
        (err: unknown) => err instanceof CoordinatorError && err.status === 429 && err.retryAfterSeconds === 10,
      );
      assert.doesNotThrow(() => f.coordinator.admit('node-a', 'request'));
      f.clock.now = new Date(f.clock.now.getTime() + 10_000);
      assert.doesNotThrow(() => f.coordinator.admit('node-b', 'request'));
    });
  });

  describe('item 8: one CVM launch or GPU attests one node at a time', () => {
    it('refuses an SNP CVM launch (REPORT_ID) that is attested for another node, naming that node', async () => {
      const a = await simulatedAgent(f, 'node-a');
      await attestAndActivate(f, a);
      const b = await simulatedAgent(f, 'node-b', { cvm: a.cvm });
      const { answer } = await submit(f, b);
      assert.equal(answer.accepted, false);
      assert.ok(
        !answer.accepted &&
          answer.reasons.some(
            (r) =>
              r.startsWith('[coordinator.evidence.in-use]') && r.includes('REPORT_ID') && r.includes('node node-a'),
          ),
        JSON.stringify(answer),
      );
      assert.equal(
        f.store.status('node-a')?.cvm?.reportId,
        Buffer.from(a.cvm.reportId).toString('hex'),
        'recorded in status',
      );
      assert.equal(condition(f.store.status('node-a'), 'Attested')?.status, 'True', 'the holder keeps its attestation');
    });

    it('refuses a GPU (UUID and leaf certificate) attested for another node, naming that node', async () => {
      const a = await simulatedAgent(f, 'node-a');
      await attestAndActivate(f, a);
      const b = await simulatedAgent(f, 'node-b', { uuids: ['node-b-GPU-0', 'node-a-GPU-1'] });
      const { answer } = await submit(f, b);
      assert.ok(!answer.accepted, JSON.stringify(answer));
      const inUse = answer.reasons.filter((r) => r.startsWith('[coordinator.evidence.in-use]'));
      assert.ok(
        inUse.some((r) => r.includes('GPU node-a-GPU-1') && r.includes('node node-a')),
        inUse.join('\n'),
      );
      const device = f.store.status('node-a')!.gpus![1]!.deviceId!;
      assert.match(device, /^[0-9a-f]+$/);
      assert.ok(
        inUse.some((r) => r.includes(`GPU device ${device}`) && r.includes('node node-a')),
        inUse.join('\n'),
      );
    });

    it('does not use CHIP_ID: two CVMs on one host (same CHIP_ID, own launches) attest two nodes', async () => {
      // Every simulated report carries the simulator's one CHIP_ID; each source is its own launch.
      await attestAndActivate(f, await simulatedAgent(f, 'node-a'));
      await attestAndActivate(f, await simulatedAgent(f, 'node-b'));
      assert.equal(condition(f.store.status('node-b'), 'Attested')?.status, 'True');
    });

    it('releases the identifiers when the holder is refused, expires or is deleted', async () => {
      const a = await simulatedAgent(f, 'node-a');
      await attestAndActivate(f, a);
      // Refused: the holder's own evidence no longer passes.
      const wrong = await simulatedAgent(f, 'node-a', { measurement: 'ee'.repeat(48) });
      assert.equal((await submit(f, wrong)).answer.accepted, false);
      const b = await simulatedAgent(f, 'node-b', { cvm: a.cvm, uuids: ['node-a-GPU-0', 'node-a-GPU-1'] });
      assert.equal((await submit(f, b)).answer.accepted, true, 'taken over after the refusal');
      // Expired: node-b's attestation lapses after the re-attestation interval.
      f.clock.now = new Date(f.clock.now.getTime() + 3_600_001);
      const c = await simulatedAgent(f, 'node-c', { cvm: a.cvm, uuids: ['node-a-GPU-0', 'node-a-GPU-1'] });
      assert.equal((await submit(f, c)).answer.accepted, true, 'taken over after expiry');
      // Deleted: node-c goes away.
      f.nodes.map.delete('node-c');
      assert.equal(
        (await submit(f, await simulatedAgent(f, 'node-a', { cvm: a.cvm }))).answer.accepted,
        true,
        'taken over after deletion',
      );
    });

    it('still refuses after a leader failover: the holds are rebuilt from NodeAttestation status', async () => {
      const a = await simulatedAgent(f, 'node-a');
      await attestAndActivate(f, a);
      await f.failover();
      const b = await simulatedAgent(f, 'node-b', { cvm: a.cvm, uuids: ['node-a-GPU-0', 'node-a-GPU-1'] });
      const { answer } = await submit(f, b);
      assert.ok(!answer.accepted, JSON.stringify(answer));
      const inUse = answer.reasons.filter((r) => r.startsWith('[coordinator.evidence.in-use]'));
      assert.equal(inUse.length, 5, inUse.join('\n')); // the launch, two UUIDs, two devices
    });

    it('binds TDX nodes by their GPUs (a TD has no per-launch identifier)', async () => {
      const a = await simulatedAgent(f, 'node-a', { platform: 'tdx' });
      await attestAndActivate(f, a);
      const b = await simulatedAgent(f, 'node-b', { platform: 'tdx', uuids: ['node-a-GPU-0', 'node-a-GPU-1'] });
      assert.equal((await submit(f, b)).answer.accepted, false);
      assert.equal((await submit(f, await simulatedAgent(f, 'node-b', { platform: 'tdx' }))).answer.accepted, true);
    });
  });

  describe('item 9: grants', () => {
    it("checks the activation report's signature before it spends the grant: a forged report burns nothing", async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { answer } = await submit(f, a);
      assert.ok(answer.accepted);
      const stranger = await jose.generateKeyPair('ES256');
      const forged = await f.coordinator.activate(
        'node-a',
        await activationReport(a, answer.grant, { key: stranger.privateKey }),
      );
      assert.deepEqual(forged, {
        activated: false,
        reason: 'the activation report is not signed by the key bound to the evidence',
      });
      const real = await f.coordinator.activate('node-a', await activationReport(a, answer.grant));
      assert.deepEqual(real, { activated: true });
      assert.equal(condition(f.store.status('node-a'), 'GPUsActivated')?.status, 'True');
      const again = await f.coordinator.activate('node-a', await activationReport(a, answer.grant));
      assert.equal(again.activated, false, 'single use');
    });

    it('does not activate with a grant issued before a later refusal', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { answer } = await submit(f, a);
      assert.ok(answer.accepted);
      const refused = await submit(f, await simulatedAgent(f, 'node-a', { measurement: 'ee'.repeat(48) }));
      assert.equal(refused.answer.accepted, false);
      const late = await f.coordinator.activate('node-a', await activationReport(a, answer.grant));
      assert.equal(late.activated, false);
      assert.equal(condition(f.store.status('node-a'), 'GPUsActivated')?.status, 'False');
      assert.equal(condition(f.store.status('node-a'), 'Attested')?.status, 'False');
    });

    it('does not activate with a grant for evidence that a newer submission replaced', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const first = await submit(f, a);
      const second = await submit(f, a);
      assert.ok(first.answer.accepted && second.answer.accepted);
      assert.equal(
        (await f.coordinator.activate('node-a', await activationReport(a, first.answer.grant))).activated,
        false,
      );
      assert.equal(
        (await f.coordinator.activate('node-a', await activationReport(a, second.answer.grant))).activated,
        true,
      );
    });
  });

  describe('item 10: cheap load', () => {
    it('stops at a bad nonce: nothing is appraised', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const before = f.appraisals.count;
      await refusedWith(
        f.coordinator.attest('node-a', await evidenceRequest(a, 'cd'.repeat(32))),
        409,
        /unknown nonce/,
      );
      assert.equal(f.appraisals.count, before);
      await submit(f, a);
      assert.equal(f.appraisals.count, before + 1, 'a good nonce is appraised (the probe counts)');
    });

    it("writes one Event per refusal, and rate-limits a node's Events", async () => {
      f = await createFixture({ events: { burst: 3, intervalMs: 60_000 } });
      f.addNode('node-a');
      f.addNode('node-b');
      const wrong = await simulatedAgent(f, 'node-a', { measurement: 'ee'.repeat(48) });
      await submit(f, wrong);
      assert.deepEqual(
        f.events.about('node-a').map((e) => e.reason),
        ['AttestationRefused'],
      );
      for (let i = 0; i < 5; i++) await submit(f, wrong);
      assert.equal(f.events.about('node-a').length, 3, 'the burst, then nothing within the interval');
      assert.equal(
        condition(f.store.status('node-a'), 'Attested')?.status,
        'False',
        'every refusal still updates status',
      );
      await attestAndActivate(f, await simulatedAgent(f, 'node-b'));
      assert.deepEqual(
        f.events.about('node-b').map((e) => e.reason),
        ['Attested', 'GPUsActivated'],
        'other nodes are not affected',
      );
    });
  });

  describe('item 18: a Manifest change re-appraises retained evidence', () => {
    it('brings a node refused under a stricter Manifest back when that Manifest is deleted, through a grant the agent redeems', async () => {
      const a = await simulatedAgent(f, 'node-a');
      await attestAndActivate(f, a);
      const base = f.store.status('node-a')!.manifestHash!;
      // Roll forward: a Manifest whose SNP measurement the node does not have.
      const strict = f.activate('strict', manifestSpec({ snpMeasurement: '99'.repeat(48) }));
      await f.coordinator.reappraise(f.store.cache.list());
      let status = f.store.status('node-a')!;
      assert.equal(status.manifestHash, strict);
      assert.equal(condition(status, 'Attested')?.reason, 'ManifestChanged');
      assert.match(condition(status, 'Attested')!.message, /snp\.measurement/);
      // The agent attests again under it and is refused: that refused evidence is retained.
      const refused = await submit(f, a);
      assert.equal(refused.answer.accepted, false);
      // Roll back.
      f.remove('strict');
      const watching = f.coordinator.watch('node-a', strict, 10_000);
      await f.coordinator.reappraise(f.store.cache.list());
      const notice = await watching;
      assert.equal(notice.changed, true);
      assert.equal(notice.manifestHash, base);
      assert.equal(notice.attested, true);
      assert.ok(notice.grant, 'a grant for the retained evidence');
      status = f.store.status('node-a')!;
      assert.equal(condition(status, 'Attested')?.status, 'True');
      assert.equal(
        condition(status, 'GPUsActivated')?.status,
        'False',
        'not activated until the agent redeems the grant',
      );
      assert.deepEqual(await f.coordinator.activate('node-a', await activationReport(a, notice.grant!)), {
        activated: true,
      });
      assert.equal(condition(f.store.status('node-a'), 'GPUsActivated')?.status, 'True');
    });

    it('keeps an activated node that still meets the new Manifest, and tells a node that no longer does at once', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const b = await simulatedAgent(f, 'node-b', { platform: 'tdx' });
      await attestAndActivate(f, a);
      await attestAndActivate(f, b);
      const base = f.store.status('node-a')!.manifestHash!;
      const strict = f.activate('strict', manifestSpec({ snpMeasurement: '99'.repeat(48) }));
      const [wa, wb] = [f.coordinator.watch('node-a', base, 10_000), f.coordinator.watch('node-b', base, 10_000)];
      await f.coordinator.reappraise(f.store.cache.list());
      const [na, nb] = await Promise.all([wa, wb]);
      assert.deepEqual([na.changed, na.attested, na.grant], [true, false, undefined]);
      assert.deepEqual([nb.changed, nb.attested, nb.grant], [true, true, undefined]);
      assert.ok(nb.reattestWithinMs! >= 1000, 'every agent attests again, spread over a window');
      assert.equal(condition(f.store.status('node-b'), 'GPUsActivated')?.status, 'True');
      assert.equal(f.store.status('node-b')!.manifestHash, strict);
    });

    it('retains only authentic evidence bound to its nonce, and only while it is younger than evidenceMaxAge', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { nonce } = f.coordinator.issueNonce('node-a');
      const forged = await evidenceRequest(a, nonce);
      const report = Buffer.from(forged.gpus[0]!.report, 'base64');
      report[report.length - 3]! ^= 1;
      forged.gpus[0]!.report = report.toString('base64');
      assert.equal((await f.coordinator.attest('node-a', forged)).accepted, false);
      f.activate('other', manifestSpec({ evidenceMaxAge: '4m' }));
      const before = f.appraisals.count;
      await f.coordinator.reappraise(f.store.cache.list());
      assert.equal(f.appraisals.count, before, 'evidence with a bad signature was not kept');

      await attestAndActivate(f, a);
      f.clock.now = new Date(f.clock.now.getTime() + 5 * 60_000);
      f.activate('third', manifestSpec({ evidenceMaxAge: '5m' }));
      await f.coordinator.reappraise(f.store.cache.list());
      assert.equal(f.appraisals.count, before + 1, 'evidence older than evidenceMaxAge is not appraised again');
      assert.equal(condition(f.store.status('node-a'), 'Attested')?.reason, 'ManifestChanged');
    });

    it('answers a watch at once when it names an older Manifest, and after the timeout when nothing changed', async () => {
      await attestAndActivate(f, await simulatedAgent(f, 'node-a'));
      const base = f.store.status('node-a')!.manifestHash!;
      const quiet = await f.coordinator.watch('node-a', base, 50);
      assert.deepEqual(quiet, { manifestHash: base, changed: false });
      const stale = await f.coordinator.watch('node-a', 'ff'.repeat(32), 10_000);
      assert.deepEqual([stale.changed, stale.manifestHash], [true, base]);
    });
  });

  it('accepts simulated evidence that meets the Manifest (the fixture itself)', async () => {
    const a = await simulatedAgent(f, 'node-a');
    const { request } = await attestAndActivate(f, a);
    assert.equal(request.cvm.platform, 'snp');
    assert.equal(f.store.status('node-a')?.cvm?.policyHash, POLICY_HASH);
    assert.ok(
      new SimulatedCvmSource(f.platform, { platform: 'snp', policyHash: POLICY_HASH }).reportId.some((b) => b !== 0),
    );
  });
});
