// The records by which secret-service replicas hand the storage key on: who may ask (a signed
// request with a secret-service certificate of the current mesh CA), who may answer (the same
// checks on the holder), that only the requester's key pair opens the answer, and the key
// record's check value. Pure but for randomness; time is a parameter.
import assert from 'node:assert/strict';
import { createPrivateKey, webcrypto } from 'node:crypto';
import { TransferKeyPair } from '../../../src/pki/key-transfer.ts';
import { meshCaSha256, newStorageKey } from '../../../src/secrets/sealed-record.ts';
import {
  keyCheckRecord,
  keyMatchesRecord,
  keyRequestProblems,
  makeKeyAnswer,
  makeKeyRequest,
  openKeyAnswer,
  type Signer,
} from '../../../src/secrets/storage-key-transfer.ts';
import { meshCa, type Workload, workload } from './identities.ts';

const signer = (identity: Workload): Signer => ({
  certificate: identity.cert,
  signingKey: createPrivateKey(identity.key).toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
});
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

/** Whether `a` opens what `b` sealed: the same AES-GCM key. */
async function sameKey(a: webcrypto.CryptoKey, b: webcrypto.CryptoKey): Promise<boolean> {
  const iv = new Uint8Array(12);
  const sealed = await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv }, b, Buffer.from('probe'));
  try {
    await webcrypto.subtle.decrypt({ name: 'AES-GCM', iv }, a, sealed);
    return true;
  } catch {
    return false;
  }
}

describe('storage key transfer records', () => {
  it('hands the key to a request signed with a secret-service certificate of the mesh CA; only the requester opens the answer', async () => {
    const mesh = await meshCa();
    const sha = meshCaSha256(mesh.pem);
    const now = new Date();
    const pair = await TransferKeyPair.generate();
    const request = bytes(await makeKeyRequest(signer(await workload(mesh, 'secret-service')), pair, sha));
    assert.deepEqual(keyRequestProblems(request, mesh.pem, sha, now), []);
    const storageKey = await newStorageKey();
    const answer = bytes(await makeKeyAnswer(signer(await workload(mesh, 'secret-service')), storageKey, request, sha));
    assert.equal(answer.indexOf(Buffer.from(await webcrypto.subtle.exportKey('raw', storageKey))), -1);
    const opened = await openKeyAnswer(answer, pair, mesh.pem, sha, now);
    assert.ok('key' in opened, JSON.stringify(opened));
    assert.ok(await sameKey(opened.key, storageKey));
    assert.deepEqual([...opened.key.usages].sort(), ['decrypt', 'encrypt']);
    // Anyone else's key pair (a copy of the request under another key) opens nothing.
    const stranger = await openKeyAnswer(answer, await TransferKeyPair.generate(), mesh.pem, sha, now);
    assert.ok('reasons' in stranger);
    assert.equal(stranger.reasons[0]?.check, 'storage-key.signature');
  });

  it('refuses a request from a worker, without the identity extension, of another mesh CA, expired, signed by another key, or for another mesh CA', async () => {
    const mesh = await meshCa();
    const other = await meshCa();
    const sha = meshCaSha256(mesh.pem);
    const now = new Date();
    const ask = async (identity: Workload, meshSha = sha, signedBy = identity) =>
      keyRequestProblems(
        bytes(
          await makeKeyRequest(
            { ...signer(signedBy), certificate: identity.cert },
            await TransferKeyPair.generate(),
            meshSha,
          ),
        ),
        mesh.pem,
        sha,
        now,
      ).map((r) => `${r.check}: ${r.message}`);
    assert.match(
      (await ask(await workload(mesh, 'worker'))).join(),
      /storage-key.role: .*names the role worker, not secret-service/,
    );
    assert.match(
      (await ask(await workload(mesh, undefined))).join(),
      /storage-key.identity: .*no workload identity extension/,
    );
    assert.match(
      (await ask(await workload(other, 'secret-service'))).join(),
      /storage-key.chain: .*not certified under the current mesh CA/,
    );
    const expired = await workload(mesh, 'secret-service', { now: new Date(now.getTime() - 7_200_000) });
    assert.match((await ask(expired)).join(), /storage-key.validity/);
    const thief = await workload(mesh, 'worker');
    assert.match(
      (await ask(await workload(mesh, 'secret-service'), sha, thief)).join(),
      /storage-key.signature: the request is not signed by its certificate's key/,
    );
    assert.match(
      (await ask(await workload(mesh, 'secret-service'), meshCaSha256(other.pem))).join(),
      /storage-key.chain: the request asks for the storage key of another mesh CA/,
    );
    assert.match(
      keyRequestProblems(Buffer.from('{"version":1}'), mesh.pem, sha, now)
        .map((r) => r.check)
        .join(),
      /storage-key.signature/,
    );
  });

  it('refuses an answer from a holder of another role or mesh CA, or whose wrapped key was changed', async () => {
    const mesh = await meshCa();
    const other = await meshCa();
    const sha = meshCaSha256(mesh.pem);
    const now = new Date();
    const pair = await TransferKeyPair.generate();
    const request = bytes(await makeKeyRequest(signer(await workload(mesh, 'secret-service')), pair, sha));
    const storageKey = await newStorageKey();
    const from = async (holder: Workload) =>
      openKeyAnswer(bytes(await makeKeyAnswer(signer(holder), storageKey, request, sha)), pair, mesh.pem, sha, now);
    const worker = await from(await workload(mesh, 'worker'));
    assert.ok('reasons' in worker && worker.reasons.some((r) => r.check === 'storage-key.role'));
    const foreign = await from(await workload(other, 'secret-service'));
    assert.ok('reasons' in foreign && foreign.reasons.some((r) => r.check === 'storage-key.chain'));
    const answer = await makeKeyAnswer(signer(await workload(mesh, 'secret-service')), storageKey, request, sha);
    const wrapped = Buffer.from(answer.wrappedKey, 'base64');
    wrapped[0] = wrapped[0]! ^ 1;
    const changed = await openKeyAnswer(
      bytes({ ...answer, wrappedKey: wrapped.toString('base64') }),
      pair,
      mesh.pem,
      sha,
      now,
    );
    assert.ok('reasons' in changed && changed.reasons[0]?.check === 'storage-key.signature');
  });

  it('tells the key of the key record from any other', async () => {
    const mesh = await meshCa();
    const sha = meshCaSha256(mesh.pem);
    const key = await newStorageKey();
    const record = await keyCheckRecord(key, sha);
    assert.equal(await keyMatchesRecord(key, sha, record), true);
    assert.equal(await keyMatchesRecord(await newStorageKey(), sha, record), false);
    assert.equal(await keyMatchesRecord(key, meshCaSha256((await meshCa()).pem), record), false);
    assert.equal(await keyMatchesRecord(key, sha, Buffer.from('garbage')), false);
  });
});
