// The Coordinator's identity without a cluster: its own simulated CVM evidence appraised against
// the Manifest's coordinator entries, POST /v1/coordinator/attest on the real HTTPS server, and
// the client's check (verifyCoordinator) of what it serves: the pinned hash, the history, the
// CAs, simulated evidence only with the simulated roots, the admin-trusted model only on request.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SimulatedCvmSource,
} from '../../../src/agent/evidence/simulated.ts';
import type { ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { CoordinatorUnreachable } from '../../../src/client/coordinator-fetch.ts';
import { readSimulatedRoots, simulatedRootsFile } from '../../../src/client/simulated-roots.ts';
import { verifyCoordinator } from '../../../src/client/verify-coordinator.ts';
import { CoordinatorIdentity } from '../../../src/coordinator/identity.ts';
import { type CoordinatorServer, startCoordinatorServer } from '../../../src/coordinator/server.ts';
import { simulatedCollateral, simulatedCoordinatorEvidence } from '../../../src/dev/local-coordinator.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { createCertificateAuthority, issueCertificate } from '../../../src/tls/certificates.ts';
import { createFixture, type Fixture, manifestSpec, simulatedAgent, submit } from './fixture.ts';

const run = promisify(execFile);

/** The fixture's Manifest with its CVM entries for pod VMs and one for the Coordinator. */
function coordinatorSpec(change: { coordinatorMeasurement?: string; role?: 'node' | 'pod' } = {}): ManifestSpec {
  const spec = manifestSpec();
  for (const e of [...spec.referenceValues.snp!, ...spec.referenceValues.tdx!]) e.role = change.role ?? 'pod';
  spec.referenceValues.snp!.push({
    name: 'coordinator',
    role: 'coordinator',
    measurements: [change.coordinatorMeasurement ?? SIMULATED_COORDINATOR_MEASUREMENT],
    minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
    products: ['Genoa'],
  });
  spec.policies.push({ name: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH, role: 'coordinator' });
  return spec;
}

describe('the Coordinator identity', function () {
  this.timeout(60_000);
  let f: Fixture;
  let identity: CoordinatorIdentity;
  let server: CoordinatorServer;
  let url: string;
  let dir: string;
  let roots: ReturnType<typeof readSimulatedRoots>;
  let tls: { cert: string; key: string };

  before(async () => {
    f = await createFixture();
    f.activate('identity-1', coordinatorSpec());
    identity = await CoordinatorIdentity.create({
      manifests: f.manifests,
      evidence: simulatedCoordinatorEvidence(f.platform),
      trust: { production: {}, simulated: f.platform.trust, simulatedCollateral: simulatedCollateral(f.platform) },
      log: silentLogger,
    });
    await identity.settle();
    const ca = await createCertificateAuthority('test');
    const serving = await issueCertificate(ca, { commonName: 'c', usage: 'server', ipAddresses: ['127.0.0.1'] });
    tls = { cert: serving.certificatePem, key: serving.privateKeyPem };
    server = await startCoordinatorServer({
      host: '127.0.0.1',
      port: 0,
      tls,
      authenticator: { authenticate: async () => ({ ok: false, status: 401, reason: 'no agents here' }) },
      coordinator: () => f.coordinator,
      identity: () => identity,
      log: silentLogger,
    });
    url = `https://127.0.0.1:${server.port}`;
    dir = await mkdtemp(join(tmpdir(), 'coordinator-identity-'));
    const p = f.platform;
    roots = readSimulatedRoots(
      simulatedRootsFile({
        snp: [p.snp.rootSet],
        tdx: p.tdx.roots,
        ...(p.collateral.tdx ? { tdxCollateral: p.collateral.tdx } : {}),
      }),
    );
  });
  after(async () => {
    await server?.close();
    f?.coordinator.close();
    await rm(dir, { recursive: true, force: true });
  });

  const pinned = () => manifestHash(coordinatorSpec());

  it('claims its identity only after its own simulated evidence met the coordinator entries', () => {
    assert.deepEqual(identity.standing, {
      state: 'accepted',
      simulated: true,
      policyHash: SIMULATED_COORDINATOR_POLICY_HASH,
    });
    assert.equal(identity.history.length, 1);
    assert.equal(identity.history[0]!.manifestHash, pinned(), 'its own hash of the spec, not status.hash');
  });

  it('verifies against the pinned hash with the simulated roots: the mesh CA, the root CA and the history', async () => {
    const r = await verifyCoordinator({ coordinator: url, manifestHash: pinned(), simulatedRoots: roots });
    assert.deepEqual(r.reasons, []);
    assert.equal(r.verified, true);
    assert.equal(r.simulated, true);
    assert.equal(r.meshCA, identity.meshCa!.pem);
    assert.equal(r.rootCA, identity.rootCa.pem);
    assert.deepEqual(r.history, identity.history);
    assert.equal(r.cvm?.policyHash, SIMULATED_COORDINATOR_POLICY_HASH);
  });

  it('is reached by curl without a token and without trusting its certificate', async () => {
    const { stdout } = await run('curl', [
      '-sS',
      '-k',
      '-X',
      'POST',
      '-H',
      'content-type: application/json',
      '--data',
      JSON.stringify({ nonce: '01'.repeat(32) }),
      `${url}/v1/coordinator/attest`,
    ]);
    const body = JSON.parse(stdout);
    assert.equal(body.manifestHash, pinned());
    assert.equal(body.evidence.platform, 'snp');
    assert.match(body.meshCA, /BEGIN CERTIFICATE/);
  });

  it('refuses simulated evidence without the simulated roots, and another Manifest naming both hashes', async () => {
    const plain = await verifyCoordinator({ coordinator: url, manifestHash: pinned() });
    assert.equal(plain.verified, false);
    assert.ok(plain.reasons.some((r) => r.check === 'coordinator.simulated-roots'));
    const wrong = await verifyCoordinator({ coordinator: url, manifestHash: '00'.repeat(32), simulatedRoots: roots });
    assert.equal(wrong.verified, false);
    const named = wrong.reasons.find((r) => r.check === 'coordinator.manifest-hash');
    assert.ok(named);
    assert.ok(named.message.includes(pinned()) && named.message.includes('00'.repeat(32)), named.message);
  });

  it('answers 429 beyond the rate of one client address, and 400 to a request without a nonce', async () => {
    const limited = await startCoordinatorServer({
      host: '127.0.0.1',
      port: 0,
      tls,
      authenticator: { authenticate: async () => ({ ok: false, status: 401, reason: 'no' }) },
      coordinator: () => f.coordinator,
      identity: () => identity,
      clientAttestRate: { burst: 1, intervalMs: 60_000 },
      log: silentLogger,
    });
    try {
      const post = (body: string) =>
        run('curl', [
          '-sS',
          '-k',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-X',
          'POST',
          '-H',
          'content-type: application/json',
          '--data',
          body,
          `https://127.0.0.1:${limited.port}/v1/coordinator/attest`,
        ]).then((r) => r.stdout);
      assert.equal(await post('{}'), '400');
      assert.equal(await post(JSON.stringify({ nonce: '01'.repeat(32) })), '429');
    } finally {
      await limited.close();
    }
  });

  it('replaces the mesh CA and extends the chain when the active Manifest changes: a certificate from the old mesh CA no longer chains (openssl)', async () => {
    const oldMesh = identity.meshCa!;
    const leafKeys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const now = new Date();
    const leaf = await oldMesh.issue({
      publicKey: leafKeys.publicKey,
      subject: 'CN=worker',
      dnsNames: ['llama.default.svc'],
      notAfter: new Date(now.getTime() + 3600_000),
      now,
    });
    const files = { root: join(dir, 'root.pem'), old: join(dir, 'old.pem'), leaf: join(dir, 'leaf.pem') };
    await writeFile(files.root, identity.rootCa.pem);
    await writeFile(files.old, oldMesh.pem);
    await writeFile(files.leaf, `${leaf.toString('pem')}\n`);
    const verify = (mesh: string) =>
      run('openssl', ['verify', '-CAfile', files.root, '-untrusted', mesh, files.leaf]).then(
        () => 'ok',
        (e: { stderr?: string }) => String(e.stderr),
      );
    assert.equal(await verify(files.old), 'ok', 'under the Manifest it was issued for');

    const second = coordinatorSpec();
    second.runtimeClasses = ['kata', 'kata-2'];
    f.activate('identity-2', second);
    await identity.settle();
    assert.notEqual(identity.meshCa!.pem, oldMesh.pem);
    assert.equal(identity.history.length, 2);
    const fresh = join(dir, 'new.pem');
    await writeFile(fresh, identity.meshCa!.pem);
    assert.match(await verify(fresh), /unable to get local issuer certificate|certificate signature failure/);

    const newHash = manifestHash(second);
    const strict = await verifyCoordinator({ coordinator: url, manifestHash: newHash, simulatedRoots: roots });
    assert.equal(strict.verified, false);
    assert.match(strict.reasons.find((r) => r.check === 'coordinator.history')!.message, new RegExp(pinned()));
    const withHistory = await verifyCoordinator({
      coordinator: url,
      manifestHash: newHash,
      simulatedRoots: roots,
      allowHistory: true,
    });
    assert.deepEqual(withHistory.reasons, []);
    assert.deepEqual(
      withHistory.history!.map((e) => e.manifestHash),
      [pinned(), newHash],
    );
  });

  it('refuses a pinned Manifest that enables the confidential-node model unless the caller allows it', async () => {
    const spec = coordinatorSpec({ role: 'node' });
    f.activate('identity-node-model', spec);
    await identity.settle();
    const options = { coordinator: url, manifestHash: manifestHash(spec), simulatedRoots: roots, allowHistory: true };
    const refused = await verifyCoordinator(options);
    assert.deepEqual(
      refused.reasons.map((r) => r.check),
      ['coordinator.admin-trusted'],
    );
    assert.match(refused.reasons[0]!.message, /spec\.referenceValues\.snp\[0\].*trusts the cluster admin/);
    assert.equal((await verifyCoordinator({ ...options, allowAdminTrusted: true })).verified, true);
  });

  it('claims no identity (503, saying why) when its own evidence does not meet the coordinator entries', async () => {
    f.activate('identity-other-coordinator', coordinatorSpec({ coordinatorMeasurement: 'c1'.repeat(48) }));
    await identity.settle();
    assert.equal(identity.standing?.state, 'refused');
    await assert.rejects(
      verifyCoordinator({ coordinator: url, manifestHash: pinned(), simulatedRoots: roots }),
      (err: Error) =>
        err instanceof CoordinatorUnreachable &&
        /HTTP 503: the Coordinator's own CVM evidence does not meet Manifest [0-9a-f]{64}.*snp\.measurement/.test(
          err.message,
        ),
    );
  });

  it('with no evidence source answers 503 naming the flag, and keeps its keys out of reach', async () => {
    const none = await CoordinatorIdentity.create({
      manifests: f.manifests,
      evidence: { none: 'started with --coordinator-evidence none' },
      trust: { production: {} },
      log: silentLogger,
    });
    await none.settle();
    await assert.rejects(none.attest(new Uint8Array(32)), /503|--coordinator-evidence none/);
    await assert.rejects(
      webcrypto.subtle.exportKey('pkcs8', CertificateAuthority.privateKeyForTests(none.rootCa)),
      /not extractable/,
    );
  });

  it("appraises node evidence against node entries only: a pod or Coordinator entry's measurement, or the Coordinator's own policy, does not attest a node", async () => {
    f.addNode('role-node', 2);
    // The node CVM's measurement only in a pod entry: refused, though the entry would match.
    f.activate('roles-pod-only', coordinatorSpec({ role: 'pod' }));
    const node = await simulatedAgent(f, 'role-node');
    const podOnly = (await submit(f, node)).answer;
    assert.equal(podOnly.accepted, false);
    assert.ok(!podOnly.accepted && podOnly.reasons.some((r) => /node\.cvm\.reference-values/.test(r)), String(podOnly));
    // In the node role it attests.
    f.activate('roles-node', coordinatorSpec({ role: 'node' }));
    assert.equal((await submit(f, await simulatedAgent(f, 'role-node'))).answer.accepted, true);
    // The Coordinator's own pod VM presented by an agent: its measurement and policy are not a node's.
    const impostor = await simulatedAgent(f, 'role-node', {
      cvm: new SimulatedCvmSource(f.platform, {
        platform: 'snp',
        measurement: SIMULATED_COORDINATOR_MEASUREMENT,
        policyHash: SIMULATED_COORDINATOR_POLICY_HASH,
      }),
    });
    const refused = (await submit(f, impostor)).answer;
    assert.equal(refused.accepted, false);
    assert.ok(!refused.accepted && refused.reasons.some((r) => /snp\.measurement/.test(r)), JSON.stringify(refused));
    assert.ok(!refused.accepted && refused.reasons.some((r) => /snp\.host-data/.test(r)), JSON.stringify(refused));
  });
});
