// Who may change the Manifest, on the real control plane: a Manifest that lists owners is replaced
// only by a successor one of them signed (`attestor manifest sign`, kubectl annotate), rolled back
// only with such a signature, and an empty owner list makes it immutable. Users' tools throughout:
// kubectl applies, annotates and deletes; the attestor command computes hashes and signs.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import type { Manifest, ManifestSpec } from '../../src/api/manifest.ts';
import { manifestHash } from '../../src/api/manifest-hash.ts';
import { OWNERS_FINALIZER } from '../../src/api/manifest-owners.ts';
import { type OwnerKey, SIGNATURE_ANNOTATION } from '../../src/api/manifest-signature.ts';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { apiError, sharedControlPlane, startTestOperator, uniqueName } from '../harness/cluster.ts';

const group = { group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' };
type Key = 'alice' | 'bob' | 'mallory';

/** A valid spec with every defaulted field left out, as users write it. */
function spec(byte: string, owners?: OwnerKey[]): ManifestSpec {
  const s: ManifestSpec = {
    referenceValues: {
      snp: [{ measurements: [byte.repeat(48)], minimumTCB: { bootloader: 3, tee: 0, snp: 8, microcode: 115 } }],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [{ name: 'p', hash: '0f'.repeat(32) }],
    runtimeClasses: ['kata'],
  };
  if (owners) s.owners = owners;
  return s;
}

describe('Manifest owners: only a successor an owner signed becomes active', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let custom: k8s.CustomObjectsApi;
  let core: k8s.CoreV1Api;
  let operator: RunningOperator;
  const dir = mkdtempSync(join(tmpdir(), 'manifest-owners-'));
  const owners = {} as Record<Key, OwnerKey>;
  let created: string[] = [];
  let lastCreated = 0;

  const kubectl = (args: string[], input?: string) =>
    execFileSync(join(cp.binDir, 'kubectl'), ['--kubeconfig', cp.kubeconfigPath, ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  const attestor = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, `attestor ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const file = (name: string) => join(dir, `${name}.yaml`);
  const get = async (name: string) => (await custom.getClusterCustomObject({ ...group, name })) as Manifest;
  const active = (m: Manifest) => m.status?.conditions?.find((c) => c.type === 'Active');

  /** Writes the Manifest file and applies it with kubectl, in a later second than the one before (creationTimestamp orders them). */
  async function apply(prefix: string, byte: string, manifestOwners?: OwnerKey[], extra: object = {}): Promise<string> {
    const name = uniqueName(prefix);
    const body = { ...spec(byte, manifestOwners), ...extra };
    writeFileSync(
      file(name),
      yaml.dump({ apiVersion: 'attestor.dev/v1alpha1', kind: 'Manifest', metadata: { name }, spec: body }),
    );
    await waitFor(() => Date.now() >= lastCreated + 1000 || undefined, { timeoutMs: 3000 });
    kubectl(['apply', '-f', file(name)]);
    created.push(name);
    lastCreated = new Date((await get(name)).metadata.creationTimestamp!).getTime();
    return name;
  }
  /** `attestor manifest sign`: `signer` approves `successor` replacing `replaced`. */
  const sign = (signer: Key, successor: string, replaced: string) =>
    attestor(
      'manifest',
      'sign',
      '--key',
      join(dir, `${signer}.pem`),
      '--manifest',
      file(successor),
      '--replaces',
      file(replaced),
    );
  const annotate = (name: string, ...signatures: string[]) =>
    kubectl(['annotate', '--overwrite', 'manifest', name, `${SIGNATURE_ANNOTATION}=${signatures.join('\n')}`]);
  const waitActive = (name: string, reason: string) =>
    waitFor(
      async () => {
        const m = await get(name);
        return active(m)?.status === 'True' && active(m)?.reason === reason ? m : undefined;
      },
      { description: `${name} active (${reason})` },
    );
  const waitInactive = (name: string, reason: string, message: RegExp = /./) =>
    waitFor(
      async () => {
        const m = await get(name);
        const c = active(m);
        return c?.status === 'False' && c.reason === reason && message.test(c.message) ? m : undefined;
      },
      { description: `${name} inactive (${reason}, ${message})` },
    );
  const events = async (name: string) =>
    (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${name}` })).items;

  before(async () => {
    cp = await sharedControlPlane();
    custom = cp.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    core = cp.kubeConfig().makeApiClient(k8s.CoreV1Api);
    // Owner keys as users make them: openssl, PEM. Two curves: alice P-256, bob Ed25519.
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'alice.pem')]);
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(dir, 'bob.pem')]);
    const mallory = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writeFileSync(join(dir, 'mallory.pem'), mallory.export({ format: 'pem', type: 'pkcs8' }));
    for (const name of ['alice', 'bob', 'mallory'] as const)
      owners[name] = JSON.parse(attestor('manifest', 'owner', '--key', join(dir, `${name}.pem`), '--name', name));
    operator = await startTestOperator(cp.kubeConfig());
  });
  afterEach(async () => {
    // Leave no current Manifest with owners behind: the next test starts from "newest valid wins".
    // Deleted first: a Manifest being deleted gets no new finalizer, so stripping ours then lets it go.
    for (const name of created) {
      await custom.deleteClusterCustomObject({ ...group, name }).catch(() => undefined);
      await custom
        .patchClusterCustomObject(
          { ...group, name, body: { metadata: { finalizers: null } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        )
        .catch(() => undefined);
    }
    const names = created;
    created = [];
    await waitFor(async () => {
      for (const name of names) if (await get(name).catch(() => undefined)) return false;
      return true;
    });
  });
  after(async () => {
    await operator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('attestor manifest hash gives the status.hash of the applied Manifest, with the fields left to their defaults', async () => {
    // attestation and development are there, their fields are not: the API server fills them in.
    const name = await apply('hash', '11', undefined, { attestation: {}, development: {} });
    const m = await waitFor(
      async () => {
        const stored = await get(name);
        return stored.status?.hash ? stored : undefined;
      },
      { description: 'status.hash' },
    );
    assert.equal(attestor('manifest', 'hash', '--manifest', file(name)), m.status!.hash);
    assert.equal(m.status!.hash, manifestHash(m.spec), 'the hash of the spec as stored');
    assert.deepEqual(m.spec.attestation, { evidenceMaxAge: '5m', reattestationInterval: '1h' });
    assert.deepEqual(m.spec.development, { acceptSimulatedEvidence: false });
    const asWritten = { ...spec('11'), attestation: {}, development: {} };
    assert.notEqual(m.status!.hash, manifestHash(asWritten), 'a hash of the file as written would differ');
  });

  it('a Manifest without owners is replaced by any newer valid one, as before', async () => {
    const a = await apply('plain-a', '12');
    await waitActive(a, 'Newest');
    const b = await apply('plain-b', '13');
    await waitActive(b, 'Newest');
    await waitInactive(a, 'Superseded');
  });

  it('a successor without an owner signature never becomes active: NotSignedByOwner, a Warning Event, kubectl get shows it', async () => {
    const a = await apply('owned', '21', [owners.alice]);
    await waitActive(a, 'Newest');
    const b = await apply('unsigned', '22');
    const refused = await waitInactive(b, 'NotSignedByOwner', /not signed/);
    assert.match(active(refused)!.message, new RegExp(`Manifest ${a} lists owners.*alice \\(kid `));
    assert.equal(active(await get(a))!.status, 'True', 'the owned Manifest stays active');
    assert.ok((await get(a)).metadata.finalizers?.includes(OWNERS_FINALIZER), 'held while current');
    const warning = await waitFor(async () => (await events(b)).find((e) => e.reason === 'NotSignedByOwner'));
    assert.equal(warning.type, 'Warning');
    assert.match(kubectl(['get', 'manifest', b]), /NotSignedByOwner/);
  });

  it('signatures by a non-owner or over another hash do not count; one by an owner does, and the signer is named', async () => {
    const a = await apply('owned', '31', [owners.alice]);
    await waitActive(a, 'Newest');
    const other = await apply('other', '33');
    const b = await apply('successor', '32'); // newer than other: once b is active, other is older and stays out
    await waitInactive(b, 'NotSignedByOwner');
    annotate(b, sign('mallory', b, a), sign('alice', other, a));
    const refused = await waitInactive(b, 'NotSignedByOwner', /\[1\]/);
    assert.match(active(refused)!.message, /\[0\]: no owner key verifies it/);
    assert.match(active(refused)!.message, /\[1\]: the key of owner alice .* does not verify it over hash/);
    assert.equal(active(await get(a))!.status, 'True');

    annotate(b, sign('mallory', b, a), sign('alice', b, a));
    const signed = await waitActive(b, 'SignedByOwner');
    assert.match(active(signed)!.message, new RegExp(`signed by alice \\(kid .*\\), an owner of Manifest ${a}`));
    await waitInactive(a, 'Superseded');
    await waitFor(async () => !(await get(a)).metadata.finalizers?.includes(OWNERS_FINALIZER), {
      description: 'the finalizer released once replaced',
    });
  });

  it('rotating owner keys: a successor lists new owners, and the old owners sign it', async () => {
    const a = await apply('rotate-a', '41', [owners.alice]);
    await waitActive(a, 'Newest');
    const b = await apply('rotate-b', '42', [owners.bob]);
    annotate(b, sign('alice', b, a));
    await waitActive(b, 'SignedByOwner');
    const c = await apply('rotate-c', '43');
    annotate(c, sign('alice', c, b));
    await waitInactive(c, 'NotSignedByOwner', /signed with ES256 \(kid [\w-]+\), which no owner key uses/);
    annotate(c, sign('bob', c, b));
    await waitActive(c, 'SignedByOwner');
  });

  it('an empty owner list makes the Manifest immutable: no successor, and deleting it changes nothing', async () => {
    const a = await apply('immutable', '51', []);
    await waitActive(a, 'Newest');
    const b = await apply('after-immutable', '52');
    annotate(b, sign('alice', b, a));
    await waitInactive(b, 'NotSignedByOwner', /lists no owners: it is immutable/);
    kubectl(['delete', 'manifest', a, '--wait=false']);
    const held = await waitActive(a, 'AwaitingSignedSuccessor');
    assert.ok(held.metadata.deletionTimestamp, 'deleted, but held by the finalizer');
    assert.equal(active(await get(b))!.status, 'False');
  });

  it('a roll-back (deleting the active Manifest) needs a signature by its owner naming it as replaced', async () => {
    const old = await apply('rollback-old', '61');
    await waitActive(old, 'Newest');
    const a = await apply('rollback-owned', '62', [owners.alice]);
    await waitActive(a, 'Newest');
    await waitInactive(old, 'Superseded');

    kubectl(['delete', 'manifest', a, '--wait=false']);
    await waitActive(a, 'AwaitingSignedSuccessor');
    await waitInactive(old, 'NotSignedByOwner', /not signed/);
    const warning = await waitFor(async () => (await events(a)).find((e) => e.reason === 'AwaitingSignedSuccessor'));
    assert.equal(warning.type, 'Warning');

    annotate(old, sign('alice', old, a));
    await waitActive(old, 'SignedByOwner');
    await waitFor(async () => (await get(a).catch(() => undefined)) === undefined, {
      description: 'the rolled-back Manifest gone once replaced',
    });
  });

  it('the API server refuses to change the spec of a Manifest that lists owners in place', async () => {
    const a = await apply('immutable-spec', '71', [owners.alice]);
    const err = await custom
      .patchClusterCustomObject(
        { ...group, name: a, body: { spec: { runtimeClasses: ['other'] } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      )
      .then(
        () => assert.fail('an owned spec was changed'),
        (e) => apiError(e),
      );
    assert.equal(err.code, 422);
    assert.match(err.message, /lists owners cannot be changed/);
  });

  it('an operator restart keeps the owned Manifest current: the record is in status', async () => {
    const a = await apply('restart-owned', '81', [owners.alice]);
    await waitActive(a, 'Newest');
    const b = await apply('restart-unsigned', '82');
    await waitInactive(b, 'NotSignedByOwner', /not signed/);
    await operator.stop();
    operator = await startTestOperator(cp.kubeConfig());
    // Something the new operator must judge: its verdict shows it started from the recorded current.
    annotate(b, sign('mallory', b, a));
    await waitInactive(b, 'NotSignedByOwner', /no owner key verifies it/);
    assert.equal(active(await get(a))!.status, 'True');
  });
});
