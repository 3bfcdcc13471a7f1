// `attestor proxy` as a user runs it, against a Coordinator with simulated evidence on loopback (its
// real HTTPS server and identity), a secret service and a worker proxy holding certificates of that
// Coordinator's mesh CA, and the embedded model server: with the wrong pinned hash it exits 1
// naming the mismatch; with the right one it prints its URL and the official openai client gets
// an answer through it. The secret service is the real one (a real etcd on loopback), and the
// worker proxy gets the secret from it over mTLS with its workload certificate.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import {
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
} from '../../../src/agent/evidence/simulated.ts';
import type { ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { simulatedRootsFile } from '../../../src/client/simulated-roots.ts';
import { CoordinatorIdentity } from '../../../src/coordinator/identity.ts';
import { type CoordinatorServer, startCoordinatorServer } from '../../../src/coordinator/server.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';
import { simulatedCollateral, simulatedCoordinatorEvidence } from '../../../src/dev/local-coordinator.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { type ModelServer, startModelServer } from '../../../src/model-server/server.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { createCertificateAuthority, issueCertificate } from '../../../src/tls/certificates.ts';
import { startWorkerProxy, type WorkerProxy } from '../../../src/worker/worker-proxy.ts';
import { createFixture, type Fixture, manifestSpec } from '../coordinator/fixture.ts';
import { SERVICE_POLICY, WORKER_POLICY, workerVolume } from '../proxy/chain-fixture.ts';
import { type RealSecretService, startRealSecretService } from '../proxy/real-secret-service.ts';

const MARKER = `marker-${Math.random().toString(36).slice(2)}`;

/** The fixture's Manifest with a Coordinator entry, a worker policy and a secret-service policy. */
function spec(): ManifestSpec {
  const s = manifestSpec();
  for (const e of [...s.referenceValues.snp!, ...s.referenceValues.tdx!]) e.role = 'pod';
  s.referenceValues.snp!.push({
    name: 'coordinator',
    role: 'coordinator',
    measurements: [SIMULATED_COORDINATOR_MEASUREMENT],
    minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
    products: ['Genoa'],
  });
  s.policies.push(
    { name: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH, role: 'coordinator' },
    { name: 'llama', hash: WORKER_POLICY },
    { name: 'secret-service', hash: SERVICE_POLICY, role: 'secret-service' },
  );
  return s;
}

describe('attestor proxy', function () {
  this.timeout(120_000);
  let f: Fixture;
  let coordinator: CoordinatorServer;
  let url: string;
  let dir: string;
  let rootsFile: string;
  let model: ModelServer;
  let volume: Awaited<ReturnType<typeof workerVolume>>;
  let worker: WorkerProxy;
  let secrets: RealSecretService;
  let secretsUrl: string;
  const children: ChildProcess[] = [];

  before(async () => {
    f = await createFixture();
    f.activate('proxied', spec());
    const identity = await CoordinatorIdentity.create({
      manifests: f.manifests,
      evidence: simulatedCoordinatorEvidence(f.platform),
      trust: { production: {}, simulated: f.platform.trust, simulatedCollateral: simulatedCollateral(f.platform) },
      log: silentLogger,
    });
    await identity.settle();
    const ca = await createCertificateAuthority('test');
    const serving = await issueCertificate(ca, { commonName: 'c', usage: 'server', ipAddresses: ['127.0.0.1'] });
    coordinator = await startCoordinatorServer({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: serving.certificatePem, key: serving.privateKeyPem },
      authenticator: { authenticate: async () => ({ ok: false, status: 401, reason: 'no agents here' }) },
      coordinator: () => f.coordinator,
      identity: () => identity,
      log: silentLogger,
    });
    url = `https://127.0.0.1:${coordinator.port}`;
    dir = await mkdtemp(join(tmpdir(), 'attestor-proxy-'));
    rootsFile = join(dir, 'simulated-roots.json');
    const p = f.platform;
    await writeFile(
      rootsFile,
      simulatedRootsFile({
        snp: [p.snp.rootSet],
        tdx: p.tdx.roots,
        ...(p.collateral.tdx ? { tdxCollateral: p.collateral.tdx } : {}),
      }),
    );
    const mesh = identity.meshCa!;
    secrets = await startRealSecretService(mesh);
    secretsUrl = secrets.url;
    model = await startModelServer({ host: '127.0.0.1' });
    volume = await workerVolume(mesh);
    worker = await startWorkerProxy({
      host: '127.0.0.1',
      certificateDir: volume.dir,
      upstream: model.url.replace(/\/v1$/, ''),
      secrets: await secrets.releasedTo(volume.dir),
    });
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await worker?.close();
    await model?.close();
    await volume?.remove();
    await secrets?.close();
    await coordinator?.close();
    f?.coordinator.close();
    await rm(dir, { recursive: true, force: true });
  });

  function proxy(hash: string) {
    const child = spawn(
      process.execPath,
      [
        join(projectRoot, 'src/cli/main.ts'),
        'proxy',
        '--listen',
        '127.0.0.1:0',
        '--coordinator',
        url,
        '--manifest-hash',
        hash,
        '--simulated-roots',
        rootsFile,
        '--endpoint',
        worker.url,
        '--secret-service',
        secretsUrl,
      ],
      { cwd: projectRoot },
    );
    children.push(child);
    const output = { out: '', err: '' };
    child.stdout.on('data', (d: Buffer) => {
      output.out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output.err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, output, exited };
  }

  it('exits 1 naming the mismatch when the Coordinator runs another Manifest than the pinned one', async () => {
    const wrong = 'ab'.repeat(32);
    const run = proxy(wrong);
    assert.equal(await run.exited, 1, run.output.err);
    assert.match(run.output.err, /does not pass verification/);
    assert.match(run.output.err, /coordinator\.manifest-hash/);
    assert.ok(run.output.err.includes(wrong) && run.output.err.includes(manifestHash(spec())), run.output.err);
    assert.doesNotMatch(run.output.out, /proxy: /);
  });

  it('verifies the Coordinator, prints its URL, and answers the official openai client through the chain', async () => {
    const run = proxy(manifestHash(spec()));
    const base = await waitFor(() => /proxy: (\S+)/.exec(run.output.out)?.[1], {
      timeoutMs: 60_000,
      description: "the proxy's URL on its standard output",
    });
    const client = new OpenAI({ baseURL: base, apiKey: 'unused', maxRetries: 0 });
    const answer = await client.chat.completions.create({
      model: 'attestor-echo',
      messages: [{ role: 'user', content: `Through the CLI ${MARKER}` }],
    });
    assert.match(answer.choices[0]!.message.content ?? '', new RegExp(MARKER));
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0, run.output.err);
  });
});
