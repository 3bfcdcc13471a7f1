// The Coordinator's transition chain moves only through steps the Manifest's owners allow, from
// the Manifest the chain ends at: what the cluster shows as active (status, which the cluster
// admin can write) decides only the first entry of a new chain.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { Condition } from '../../../src/api/common.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { type OwnerKey, ownerKeyOf, SIGNATURE_ANNOTATION, signSuccessor } from '../../../src/api/manifest-signature.ts';
import { successionSteps } from '../../../src/coordinator/succession.ts';

const alice = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const mallory = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

function manifest(name: string, created: string, byte: string, owners?: OwnerKey[], activeInStatus = false): Manifest {
  const spec: ManifestSpec = {
    runtimeClasses: ['kata'],
    policies: [{ name: 'p', hash: 'aa'.repeat(32) }],
    referenceValues: {
      snp: [{ measurements: [byte.repeat(48)], minimumTCB: { bootloader: 1, tee: 0, snp: 8, microcode: 115 } }],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
  };
  if (owners) spec.owners = owners;
  const m: Manifest = {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name, creationTimestamp: new Date(created), generation: 1 },
    spec,
  };
  if (activeInStatus) {
    const active: Condition = {
      type: 'Active',
      status: 'True',
      reason: 'Newest',
      message: '',
      lastTransitionTime: created,
    };
    m.status = { conditions: [active], activeSince: created };
  }
  return m;
}

async function signed(m: Manifest, by: typeof alice, replacing: Manifest): Promise<Manifest> {
  const jws = await signSuccessor(by, { hash: manifestHash(m.spec), replaces: manifestHash(replacing.spec) });
  return { ...m, metadata: { ...m.metadata, annotations: { [SIGNATURE_ANNOTATION]: jws } } };
}

const names = (ms: readonly Manifest[]) => ms.map((m) => m.metadata.name);

describe('the Coordinator follows only what the owners allow', () => {
  const owners = [ownerKeyOf(alice, 'alice')];

  it('starts a new chain at the Manifest the cluster shows active', () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', owners, true);
    assert.deepEqual(names(successionSteps(undefined, [a])), ['a']);
    assert.deepEqual(successionSteps(undefined, []), []);
  });

  it('follows a successor an owner signed, and not one that status marks active without a signature', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', owners);
    // The admin writes status: the unsigned Manifest looks active to every other reader.
    const forged = manifest('forged', '2026-02-01T00:00:00Z', '02', undefined, true);
    assert.deepEqual(successionSteps(a, [a, forged]), [], 'the chain stays at a');
    const byMallory = await signed(manifest('m', '2026-02-02T00:00:00Z', '03'), mallory, a);
    assert.deepEqual(successionSteps(a, [a, forged, byMallory]), [], 'a signature by a non-owner does not count');
    const b = await signed(manifest('b', '2026-03-01T00:00:00Z', '04', owners), alice, a);
    assert.deepEqual(names(successionSteps(a, [a, forged, byMallory, b])), ['b']);
  });

  it('walks several signed steps at once, each approved by the owners of the one before', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', owners);
    const b = await signed(manifest('b', '2026-02-01T00:00:00Z', '02', owners), alice, a);
    const c = await signed(manifest('c', '2026-03-01T00:00:00Z', '03', owners), alice, b);
    assert.deepEqual(names(successionSteps(a, [a, b, c])), ['b', 'c']);
  });

  it('follows a roll-back (the head deleted) only to a Manifest signed as replacing the head', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', owners);
    const b = await signed(manifest('b', '2026-02-01T00:00:00Z', '02', owners), alice, a);
    // b deleted: the older a comes back only with a signature over a that names b as replaced.
    assert.deepEqual(successionSteps(b, [a]), []);
    const aAgain = await signed(a, alice, b);
    assert.deepEqual(names(successionSteps(b, [aAgain])), ['a']);
  });

  it('without owners follows the newest valid Manifest, as before owners existed', () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01');
    const b = manifest('b', '2026-02-01T00:00:00Z', '02');
    assert.deepEqual(names(successionSteps(a, [a, b])), ['b']);
    assert.deepEqual(successionSteps(b, [a, b]), []);
    assert.deepEqual(names(successionSteps(b, [a])), ['a'], 'deleting it rolls back');
  });

  it('never follows anything after an immutable Manifest (owners: [])', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', []);
    const b = await signed(manifest('b', '2026-02-01T00:00:00Z', '02'), alice, a);
    assert.deepEqual(successionSteps(a, [a, b]), []);
  });
});
