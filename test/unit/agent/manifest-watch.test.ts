// The agent's side of issue 7, item 18, against the Coordinator's real HTTPS API in this process
// (NodeAttestations in memory; the cluster test test/cluster/manifest-rollback.test.ts runs the
// same on the real control plane): a running agent hears of a Manifest change through its watch.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeAgent } from '../../../src/agent/agent.ts';
import { CoordinatorClient } from '../../../src/agent/coordinator-client.ts';
import { SimulatedCvmSource, SimulatedGpuControl } from '../../../src/agent/evidence/simulated.ts';
import { type CoordinatorServer, startCoordinatorServer } from '../../../src/coordinator/server.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { createCertificateAuthority, issueCertificate } from '../../../src/tls/certificates.ts';
import { condition, createFixture, type Fixture, manifestSpec, POLICY_HASH } from '../coordinator/fixture.ts';

describe('agent: watching the active Manifest', function () {
  this.timeout(120_000);
  let f: Fixture;
  let server: CoordinatorServer;
  let client: CoordinatorClient;
  let dir: string;
  const abort = new AbortController();
  let run: Promise<void>;
  let cvm: SimulatedCvmSource;
  let gpus: SimulatedGpuControl;
  const readyCalls = () => gpus.calls.filter((c) => c.startsWith('nvmlSystemSetConfComputeGpusReadyState'));

  before(async () => {
    f = await createFixture();
    f.addNode('node-a');
    const ca = await createCertificateAuthority('test CA');
    const serving = await issueCertificate(ca, {
      commonName: 'coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    dir = await mkdtemp(join(tmpdir(), 'agent-watch-'));
    server = await startCoordinatorServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: serving.certificatePem, key: serving.privateKeyPem },
      authenticator: {
        authenticate: async (h) =>
          h === 'Bearer a' ? { ok: true, username: 'agent', node: 'node-a' } : { ok: false, status: 401, reason: 'no' },
      },
      coordinator: () => f.coordinator,
      log: silentLogger,
    });
    client = new CoordinatorClient(`https://127.0.0.1:${server.port}`, ca.certificatePem, async () => 'a');
    cvm = new SimulatedCvmSource(f.platform, { platform: 'snp', policyHash: POLICY_HASH });
    gpus = new SimulatedGpuControl(f.platform, { uuids: ['GPU-a-0', 'GPU-a-1'] });
    // The window is at least 1 s; `random` 0.5 puts the next round half-way into it.
    run = new NodeAgent({
      nodeName: 'node-a',
      client,
      cvm,
      gpus,
      log: silentLogger,
      now: () => f.clock.now,
      random: () => 0.5,
    }).run(abort.signal);
  });
  after(async () => {
    abort.abort();
    await run;
    await client?.close();
    await server?.close();
    f?.coordinator.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('attests and activates, then waits on the watch (the next round would be 30 minutes away)', async () => {
    await waitFor(() => condition(f.store.status('node-a'), 'GPUsActivated')?.status === 'True', {
      description: 'activated',
    });
    assert.deepEqual(readyCalls(), ['nvmlSystemSetConfComputeGpusReadyState 1']);
    assert.equal(cvm.requests.length, 1);
  });

  it('sets the GPUs not ready as soon as the new Manifest refuses its evidence, and attests again within the window', async () => {
    f.activate('strict', manifestSpec({ snpMeasurement: '99'.repeat(48) }));
    await f.coordinator.reappraise(f.store.cache.list());
    await waitFor(() => readyCalls().at(-1) === 'nvmlSystemSetConfComputeGpusReadyState 0' || undefined, {
      timeoutMs: 5000,
      description: 'GPUs set not ready',
    });
    await waitFor(() => cvm.requests.length === 2 || undefined, { timeoutMs: 10_000, description: 'a second round' });
    await waitFor(() => condition(f.store.status('node-a'), 'Attested')?.reason === 'EvidenceRefused' || undefined, {
      description: 'the fresh evidence refused',
    });
  });

  it('activates its GPUs with the grant the Coordinator sends when the Manifest is rolled back', async () => {
    const rounds = cvm.requests.length;
    f.remove('strict');
    await f.coordinator.reappraise(f.store.cache.list());
    await waitFor(() => condition(f.store.status('node-a'), 'GPUsActivated')?.status === 'True' || undefined, {
      timeoutMs: 5000,
      description: 'activated again',
    });
    assert.equal(cvm.requests.length, rounds, 'activated on the retained evidence, before any new round');
    assert.equal(readyCalls().at(-1), 'nvmlSystemSetConfComputeGpusReadyState 1');
    await waitFor(() => cvm.requests.length > rounds || undefined, {
      timeoutMs: 10_000,
      description: 'and it attests again within the window',
    });
  });
});
