// The Coordinator's identity on the real control plane, checked as a client checks it: the
// `attestor verify coordinator` command against a Manifest applied with kubectl (fields left to
// their defaults, so the client's hash of the YAML must agree with the server's status.hash),
// openssl for the CAs it writes, the mesh CA replaced with the active Manifest, and the CA keys
// searched for in every Kubernetes object and every log line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_TDX_MRTD,
} from '../../src/agent/evidence/simulated.ts';
import type { Manifest } from '../../src/api/manifest.ts';
import { pinnedHash } from '../../src/cli/verify/coordinator.ts';
import { simulatedRootsFile } from '../../src/client/simulated-roots.ts';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { createLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { CertificateAuthority } from '../../src/pki/certificate-authority.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { activeManifestHash, sharedControlPlane, startTestOperator, uniqueName } from '../harness/cluster.ts';
import { everyListableObject, secretEncodings } from '../harness/plaintext-search.ts';

const run = promisify(execFile);
const group = { group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' };

/** A strict Manifest as a user writes it: pod and coordinator entries, evidenceMaxAge and the worker role left to their defaults. */
function manifestYaml(name: string, runtimeClass: string): string {
  return `apiVersion: attestor.dev/v1alpha1
kind: Manifest
metadata:
  name: ${name}
spec:
  referenceValues:
    snp:
    - name: coordinator
      role: coordinator
      measurements: ["${SIMULATED_COORDINATOR_MEASUREMENT}"]
      minimumTCB: {bootloader: 3, tee: 0, snp: 8, microcode: 115}
    tdx:
    - role: pod
      mrTd: ["${SIMULATED_TDX_MRTD}"]
    gpu:
      architectures: [HOPPER]
      driverVersions: ["550.90.07"]
      vbiosVersions: ["96.00.9F.00.01"]
  policies:
  - name: worker
    hash: "${'0e'.repeat(32)}"
  - name: coordinator
    role: coordinator
    hash: "${SIMULATED_COORDINATOR_POLICY_HASH}"
  runtimeClasses: [${runtimeClass}]
  attestation:
    reattestationInterval: 1h
  development:
    acceptSimulatedEvidence: true
`;
}

/** Every encoding of a private key's secret a leak could take. */
/** One operator with its own Coordinator identity, the simulated roots file, and Manifest files a and b. */
function identityFixture(label: string) {
  const fx = {
    cp: undefined as unknown as ControlPlane,
    custom: undefined as unknown as k8s.CustomObjectsApi,
    operator: undefined as unknown as RunningOperator,
    url: '',
    dir: mkdtempSync(join(tmpdir(), 'coordinator-identity-')),
    names: [] as string[],
    files: [] as string[],
    rootsFile: '',
    log: '',
  };
  const prefix = uniqueName(label);
  fx.names = [`${prefix}-a`, `${prefix}-b`];
  fx.files = fx.names.map((n) => join(fx.dir, `${n}.yaml`));
  fx.rootsFile = join(fx.dir, 'simulated-roots.json');

  before(async () => {
    fx.cp = await sharedControlPlane();
    fx.custom = fx.cp.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const platform = await createSimulatedPlatform();
    writeFileSync(
      fx.rootsFile,
      simulatedRootsFile({
        snp: [platform.snp.rootSet],
        tdx: platform.tdx.roots,
        ...(platform.collateral.tdx ? { tdxCollateral: platform.collateral.tdx } : {}),
      }),
    );
    for (const [i, n] of fx.names.entries()) writeFileSync(fx.files[i]!, manifestYaml(n, `kata-${i}`));
    const serving = await issueCertificate(fx.cp.certificateAuthority, {
      commonName: 'attestor-coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    // Every line the operator logs, to search for keys.
    const lines = new PassThrough();
    lines.on('data', (chunk) => {
      fx.log += chunk;
    });
    fx.operator = await startTestOperator(fx.cp.kubeConfig(), {
      log: createLogger({ level: 'debug', destination: lines }),
      coordinator: localCoordinatorOptions(serving, platform, 'default'),
    });
    fx.url = `https://127.0.0.1:${await fx.operator.coordinatorPort}`;
    await kubectl('apply', '-f', fx.files[0]!);
  });
  after(async () => {
    await fx.operator?.stop();
    for (const name of fx.names) await fx.custom?.deleteClusterCustomObject({ ...group, name }).catch(() => undefined);
    rmSync(fx.dir, { recursive: true, force: true });
  });

  const kubectl = (...args: string[]) =>
    run(join(fx.cp.binDir, 'kubectl'), ['--kubeconfig', fx.cp.kubeconfigPath, ...args], { maxBuffer: 256 << 20 });
  const attestor = (...args: string[]) =>
    run(
      process.execPath,
      [join(projectRoot, 'src/cli/main.ts'), 'verify', 'coordinator', '--coordinator', fx.url, ...args],
      { cwd: projectRoot },
    ).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? -1,
        out: e.stdout ?? '',
        err: e.stderr ?? '',
      }),
    );
  const activeHash = async (name: string) => activeManifestHash(fx.custom, name, { description: `${name} active` });
  const following = (hash: string) =>
    waitFor(
      () => {
        const identity = fx.operator.identity();
        return identity?.history.at(-1)?.manifestHash === hash && identity.standing?.state === 'accepted';
      },
      { description: `the Coordinator following ${hash} with its own evidence accepted` },
    );
  return { fx, kubectl, attestor, activeHash, following };
}

describe('the Coordinator identity on the control plane', function () {
  this.timeout(120_000);
  const { fx, attestor, activeHash, following } = identityFixture('identity');

  it('computes the Manifest hash of the YAML as applied exactly as the server does (schema defaults included)', async () => {
    const server = await activeHash(fx.names[0]!);
    assert.equal(pinnedHash({ manifest: fx.files[0]! }), server);
    const stored = (await fx.custom.getClusterCustomObject({ ...group, name: fx.names[0]! })) as Manifest;
    assert.equal(stored.spec.attestation?.evidenceMaxAge, '5m', 'the server applied a default the YAML left out');
    assert.equal(stored.spec.policies[0]!.role, undefined, 'roles default in the code, not the schema (D69)');
  });

  it('verifies: attestor verify coordinator --manifest FILE --simulated-roots FILE --json exits 0 with the mesh CA, and --out writes CAs that openssl accepts', async () => {
    await following(await activeHash(fx.names[0]!));
    const out = join(fx.dir, 'out');
    const r = await attestor('--manifest', fx.files[0]!, '--simulated-roots', fx.rootsFile, '--json', '--out', out);
    assert.equal(r.code, 0, r.out + r.err);
    const json = JSON.parse(r.out);
    assert.equal(json.verified, true);
    assert.equal(json.meshCA, fx.operator.identity()!.meshCa!.pem);
    assert.equal(json.rootCA, fx.operator.identity()!.rootCa.pem);
    assert.equal(json.simulated, true);
    assert.equal(json.history.length, 1);
    assert.equal(readFileSync(join(out, 'mesh-ca.pem'), 'utf8'), json.meshCA);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')), json.history);
    const { stdout } = await run('openssl', ['verify', '-CAfile', join(out, 'root-ca.pem'), join(out, 'mesh-ca.pem')]);
    assert.match(stdout, /mesh-ca\.pem: OK/);
  });

  it('refuses the wrong hash naming both, and simulated evidence without --simulated-roots (exit 1); an unreadable Manifest file is exit 2', async () => {
    const served = await activeHash(fx.names[0]!);
    await following(served);
    const wrong = await attestor('--manifest-hash', '0'.repeat(64), '--simulated-roots', fx.rootsFile);
    assert.equal(wrong.code, 1, wrong.out + wrong.err);
    assert.match(wrong.out, new RegExp(`\\[coordinator\\.manifest-hash\\] .*${served}.*${'0'.repeat(64)}`));
    const simulated = await attestor('--manifest', fx.files[0]!);
    assert.equal(simulated.code, 1, simulated.out + simulated.err);
    assert.match(simulated.out, /\[coordinator\.simulated-roots\]/);
    const unusable = await attestor('--manifest', join(fx.dir, 'missing.yaml'));
    assert.equal(unusable.code, 2, unusable.out + unusable.err);
  });
});

describe('the Coordinator identity on the control plane, when the active Manifest changes', function () {
  this.timeout(120_000);
  const { fx, kubectl, attestor, activeHash, following } = identityFixture('identity-change');
  it('replaces the mesh CA when the active Manifest changes: a certificate from the old mesh CA no longer chains, the history lists both, and no CA key (the dropped one included) is in any Kubernetes object or log line', async () => {
    const first = await activeHash(fx.names[0]!);
    await following(first);
    const identity = fx.operator.identity()!;
    const oldMesh = identity.meshCa!;
    const leafKeys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const now = new Date();
    const leaf = await oldMesh.issue({
      publicKey: leafKeys.publicKey,
      subject: 'CN=test-workload',
      notAfter: new Date(now.getTime() + 3_600_000),
      now,
    });
    writeFileSync(join(fx.dir, 'leaf.pem'), `${leaf.toString('pem')}\n`);
    writeFileSync(join(fx.dir, 'root.pem'), identity.rootCa.pem);
    writeFileSync(join(fx.dir, 'old-mesh.pem'), oldMesh.pem);
    const chains = (mesh: string) =>
      run('openssl', [
        'verify',
        '-CAfile',
        join(fx.dir, 'root.pem'),
        '-untrusted',
        mesh,
        join(fx.dir, 'leaf.pem'),
      ]).then(
        () => true,
        () => false,
      );
    assert.equal(await chains(join(fx.dir, 'old-mesh.pem')), true);
    const oldKeys = secretEncodings(CertificateAuthority.privateKeyForTests(oldMesh));

    await kubectl('apply', '-f', fx.files[1]!);
    const second = await activeHash(fx.names[1]!);
    await following(second);
    const newMesh = identity.meshCa!;
    assert.notEqual(newMesh.pem, oldMesh.pem);
    writeFileSync(join(fx.dir, 'new-mesh.pem'), newMesh.pem);
    assert.equal(
      await chains(join(fx.dir, 'new-mesh.pem')),
      false,
      'the old certificate does not chain to the new mesh CA',
    );
    assert.deepEqual(
      identity.history.map((e) => e.manifestHash),
      [first, second],
    );
    const keyId = (file: string) =>
      run('openssl', ['x509', '-noout', '-ext', 'subjectKeyIdentifier', '-in', join(fx.dir, file)]).then(
        (r) => r.stdout,
      );
    assert.notEqual(
      await keyId('new-mesh.pem'),
      await keyId('old-mesh.pem'),
      'a new key, not a new certificate for the old one',
    );

    const strict = await attestor('--manifest', fx.files[1]!, '--simulated-roots', fx.rootsFile);
    assert.equal(strict.code, 1, strict.out);
    assert.match(strict.out, new RegExp(`\\[coordinator\\.history\\] .*${first}`));
    const withHistory = await attestor(
      '--manifest',
      fx.files[1]!,
      '--simulated-roots',
      fx.rootsFile,
      '--allow-history',
      '--json',
    );
    assert.equal(withHistory.code, 0, withHistory.out + withHistory.err);
    assert.deepEqual(
      JSON.parse(withHistory.out).history.map((e: { manifestHash: string }) => e.manifestHash),
      [first, second],
    );

    // No CA key, the dropped one included, in any Kubernetes object or any log line.
    const secrets = [
      ...oldKeys,
      ...secretEncodings(CertificateAuthority.privateKeyForTests(newMesh)),
      ...secretEncodings(CertificateAuthority.privateKeyForTests(identity.rootCa)),
    ];
    const objects = await everyListableObject(fx.cp.kubeconfigPath);
    assert.ok(objects.includes(second), 'the dump holds the Manifests (it is the whole API)');
    assert.ok(fx.log.includes(second), 'the log holds the identity lines');
    for (const secret of secrets) {
      assert.ok(!objects.includes(secret), 'a CA key in a Kubernetes object');
      assert.ok(!fx.log.includes(secret), 'a CA key in the log');
    }
  });
});
