// Who may change the Manifest: owner signatures (a detached JWS naming the replaced Manifest) and
// the active-Manifest rule that respects them, as pure functions.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import {
  manifestSelection,
  manifestStanding,
  nextActiveManifest,
  selectActiveManifest,
} from '../../../src/api/active-manifest.ts';
import type { Condition } from '../../../src/api/common.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { judgeSuccessor, ownersProblems, successorProblems } from '../../../src/api/manifest-owners.ts';
import {
  checkOwnerSignature,
  type OwnerKey,
  ownerKeyOf,
  ownerThumbprint,
  REPLACES_HEADER,
  SIGNATURE_ANNOTATION,
  signSuccessor,
} from '../../../src/api/manifest-signature.ts';
import { validateManifestSpec } from '../../../src/api/manifest-validation.ts';
import { activeCondition } from '../../../src/controllers/manifest/status.ts';

const keys = {
  alice: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
  bob: generateKeyPairSync('ed25519').privateKey,
  carol: generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
  mallory: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
};
const owner = (name: keyof typeof keys): OwnerKey => ownerKeyOf(keys[name], name);

function spec(byte: string, owners?: OwnerKey[]): ManifestSpec {
  const s: ManifestSpec = {
    runtimeClasses: ['kata'],
    policies: [{ name: 'p', hash: 'aa'.repeat(32) }],
    referenceValues: {
      snp: [{ measurements: [byte.repeat(48)], minimumTCB: { bootloader: 1, tee: 0, snp: 8, microcode: 115 } }],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
  };
  if (owners) s.owners = owners;
  return s;
}

interface Options {
  owners?: OwnerKey[];
  signatures?: string[];
  current?: boolean;
  deleting?: boolean;
  activeSince?: string;
}

function manifest(name: string, created: string, byte: string, o: Options = {}): Manifest {
  const m: Manifest = {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name, creationTimestamp: new Date(created), generation: 1 },
    spec: spec(byte, o.owners),
  };
  if (o.signatures) m.metadata.annotations = { [SIGNATURE_ANNOTATION]: o.signatures.join('\n') };
  if (o.deleting) m.metadata.deletionTimestamp = new Date('2026-06-01T00:00:00Z');
  if (o.current) {
    const active: Condition = {
      type: 'Active',
      status: 'True',
      reason: 'Newest',
      message: '',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    };
    m.status = { conditions: [active], activeSince: o.activeSince ?? '2026-01-01T00:00:00Z' };
  }
  return m;
}

/** A signature by `signer` approving `from` -> `to`. */
const sign = (signer: keyof typeof keys, to: Manifest | ManifestSpec, from: Manifest) =>
  signSuccessor(keys[signer], {
    hash: manifestHash('spec' in to ? to.spec : to),
    replaces: manifestHash(from.spec),
  });

const names = (ms: readonly (Manifest | undefined)[]) => ms.map((m) => m?.metadata.name);

