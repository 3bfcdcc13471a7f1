// Which peer replica may share the Coordinator's keys: one whose HOST_DATA / MRCONFIGID carries
// the same policy; another policy only under a Manifest that lists both as coordinator policies
// and that an owner of the Manifest before it signed (an operator upgrade), never merely because
// the cluster admin applied a Manifest that lists it.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { ownerKeyOf, SIGNATURE_ANNOTATION, signSuccessor } from '../../../src/api/manifest-signature.ts';
import { peerPolicyReasons } from '../../../src/coordinator/peer-policy.ts';

const OLD = '01'.repeat(32);
const NEW = '02'.repeat(32);
const alice = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const mallory = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

function manifest(name: string, coordinatorPolicies: string[], owners = true): Manifest {
  const spec: ManifestSpec = {
    runtimeClasses: ['kata'],
    policies: [
      { name: 'worker', hash: '0f'.repeat(32) },
      ...coordinatorPolicies.map((hash, i) => ({ name: `coordinator-${i}`, hash, role: 'coordinator' as const })),
    ],
    referenceValues: {
      snp: [
        {
          measurements: ['c0'.repeat(48)],
          minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
          role: 'coordinator',
        },
      ],
    },
  };
  if (owners) spec.owners = [ownerKeyOf(alice, 'alice')];
  return { apiVersion: 'attestor.dev/v1alpha1', kind: 'Manifest', metadata: { name }, spec };
}

async function signed(m: Manifest, by: typeof alice, replacing: Manifest): Promise<Manifest> {
  const jws = await signSuccessor(by, { hash: manifestHash(m.spec), replaces: manifestHash(replacing.spec) });
  return { ...m, metadata: { ...m.metadata, annotations: { [SIGNATURE_ANNOTATION]: jws } } };
}

const checks = (reasons: ReturnType<typeof peerPolicyReasons>) => reasons.map((r) => r.check);

describe('peer policy: which replica shares the keys', () => {
  const v1 = manifest('v1', [OLD]);

  it('allows a peer with the same policy, whatever else the Manifest lists', () => {
    assert.deepEqual(peerPolicyReasons({ own: OLD, peer: OLD, manifest: v1, predecessor: undefined }), []);
  });

  it('refuses another policy that the admin listed in a Manifest no owner signed, naming both policies', () => {
    const listed = manifest('admin', [OLD, NEW], false);
    const reasons = peerPolicyReasons({ own: OLD, peer: NEW, manifest: listed, predecessor: undefined });
    assert.deepEqual(checks(reasons), ['coordinator.peer.policy']);
    assert.match(reasons[0]!.message, new RegExp(`policy ${NEW}.*own carries ${OLD}`));
    assert.match(reasons[0]!.message, /was not signed by an owner/);
    // A successor of a Manifest without owners needs no signature, so it approves nothing either.
    const after = peerPolicyReasons({
      own: OLD,
      peer: NEW,
      manifest: listed,
      predecessor: manifest('v0', [OLD], false),
    });
    assert.deepEqual(checks(after), ['coordinator.peer.policy']);
  });

  it('allows the other policy under an owner-signed Manifest that lists both (an upgrade), in both directions', async () => {
    const upgrade = await signed(manifest('v2', [OLD, NEW]), alice, v1);
    assert.deepEqual(peerPolicyReasons({ own: OLD, peer: NEW, manifest: upgrade, predecessor: v1 }), []);
    assert.deepEqual(peerPolicyReasons({ own: NEW, peer: OLD, manifest: upgrade, predecessor: v1 }), []);
  });

  it('refuses it when the signature is not an owner’s, or the signed Manifest does not list both', async () => {
    const byMallory = await signed(manifest('v2', [OLD, NEW]), mallory, v1);
    assert.deepEqual(checks(peerPolicyReasons({ own: OLD, peer: NEW, manifest: byMallory, predecessor: v1 })), [
      'coordinator.peer.policy',
    ]);
    const onlyNew = await signed(manifest('v3', [NEW]), alice, v1);
    const reasons = peerPolicyReasons({ own: OLD, peer: NEW, manifest: onlyNew, predecessor: v1 });
    assert.match(reasons[0]!.message, new RegExp(`does not list ${OLD} as a coordinator policy`));
  });

  it('refuses evidence without a policy hash', () => {
    assert.deepEqual(checks(peerPolicyReasons({ own: OLD, peer: undefined, manifest: v1, predecessor: undefined })), [
      'coordinator.peer.policy',
    ]);
  });
});
