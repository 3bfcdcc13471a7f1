// `attestor manifest hash|sign|owner` on key files made by openssl and by jose: what an owner runs
// before applying a successor. Exit 0, or 2 with the reason for input it cannot use.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as jose from 'jose';
import { readManifestDocument } from '../../../src/api/manifest-document.ts';
import { checkOwnerSignature, type OwnerKey } from '../../../src/api/manifest-signature.ts';
import { runManifestHash, runManifestOwner, runManifestSign } from '../../../src/cli/manifest.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

async function run(f: (out: (s: string) => void, err: (s: string) => void) => Promise<number>) {
  let out = '';
  let err = '';
  const code = await f(
    (s) => {
      out += s;
    },
    (s) => {
      err += s;
    },
  );
  return { code, out: out.trim(), err };
}

describe('attestor manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attestor-manifest-'));
  const sample = join(projectRoot, 'samples/manifest.yaml');
  const sampleHash = readManifestDocument(readFileSync(sample, 'utf8')).hash;
  const older = join(dir, 'older.yaml');
  before(async () => {
    writeFileSync(older, readFileSync(sample, 'utf8').replace('name: dev', 'name: older').replace('5m', '4m'));
    execFileSync('openssl', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', join(dir, 'p384-sec1.pem')]);
    execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-out', join(dir, 'ed25519.pem')]);
    execFileSync('openssl', ['genrsa', '-out', join(dir, 'rsa.pem'), '2048'], { stdio: 'ignore' });
    const { privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    writeFileSync(join(dir, 'p256.jwk'), JSON.stringify(await jose.exportJWK(privateKey)));
    const { d: _d, ...publicJwk } = await jose.exportJWK(privateKey);
    writeFileSync(join(dir, 'p256-public.jwk'), JSON.stringify(publicJwk));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('hash prints the canonical hash of the file as the API server will store it', async () => {
    assert.deepEqual(await run((o, e) => runManifestHash({ manifest: sample }, o, e)), {
      code: 0,
      out: sampleHash,
      err: '',
    });
  });

  it('owner prints the spec.owners entry of a PEM or JWK key, private or public', async () => {
    for (const [file, crv] of [
      ['p384-sec1.pem', 'P-384'],
      ['ed25519.pem', 'Ed25519'],
      ['p256.jwk', 'P-256'],
      ['p256-public.jwk', 'P-256'],
    ] as const) {
      const r = await run((o, e) => runManifestOwner({ key: join(dir, file), name: 'alice' }, o, e));
      assert.equal(r.code, 0, r.err);
      const owner = JSON.parse(r.out) as OwnerKey & { d?: string };
      assert.equal(owner.crv, crv);
      assert.equal(owner.name, 'alice');
      assert.equal(owner.d, undefined, 'never the private part');
    }
  });

  it('sign prints a signature that verifies for the owner, with the replaced Manifest given by hash or by file', async () => {
    for (const file of ['p384-sec1.pem', 'ed25519.pem', 'p256.jwk']) {
      const owner = JSON.parse((await run((o, e) => runManifestOwner({ key: join(dir, file) }, o, e))).out) as OwnerKey;
      const replaces = readManifestDocument(readFileSync(older, 'utf8')).hash;
      for (const given of [replaces, older]) {
        const r = await run((o, e) =>
          runManifestSign({ manifest: sample, key: join(dir, file), replaces: given }, o, e),
        );
        assert.equal(r.code, 0, r.err);
        assert.deepEqual(checkOwnerSignature(r.out, { hash: sampleHash, replaces, owners: [owner] }), { owner }, file);
      }
    }
  });

  it('refuses with exit 2 what it cannot use: a public key to sign with, an RSA key, a Manifest with an unknown field', async () => {
    const sign = (key: string, manifest = sample) =>
      run((o, e) => runManifestSign({ manifest, key: join(dir, key), replaces: 'ab'.repeat(32) }, o, e));
    const publicOnly = await sign('p256-public.jwk');
    assert.equal(publicOnly.code, 2);
    assert.match(publicOnly.err, /signing needs the private key/);
    const rsa = await sign('rsa.pem');
    assert.equal(rsa.code, 2);
    assert.match(rsa.err, /EC P-256, EC P-384 or Ed25519/);
    const misspelt = join(dir, 'misspelt.yaml');
    writeFileSync(misspelt, readFileSync(sample, 'utf8').replace('runtimeClasses:', 'runtimeClass:'));
    const refused = await sign('ed25519.pem', misspelt);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /spec\.runtimeClass: unknown field/);
    assert.ok(createPrivateKey(readFileSync(join(dir, 'ed25519.pem'))), 'the key itself was fine');
  });
});