describe('owner signatures (detached JWS over the successor hash, naming the replaced one)', () => {
  const hash = 'ab'.repeat(32);
  const replaces = 'cd'.repeat(32);
  const owners = [owner('alice'), owner('bob'), owner('carol')];

  it('signs in compact serialisation with a detached payload, the replaced hash in a critical header, the kid as RFC 7638', async () => {
    const jws = await signSuccessor(keys.alice, { hash, replaces });
    const [header, payload] = jws.split('.');
    assert.equal(payload, '');
    const protectedHeader = JSON.parse(Buffer.from(header!, 'base64url').toString());
    assert.deepEqual(protectedHeader, {
      alg: 'ES256',
      kid: await jose.calculateJwkThumbprint(owner('alice') as jose.JWK),
      crit: [REPLACES_HEADER],
      [REPLACES_HEADER]: replaces,
    });
    // jose, given the detached payload back, verifies it: the signature is standard JWS.
    const attached = jws.replace('..', `.${Buffer.from(hash).toString('base64url')}.`);
    const verified = await jose.compactVerify(attached, createPublicKey(keys.alice), {
      crit: { [REPLACES_HEADER]: true },
    });
    assert.equal(new TextDecoder().decode(verified.payload), hash);
  });

  it('accepts a signature by each kind of owner key: ES256, ES384, EdDSA', async () => {
    for (const name of ['alice', 'bob', 'carol'] as const) {
      const check = checkOwnerSignature(await signSuccessor(keys[name], { hash, replaces }), {
        hash,
        replaces,
        owners,
      });
      assert.deepEqual(check, { owner: owner(name) }, name);
    }
  });

  it('accepts an Ed25519 signature made by openssl, under the fully specified alg name Ed25519 too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'owner-jws-'));
    try {
      writeFileSync(join(dir, 'key.pem'), keys.bob.export({ format: 'pem', type: 'pkcs8' }));
      for (const alg of ['EdDSA', 'Ed25519']) {
        const header = Buffer.from(
          JSON.stringify({ alg, crit: [REPLACES_HEADER], [REPLACES_HEADER]: replaces }),
        ).toString('base64url');
        writeFileSync(join(dir, 'input'), `${header}.${Buffer.from(hash).toString('base64url')}`);
        execFileSync('openssl', [
          'pkeyutl',
          '-sign',
          '-rawin',
          '-inkey',
          join(dir, 'key.pem'),
          '-in',
          join(dir, 'input'),
          '-out',
          join(dir, 'sig'),
        ]);
        const jws = `${header}..${readFileSync(join(dir, 'sig')).toString('base64url')}`;
        assert.deepEqual(checkOwnerSignature(jws, { hash, replaces, owners }), { owner: owner('bob') }, alg);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a signature by a non-owner, over another hash, for another replaced Manifest, or tampered with', async () => {
    const expect = { hash, replaces, owners };
    const problem = (jws: string) => {
      const check = checkOwnerSignature(jws, expect);
      assert.ok('problem' in check, `accepted ${jws}`);
      return check.problem;
    };
    assert.match(problem(await signSuccessor(keys.mallory, { hash, replaces })), /kid .* is no owner's/);
    assert.match(
      problem(await signSuccessor(keys.alice, { hash: 'ee'.repeat(32), replaces })),
      /owner alice .* does not verify it over hash/,
    );
    assert.match(
      problem(await signSuccessor(keys.alice, { hash, replaces: 'ee'.repeat(32) })),
      /approves replacing Manifest e{64}, not/,
    );
    const good = await signSuccessor(keys.alice, { hash, replaces });
    const [h, , s] = good.split('.') as [string, string, string];
    const flipped = Buffer.from(s, 'base64url');
    flipped[0]! ^= 1;
    assert.match(problem(`${h}..${flipped.toString('base64url')}`), /does not verify it/);
    assert.match(problem(`${h}.${Buffer.from(hash).toString('base64url')}.${s}`), /detached/);
    assert.match(problem('not a jws'), /compact JWS/);
  });

  it('refuses headers that change what was signed: no crit, unknown crit, b64, an alg the key does not use', async () => {
    const forged = (header: Record<string, unknown>, key: KeyObject = keys.alice) => {
      const encoded = Buffer.from(JSON.stringify(header)).toString('base64url');
      return new jose.CompactSign(new TextEncoder().encode(hash))
        .setProtectedHeader(header as jose.CompactJWSHeaderParameters)
        .sign(key, { crit: { [REPLACES_HEADER]: true, other: true, b64: true } })
        .then((jws) => `${encoded}..${jws.split('.')[2]}`);
    };
    const expect = { hash, replaces, owners };
    const refusedFor = async (header: Record<string, unknown>, pattern: RegExp) => {
      const check = checkOwnerSignature(await forged(header), expect);
      assert.ok('problem' in check && pattern.test(check.problem), JSON.stringify({ header, check }));
    };
    await refusedFor({ alg: 'ES256', [REPLACES_HEADER]: replaces }, /crit/);
    await refusedFor({ alg: 'ES256', crit: [REPLACES_HEADER, 'other'], other: 1, [REPLACES_HEADER]: replaces }, /crit/);
    await refusedFor({ alg: 'ES256', b64: true, crit: [REPLACES_HEADER], [REPLACES_HEADER]: replaces }, /b64/);
    const es384 = await new jose.CompactSign(new TextEncoder().encode(hash))
      .setProtectedHeader({ alg: 'ES384', crit: [REPLACES_HEADER], [REPLACES_HEADER]: replaces })
      .sign(keys.carol, { crit: { [REPLACES_HEADER]: true } });
    // carol's ES384 signature is not a P-256 owner's, whatever its header claims
    const onlyAlice = checkOwnerSignature(es384.replace(/\.[^.]+\./, '..'), {
      hash,
      replaces,
      owners: [owner('alice')],
    });
    assert.ok('problem' in onlyAlice && /signed with ES384, which no owner key uses/.test(onlyAlice.problem));
  });

  it('thumbprints agree with jose, and owner lists with a bad point or a key twice are invalid', async () => {
    for (const name of ['alice', 'bob', 'carol'] as const)
      assert.equal(ownerThumbprint(owner(name)), await jose.calculateJwkThumbprint(owner(name) as jose.JWK));
    assert.deepEqual(ownersProblems([owner('alice'), owner('bob')]), []);
    const offCurve = { ...owner('alice'), y: owner('mallory').y! };
    assert.deepEqual(
      ownersProblems([owner('alice'), offCurve, { ...owner('alice'), name: 'again' }]).map((p) => p.path),
      ['spec.owners[1]', 'spec.owners[2]'],
    );
    const s = spec('01', [owner('alice'), owner('alice')]);
    assert.match(
      validateManifestSpec(s)
        .map((p) => p.message)
        .join(),
      /same key as an earlier owner/,
    );
  });
});

describe('successorProblems: may a candidate replace the current Manifest', () => {
  const current = manifest('a', '2026-01-01T00:00:00Z', '01', { owners: [owner('alice'), owner('bob')] });

  it('anything may replace a Manifest without owners', () => {
    const unowned = manifest('a', '2026-01-01T00:00:00Z', '01');
    assert.deepEqual(successorProblems(unowned, manifest('b', '2026-02-01T00:00:00Z', '02')), []);
  });

  it('nothing may replace a Manifest with an empty owner list', async () => {
    const immutable = manifest('a', '2026-01-01T00:00:00Z', '01', { owners: [] });
    const candidate = manifest('b', '2026-02-01T00:00:00Z', '02', {
      signatures: [await sign('alice', spec('02'), immutable)],
    });
    assert.match(successorProblems(immutable, candidate)[0]!.message, /lists no owners: it is immutable/);
  });

  it('an unsigned candidate is refused, naming the owners who could sign and both hashes', () => {
    const [problem] = successorProblems(current, manifest('b', '2026-02-01T00:00:00Z', '02'));
    assert.equal(problem!.path, `metadata.annotations["${SIGNATURE_ANNOTATION}"]`);
    assert.match(problem!.message, /not signed/);
    assert.match(problem!.message, /alice \(kid [\w-]+\), bob \(kid [\w-]+\)/);
    assert.ok(
      problem!.message.includes(manifestHash(spec('02'))) && problem!.message.includes(manifestHash(current.spec)),
    );
  });

  it('one valid owner signature among several suffices, separated by newlines or commas; the signer is named', async () => {
    const b = spec('02');
    const good = await sign('bob', b, current);
    const bad = await sign('mallory', b, current);
    for (const separator of ['\n', ',', ' , ']) {
      const candidate = manifest('b', '2026-02-01T00:00:00Z', '02');
      candidate.metadata.annotations = { [SIGNATURE_ANNOTATION]: [bad, good].join(separator) };
      assert.deepEqual(judgeSuccessor(current, candidate), { signer: owner('bob'), problems: [] });
    }
  });

  it('signatures by non-owners, or over another hash, do not count, and each says why', async () => {
    const candidate = manifest('b', '2026-02-01T00:00:00Z', '02', {
      signatures: [await sign('mallory', spec('02'), current), await sign('alice', spec('03'), current)],
    });
    const problems = successorProblems(current, candidate);
    const path = `metadata.annotations["${SIGNATURE_ANNOTATION}"]`;
    assert.deepEqual(
      problems.map((p) => p.path),
      [`${path}[0]`, `${path}[1]`, path],
    );
    assert.match(problems[0]!.message, /no owner key verifies it .* is no owner's/);
    assert.match(problems[1]!.message, /the key of owner alice .* does not verify it over hash/);
    assert.match(problems[2]!.message, /no valid signature/);
  });

  it('a signature approves one transition: it cannot bring the successor back after something else', async () => {
    const b = manifest('b', '2026-02-01T00:00:00Z', '02', { owners: [owner('alice')] });
    const signedForA = await sign('alice', b, current); // a -> b, approved
    const c = manifest('c', '2026-03-01T00:00:00Z', '03', { owners: [owner('alice')] });
    const bAgain = manifest('b2', '2026-04-01T00:00:00Z', '02', { owners: [owner('alice')], signatures: [signedForA] });
    assert.deepEqual(successorProblems(current, bAgain), []);
    assert.match(successorProblems(c, bAgain)[0]!.message, /approves replacing Manifest [0-9a-f]{64}, not/);
  });
});

describe('the active Manifest with owners', () => {
  const owners = () => [owner('alice')];

  it('without owners it is the newest valid one, as before', () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', { current: true });
    const b = manifest('b', '2026-02-01T00:00:00Z', '02');
    assert.equal(selectActiveManifest([a, b])?.metadata.name, 'b');
  });

  it('a newer unsigned Manifest does not replace a current one with owners; a signed one does', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', { owners: owners(), current: true });
    const unsigned = manifest('b', '2026-02-01T00:00:00Z', '02');
    assert.equal(selectActiveManifest([a, unsigned])?.metadata.name, 'a');
    const signed = manifest('c', '2026-03-01T00:00:00Z', '03', { signatures: [await sign('alice', spec('03'), a)] });
    const selection = manifestSelection([a, unsigned, signed]);
    assert.deepEqual(names([selection.current, selection.active]), ['a', 'c']);
    assert.deepEqual(
      selection.steps.map((s) => s.signer),
      [owner('alice')],
    );
    const standing = manifestStanding(unsigned, selection);
    assert.equal(standing.active ? 'active' : standing.reason, 'Superseded', 'older than the new active one');
  });

  it('before any Manifest was recorded current, the newest valid one wins (nothing to sign for yet)', () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', { owners: owners() });
    const b = manifest('b', '2026-02-01T00:00:00Z', '02');
    assert.equal(selectActiveManifest([a, b])?.metadata.name, 'b');
  });

  it('an empty owner list keeps the Manifest active whatever is applied', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', { owners: [], current: true });
    const b = manifest('b', '2026-02-01T00:00:00Z', '02', { signatures: [await sign('alice', spec('02'), a)] });
    const selection = manifestSelection([a, b]);
    assert.equal(selection.active?.metadata.name, 'a');
    const standing = manifestStanding(b, selection);
    assert.ok(!standing.active && standing.reason === 'NotSignedByOwner');
    assert.match(activeCondition(b, standing).message, /immutable/);
  });

  it('deleting the current Manifest rolls back only to a Manifest signed by its owners as replacing it', async () => {
    const old = manifest('old', '2026-01-01T00:00:00Z', '01');
    const a = manifest('a', '2026-02-01T00:00:00Z', '02', { owners: owners(), current: true, deleting: true });
    // still the active one while it is being deleted
    const held = manifestSelection([old, a]);
    assert.equal(held.active?.metadata.name, 'a');
    const standing = manifestStanding(old, held);
    assert.ok(!standing.active && standing.reason === 'NotSignedByOwner', 'the roll-back target needs a signature');
    assert.equal(activeCondition(a, manifestStanding(a, held)).reason, 'AwaitingSignedSuccessor');
    old.metadata.annotations = { [SIGNATURE_ANNOTATION]: await sign('alice', old, a) };
    assert.equal(selectActiveManifest([old, a])?.metadata.name, 'old');
  });

  it('while the current one stays, an older signed Manifest does not take over (no flip-flop)', async () => {
    const a = manifest('a', '2026-02-01T00:00:00Z', '02', { owners: owners(), current: true });
    const older = manifest('older', '2026-01-01T00:00:00Z', '01');
    older.metadata.annotations = { [SIGNATURE_ANNOTATION]: await sign('alice', older, a) };
    assert.equal(selectActiveManifest([older, a])?.metadata.name, 'a');
  });

  it('successors signed ahead of time are followed step by step, each step by an owner of the one before', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', { owners: owners(), current: true });
    const b = manifest('b', '2026-02-01T00:00:00Z', '02', { owners: [owner('bob')] });
    b.metadata.annotations = { [SIGNATURE_ANNOTATION]: await sign('alice', b, a) };
    const c = manifest('c', '2026-03-01T00:00:00Z', '03');
    c.metadata.annotations = { [SIGNATURE_ANNOTATION]: await sign('bob', c, b) };
    const selection = manifestSelection([c, a, b]);
    assert.deepEqual(names(selection.steps.map((s) => s.to)), ['b', 'c']);
    assert.deepEqual(
      selection.steps.map((s) => s.signer?.name),
      ['alice', 'bob'],
    );
    // rotation: alice no longer signs for b's successors
    const d = manifest('d', '2026-04-01T00:00:00Z', '04');
    d.metadata.annotations = { [SIGNATURE_ANNOTATION]: await sign('alice', d, b) };
    const b2 = { ...b, status: a.status };
    assert.equal(selectActiveManifest([b2, d])?.metadata.name, 'b');
  });

  it("from the Coordinator's own current Manifest: one step, also when it is gone from the cluster", async () => {
    const a = manifest('a', '2026-02-01T00:00:00Z', '02', { owners: owners() });
    const older = manifest('older', '2026-01-01T00:00:00Z', '01');
    assert.equal(nextActiveManifest(a, [older]), a, 'nothing signed: it stays');
    older.metadata.annotations = { [SIGNATURE_ANNOTATION]: await sign('alice', older, a) };
    assert.equal(nextActiveManifest(a, [older]), older, 'gone from the cluster: any signed Manifest may replace it');
    const edited = manifest('a', '2026-02-01T00:00:00Z', '09');
    assert.equal(nextActiveManifest(a, [edited]), a, 'the same name with another spec is another Manifest');
  });

  it('a current Manifest with owners that no longer validates leaves nothing active, and still decides its successor', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', { owners: owners(), current: true });
    delete a.spec.referenceValues.gpu;
    const unsigned = manifest('b', '2026-02-01T00:00:00Z', '02');
    const selection = manifestSelection([a, unsigned]);
    assert.equal(selection.active, undefined);
    const standing = manifestStanding(a, selection);
    assert.ok(!standing.active && standing.reason === 'InvalidCurrent');
    a.status!.conditions = [
      {
        type: 'Active',
        status: 'False',
        reason: 'InvalidCurrent',
        message: '',
        lastTransitionTime: '2026-01-02T00:00:00Z',
      },
    ];
    assert.equal(selectActiveManifest([a, unsigned]), undefined, 'still current once recorded as InvalidCurrent');
    unsigned.metadata.annotations = { [SIGNATURE_ANNOTATION]: await sign('alice', unsigned, a) };
    assert.equal(selectActiveManifest([a, unsigned])?.metadata.name, 'b');
  });

  it('during a hand-over two are recorded active: the one recorded last is current', async () => {
    const a = manifest('a', '2026-01-01T00:00:00Z', '01', { owners: owners(), current: true });
    const b = manifest('b', '2026-02-01T00:00:00Z', '02', { current: true, activeSince: '2026-02-02T00:00:00Z' });
    b.metadata.annotations = { [SIGNATURE_ANNOTATION]: await sign('alice', b, a) };
    const c = manifest('c', '2026-03-01T00:00:00Z', '03');
    // b lists no owners: c, the newest, follows it
    assert.deepEqual(names([manifestSelection([a, b, c]).current, selectActiveManifest([a, b, c])]), ['b', 'c']);
  });
});
