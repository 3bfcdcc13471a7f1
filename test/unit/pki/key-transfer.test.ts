// CA keys cross from one replica to another only sealed: WebCrypto's wrapKey under an AES-GCM key
// that both sides derive from their ephemeral ECDH keys. The sealed key opens only with that key,
// only as the CA it was sealed as, only for its certificate, and only as its certificate's key; a
// CA made without peer recovery cannot be sealed at all.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, webcrypto } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CertificateAuthority, UnsealError } from '../../../src/pki/certificate-authority.ts';
import { CoordinatorPki, MESH_CA_CURVE, ROOT_CA_CURVE } from '../../../src/pki/coordinator-pki.ts';
import { TransferKeyPair } from '../../../src/pki/key-transfer.ts';

const run = promisify(execFile);
const now = new Date();

/** Both sides of one transfer: the requester's and the responder's view of the same key. */
async function exchange() {
  const requester = await TransferKeyPair.generate();
  const responder = await TransferKeyPair.generate();
  return {
    requester,
    responder,
    sealKey: await responder.transferKey(requester.publicJwk, 'responder'),
    openKey: await requester.transferKey(responder.publicJwk, 'requester'),
  };
}

describe('pki: sealing CA keys for a peer replica', function () {
  this.timeout(30_000);

  it('opens a sealed root and mesh CA on the other side as the same keys: what the copy issues chains to the original root (openssl)', async () => {
    const pki = await CoordinatorPki.create(now, { transferable: true });
    const mesh = await pki.newMeshCa(now);
    const { sealKey, openKey } = await exchange();
    const root = await CertificateAuthority.unseal(
      await pki.root.seal(sealKey, 'root'),
      openKey,
      'root',
      ROOT_CA_CURVE,
    );
    const copy = await CertificateAuthority.unseal(await mesh.seal(sealKey, 'mesh'), openKey, 'mesh', MESH_CA_CURVE);
    assert.equal(root.pem, pki.root.pem);
    assert.equal(copy.pem, mesh.pem);
    assert.equal(await root.issued(copy), true);
    assert.equal(root.transferable, true, 'the receiver can hand it on when it leads');
    const leafKeys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const leaf = await copy.issue({
      publicKey: leafKeys.publicKey,
      subject: 'CN=worker',
      notAfter: new Date(now.getTime() + 3600_000),
      now,
    });
    const dir = await mkdtemp(join(tmpdir(), 'key-transfer-'));
    try {
      await writeFile(join(dir, 'root.pem'), pki.root.pem);
      await writeFile(join(dir, 'mesh.pem'), mesh.pem);
      await writeFile(join(dir, 'leaf.pem'), `${leaf.toString('pem')}\n`);
      const { stdout } = await run('openssl', [
        'verify',
        '-CAfile',
        join(dir, 'root.pem'),
        '-untrusted',
        join(dir, 'mesh.pem'),
        join(dir, 'leaf.pem'),
      ]);
      assert.match(stdout, /leaf\.pem: OK/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('does not open under another transfer key, as another CA, for another certificate, or with a changed byte', async () => {
    const pki = await CoordinatorPki.create(now, { transferable: true });
    const mesh = await pki.newMeshCa(now);
    const { sealKey, openKey } = await exchange();
    const sealed = await mesh.seal(sealKey, 'mesh');
    const other = await exchange();
    await assert.rejects(
      CertificateAuthority.unseal(sealed, other.openKey, 'mesh', MESH_CA_CURVE),
      (e: Error) => e instanceof UnsealError && /does not open/.test(e.message),
    );
    await assert.rejects(CertificateAuthority.unseal(sealed, openKey, 'root', MESH_CA_CURVE), UnsealError);
    const otherMesh = await pki.newMeshCa(now);
    await assert.rejects(
      CertificateAuthority.unseal({ ...sealed, certificate: otherMesh.pem }, openKey, 'mesh', MESH_CA_CURVE),
      UnsealError,
    );
    const key = Buffer.from(sealed.key, 'base64');
    key[10] = key[10]! ^ 1;
    await assert.rejects(
      CertificateAuthority.unseal({ ...sealed, key: key.toString('base64') }, openKey, 'mesh', MESH_CA_CURVE),
      UnsealError,
    );
  });

  it('refuses a key that opens but is not the key of the certificate it came with', async () => {
    // A sender that seals one CA's key under another CA's certificate (label and certificate match its AAD).
    const pki = await CoordinatorPki.create(now, { transferable: true });
    const a = await pki.newMeshCa(now);
    const b = await pki.newMeshCa(now);
    const { sealKey, openKey } = await exchange();
    const aKey = CertificateAuthority.privateKeyForTests(a);
    const iv = webcrypto.getRandomValues(new Uint8Array(12));
    const aad = Buffer.concat([
      Buffer.from('attestor peer recovery: mesh CA\n'),
      createHash('sha256').update(b.der).digest(),
    ]);
    const wrapped = await webcrypto.subtle.wrapKey('pkcs8', aKey, sealKey, {
      name: 'AES-GCM',
      iv,
      additionalData: aad,
    });
    await assert.rejects(
      CertificateAuthority.unseal(
        { certificate: b.pem, iv: Buffer.from(iv).toString('base64'), key: Buffer.from(wrapped).toString('base64') },
        openKey,
        'mesh',
        MESH_CA_CURVE,
      ),
      (e: Error) => e instanceof UnsealError && /not the key of its certificate/.test(e.message),
    );
  });

  it('cannot seal, or export, a CA made without peer recovery', async () => {
    const pki = await CoordinatorPki.create(now);
    const { sealKey } = await exchange();
    assert.equal(pki.root.transferable, false);
    await assert.rejects(pki.root.seal(sealKey, 'root'), /non-extractable: peer recovery is off/);
    await assert.rejects(
      webcrypto.subtle.exportKey('pkcs8', CertificateAuthority.privateKeyForTests(await pki.newMeshCa(now))),
      /not extractable/,
    );
  });

  it('derives the same transfer key on both sides, and another one for another pair', async () => {
    const { sealKey, openKey, requester } = await exchange();
    const pki = await CoordinatorPki.create(now, { transferable: true });
    const sealed = await pki.root.seal(sealKey, 'root');
    assert.ok(await CertificateAuthority.unseal(sealed, openKey, 'root', ROOT_CA_CURVE));
    const third = await TransferKeyPair.generate();
    const wrong = await requester.transferKey(third.publicJwk, 'requester');
    await assert.rejects(CertificateAuthority.unseal(sealed, wrong, 'root', ROOT_CA_CURVE), UnsealError);
  });
});
