// The Coordinator's decisions without a cluster, what each one writes and answers: acceptance,
// refusal, requests it does not serve, trust selection, activation and re-appraisal outcomes.
// Simulated evidence through the real verifiers; NodeAttestations and Events in memory (fixture.ts).
import assert from 'node:assert/strict';
import * as jose from 'jose';
import { attestationState } from '../../../src/api/node-gating.ts';
import { CoordinatorError } from '../../../src/coordinator/coordinator-error.ts';
import { evidenceDigest } from '../../../src/protocol/evidence-request.ts';
import { verifyGrant } from '../../../src/protocol/grant.ts';
import {
  activationReport,
  attestAndActivate,
  condition,
  createFixture,
  evidenceRequest,
  type Fixture,
  manifestSpec,
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

describe('Coordinator decisions', function () {
  this.timeout(120_000);
  let f: Fixture;
  beforeEach(async () => {
    f = await createFixture();
    for (const n of ['node-a', 'node-b']) f.addNode(n);
  });
  afterEach(() => f.coordinator.close());

  describe('accept', () => {
    it('answers with a grant bound to the node, its GPUs, the evidence, the Manifest and the agent key', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { request, answer } = await submit(f, a);
      assert.ok(answer.accepted, JSON.stringify(answer));
      const hash = f.manifests.get('base')!.status!.hash!;
      const claims = await verifyGrant(answer.grant, jose.createLocalJWKSet(f.coordinator.jwks), f.clock.now);
      assert.deepEqual(
        [claims.sub, claims.gpus, claims.evidence, claims.manifest, claims.cnf.jkt],
        [
          'node-a',
          ['node-a-GPU-0', 'node-a-GPU-1'],
          evidenceDigest(request),
          hash,
          await jose.calculateJwkThumbprint(a.key.publicJwk),
        ],
      );
      assert.equal(answer.manifestHash, hash);
      assert.equal(
        answer.expiresAt,
        new Date(f.clock.now.getTime() + 3_600_000).toISOString(),
        'reattestationInterval',
      );
      assert.equal(answer.reattestAfterSeconds, 1800, 'half of it');
    });

    it('records Attested (simulated) and awaits activation; the read-back activates the GPUs', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { answer } = await submit(f, a);
      assert.ok(answer.accepted);
      let status = f.store.status('node-a')!;
      assert.equal(condition(status, 'Attested')?.reason, 'VerifiedSimulated');
      assert.equal(condition(status, 'GPUsActivated')?.reason, 'AwaitingActivation');
      assert.equal(status.cvm?.simulated, true);
      assert.equal(status.expiresAt, '2026-06-01T01:00:00Z');
      assert.deepEqual(
        f.events.about('node-a').map((e) => e.reason),
        ['Attested'],
      );
      assert.match(f.events.about('node-a')[0]!.message, /SIMULATED evidence/);
      assert.deepEqual(await f.coordinator.activate('node-a', await activationReport(a, answer.grant)), {
        activated: true,
      });
      status = f.store.status('node-a')!;
      assert.equal(condition(status, 'GPUsActivated')?.status, 'True');
      assert.deepEqual(
        status.gpus?.map((g) => g.activated),
        [true, true],
      );
      assert.deepEqual(
        f.events.about('node-a').map((e) => e.reason),
        ['Attested', 'GPUsActivated'],
      );
    });
  });

  describe('refuse', () => {
    it('answers every reason, records EvidenceRefused and a Warning, and issues no grant', async () => {
      const wrong = await simulatedAgent(f, 'node-a', { measurement: 'ee'.repeat(48) });
      const { answer } = await submit(f, wrong);
      assert.ok(!answer.accepted);
      assert.ok(
        answer.reasons.some((r) => r.startsWith('[snp.measurement]')),
        answer.reasons.join('\n'),
      );
      assert.equal(answer.manifestHash, f.manifests.get('base')!.status!.hash);
      const status = f.store.status('node-a')!;
      assert.equal(condition(status, 'Attested')?.reason, 'EvidenceRefused');
      assert.equal(condition(status, 'GPUsActivated')?.reason, 'NotAttested');
      assert.deepEqual(
        f.events.events.map((e) => [e.name, e.reason]),
        [['node-a', 'AttestationRefused']],
      );
    });

    it('refuses simulated evidence under a Manifest that does not accept it: the real roots decide', async () => {
      const spec = manifestSpec();
      f.activate('strict-roots', { ...spec, development: { acceptSimulatedEvidence: false } });
      const { answer } = await submit(f, await simulatedAgent(f, 'node-a'));
      assert.ok(!answer.accepted);
      assert.ok(
        answer.reasons.some((r) => /^\[(snp|gpu)\.[a-z.-]*(chain|signature|certificate)/.test(r)),
        answer.reasons.join('\n'),
      );
      assert.equal(f.store.status('node-a')?.cvm?.simulated, undefined, 'not recorded as simulated');
    });

    it('holds nothing when the verdict could not be recorded', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const write = f.store.updateStatus.bind(f.store);
      f.store.updateStatus = async () => {
        throw new Error('the API server is down');
      };
      await assert.rejects(submit(f, a), /the API server is down/);
      f.store.updateStatus = write;
      const b = await simulatedAgent(f, 'node-b', { cvm: a.cvm, uuids: ['node-a-GPU-0', 'node-a-GPU-1'] });
      assert.equal((await submit(f, b)).answer.accepted, true, "node-a's launch and GPUs are free");
    });
  });

  describe('requests it does not serve', () => {
    it('answers 503 while no valid Manifest is active, and 404 for a node that does not exist', async () => {
      await refusedWith(
        Promise.resolve().then(() => f.coordinator.issueNonce('node-x')),
        404,
        /node node-x does not exist/,
      );
      await refusedWith(
        Promise.resolve().then(() => f.coordinator.watch('node-x', 'ab'.repeat(32), 10)),
        404,
        /node-x/,
      );
      f.remove('base');
      await refusedWith(
        Promise.resolve().then(() => f.coordinator.issueNonce('node-a')),
        503,
        /no valid Manifest/,
      );
    });

    it('refuses a nonce used twice or used late (409), before anything is appraised', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { nonce } = f.coordinator.issueNonce('node-a');
      const request = await evidenceRequest(a, nonce);
      assert.equal((await f.coordinator.attest('node-a', request)).accepted, true);
      await refusedWith(f.coordinator.attest('node-a', request), 409, /\[coordinator\.nonce\] unknown nonce/);
      const late = f.coordinator.issueNonce('node-a').nonce;
      f.clock.now = new Date(f.clock.now.getTime() + 5 * 60_000); // evidenceMaxAge
      const before = f.appraisals.count;
      await refusedWith(
        f.coordinator.attest('node-a', await evidenceRequest(a, late)),
        409,
        /\[coordinator\.nonce\] the nonce expired/,
      );
      assert.equal(f.appraisals.count, before);
    });

    it('answers a report that is no JWS with 400', async () => {
      await refusedWith(f.coordinator.activate('node-a', 'garbage'), 400, /\[coordinator\.request\] .*compact JWS/);
    });
  });

  describe('activation', () => {
    it('records GPUs that read back not ready as ActivationFailed, and spends the grant', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { answer } = await submit(f, a);
      assert.ok(answer.accepted);
      assert.deepEqual(
        await f.coordinator.activate('node-a', await activationReport(a, answer.grant, { gpusReady: false })),
        { activated: false, reason: 'GPUs not ready after activation' },
      );
      assert.equal(condition(f.store.status('node-a'), 'GPUsActivated')?.reason, 'ActivationFailed');
      assert.equal(f.events.about('node-a').at(-1)?.reason, 'ActivationFailed');
      assert.equal((await f.coordinator.activate('node-a', await activationReport(a, answer.grant))).activated, false);
    });

    it("refuses another node's grant, with an ActivationRefused Event on the node that tried", async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { answer } = await submit(f, a);
      assert.ok(answer.accepted);
      assert.deepEqual(await f.coordinator.activate('node-b', await activationReport(a, answer.grant)), {
        activated: false,
        reason: 'the grant is for node node-a',
      });
      assert.deepEqual(
        f.events.about('node-b').map((e) => e.reason),
        ['ActivationRefused'],
      );
      assert.equal((await f.coordinator.activate('node-a', await activationReport(a, answer.grant))).activated, true);
    });

    it('refuses a grant issued under a Manifest that is no longer active', async () => {
      const a = await simulatedAgent(f, 'node-a');
      const { answer } = await submit(f, a);
      assert.ok(answer.accepted);
      f.activate('newer', manifestSpec({ evidenceMaxAge: '4m' }));
      assert.deepEqual(await f.coordinator.activate('node-a', await activationReport(a, answer.grant)), {
        activated: false,
        reason: 'the active Manifest changed since the grant was issued',
      });
      assert.equal(condition(f.store.status('node-a'), 'GPUsActivated')?.status, 'False');
    });
  });

  describe('attesting again while activated (D250)', () => {
    it('keeps the node open on its activation; the new read-back extends the expiry to the new verdict', async () => {
      const a = await simulatedAgent(f, 'node-a');
      await attestAndActivate(f, a);
      const first = f.store.status('node-a')!;
      assert.equal(first.expiresAt, '2026-06-01T01:00:00Z');
      f.clock.now = new Date(f.clock.now.getTime() + 30 * 60_000); // reattestAfterSeconds
      const { answer } = await submit(f, a);
      assert.ok(answer.accepted);
      const renewed = f.store.status('node-a')!;
      const hash = f.manifests.get('base')!.status!.hash!;
      assert.equal(attestationState({ status: renewed } as never, hash, f.clock.now).current, true, 'still open');
      assert.equal(renewed.expiresAt, first.expiresAt, "the activation's expiry until the read-back");
      assert.equal(renewed.attestedAt, '2026-06-01T00:30:00Z');
      assert.equal(
        condition(renewed, 'GPUsActivated')?.lastTransitionTime,
        condition(first, 'GPUsActivated')?.lastTransitionTime,
      );
      assert.deepEqual(await f.coordinator.activate('node-a', await activationReport(a, answer.grant)), {
        activated: true,
      });
      assert.equal(f.store.status('node-a')!.expiresAt, '2026-06-01T01:30:00Z', answer.expiresAt);
    });

    it('closes it when the activation report for the new grant is refused: the agent sets its GPUs not ready', async () => {
      const a = await simulatedAgent(f, 'node-a');
      await attestAndActivate(f, a);
      const { answer } = await submit(f, a);
      assert.ok(answer.accepted);
      f.activate('newer', manifestSpec({ evidenceMaxAge: '4m' }));
      const hash = f.manifests.get('newer')!.status!.hash!;
      const refusal = await f.coordinator.activate('node-a', await activationReport(a, answer.grant));
      assert.equal(refusal.activated, false);
      const status = f.store.status('node-a')!;
      assert.equal(condition(status, 'GPUsActivated')?.reason, 'ActivationRefused');
      assert.match(
        condition(status, 'GPUsActivated')!.message,
        /the active Manifest changed since the grant was issued/,
      );
      assert.ok(status.gpus!.every((g) => !g.activated));
      assert.equal(attestationState({ status } as never, hash, f.clock.now).current, false);
    });
  });

  describe('re-appraisal outcomes', () => {
    it('tells an attested node without retained evidence to attest again (a new leader keeps none)', async () => {
      await attestAndActivate(f, await simulatedAgent(f, 'node-a'));
      const base = f.store.status('node-a')!.manifestHash!;
      await f.failover();
      const next = f.activate('next', manifestSpec({ evidenceMaxAge: '4m' }));
      const watching = f.coordinator.watch('node-a', base, 10_000);
      await f.coordinator.reappraise(f.store.cache.list());
      const notice = await watching;
      assert.deepEqual(
        [notice.changed, notice.manifestHash, notice.attested, notice.grant],
        [true, next, false, undefined],
      );
      const status = f.store.status('node-a')!;
      assert.equal(status.manifestHash, next);
      assert.equal(condition(status, 'Attested')?.reason, 'ManifestChanged');
      assert.match(condition(status, 'Attested')!.message, /must attest again/);
      assert.equal(condition(status, 'GPUsActivated')?.status, 'False');
      assert.equal(f.events.about('node-a').at(-1)?.reason, 'ManifestChanged');
    });

    it('leaves a refused node without retained evidence as it is, and answers its watch at once', async () => {
      const wrong = await simulatedAgent(f, 'node-a', { measurement: 'ee'.repeat(48) });
      await submit(f, wrong);
      const base = f.store.status('node-a')!.manifestHash!;
      await f.failover();
      const events = f.events.events.length;
      const writes = f.store.writes;
      const next = f.activate('next', manifestSpec({ evidenceMaxAge: '4m' }));
      const watching = f.coordinator.watch('node-a', base, 10_000);
      await f.coordinator.reappraise(f.store.cache.list());
      const notice = await watching;
      assert.deepEqual([notice.changed, notice.manifestHash, notice.attested], [true, next, undefined]);
      assert.equal(f.store.status('node-a')!.manifestHash, base, 'not written');
      assert.equal(f.store.writes, writes);
      assert.equal(f.events.events.length, events, 'no Event');
    });

    it('refuses a node that no longer meets the new Manifest without an Event when it was not attested', async () => {
      const wrong = await simulatedAgent(f, 'node-a', { measurement: 'ee'.repeat(48) });
      await submit(f, wrong);
      const events = f.events.events.length;
      const next = f.activate('next', manifestSpec({ evidenceMaxAge: '4m' }));
      await f.coordinator.reappraise(f.store.cache.list());
      const status = f.store.status('node-a')!;
      assert.equal(status.manifestHash, next);
      assert.equal(condition(status, 'Attested')?.reason, 'ManifestChanged');
      assert.match(condition(status, 'Attested')!.message, /snp\.measurement/);
      assert.equal(f.events.events.length, events, 'refused before and after: no Event');
    });

    it('still answers the watch when re-appraising a node fails, and goes on with the others', async () => {
      await attestAndActivate(f, await simulatedAgent(f, 'node-a'));
      await attestAndActivate(f, await simulatedAgent(f, 'node-b', { platform: 'tdx' }));
      const base = f.store.status('node-a')!.manifestHash!;
      const next = f.activate('next', manifestSpec({ evidenceMaxAge: '4m' }));
      const get = f.store.get.bind(f.store);
      f.store.get = async (name) => {
        if (name === 'node-a') throw new Error('the API server is down');
        return get(name);
      };
      const [wa, wb] = [f.coordinator.watch('node-a', base, 10_000), f.coordinator.watch('node-b', base, 10_000)];
      await f.coordinator.reappraise(f.store.cache.list());
      const [na, nb] = await Promise.all([wa, wb]);
      assert.deepEqual([na.changed, na.manifestHash, na.attested], [true, next, undefined]);
      assert.deepEqual([nb.changed, nb.manifestHash, nb.attested], [true, next, true]);
      assert.equal(f.store.status('node-b')!.manifestHash, next);
    });
  });
});
