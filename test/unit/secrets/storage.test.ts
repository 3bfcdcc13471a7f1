// Secrets at rest: sealed under a non-extractable storage key, bound to their etcd key, and
// unreadable under another storage key; the rate limiter, the API-key hook and the release wire
// format are pure rules tested here too.
import assert from 'node:assert/strict';
import { createHash, webcrypto } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import {
  parseSecretRelease,
  secretIdOfPathSegment,
  secretReleasePath,
} from '../../../src/protocol/inference/secret-release.ts';
import { ApiKeys } from '../../../src/secrets/api-keys.ts';
import { RateLimiter } from '../../../src/secrets/rate-limiter.ts';
import { meshCaSha256, newStorageKey, openRecord, sealRecord } from '../../../src/secrets/sealed-record.ts';
import { meshCa } from './identities.ts';

describe('secret storage encryption', () => {
  it('seals the secret and its mesh CA so that the stored bytes hold neither, and opens them again', async () => {
    const key = await newStorageKey();
    const mesh = await meshCa();
    const secret = webcrypto.getRandomValues(new Uint8Array(32));
    const expiresAt = new Date('2026-06-01T13:00:00Z');
    const sealed = Buffer.from(await sealRecord(key, '/attestor/secrets/a', { secret, meshCa: mesh.pem, expiresAt }));
    for (const form of [
      Buffer.from(secret),
      Buffer.from(Buffer.from(secret).toString('base64')),
      Buffer.from(Buffer.from(secret).toString('hex')),
    ])
      assert.equal(sealed.indexOf(form), -1);
    assert.equal(sealed.indexOf(Buffer.from('BEGIN CERTIFICATE')), -1);
    const opened = await openRecord(key, '/attestor/secrets/a', sealed);
    assert.deepEqual(opened, { secret, meshCa: mesh.pem, expiresAt });
    assert.match(meshCaSha256(mesh.pem), /^[0-9a-f]{64}$/);
  });

  it('does not open under another storage key, under another etcd key, or changed by one bit', async () => {
    const key = await newStorageKey();
    const mesh = await meshCa();
    const record = { secret: new Uint8Array(32).fill(7), meshCa: mesh.pem, expiresAt: new Date() };
    const sealed = await sealRecord(key, '/attestor/secrets/a', record);
    assert.equal(await openRecord(await newStorageKey(), '/attestor/secrets/a', sealed), undefined);
    assert.equal(await openRecord(key, '/attestor/secrets/b', sealed), undefined);
    const flipped = Uint8Array.from(sealed);
    flipped[20] = flipped[20]! ^ 1;
    assert.equal(await openRecord(key, '/attestor/secrets/a', flipped), undefined);
    assert.equal(await openRecord(key, '/attestor/secrets/a', sealed.subarray(0, 10)), undefined);
  });

  it('makes the storage key for AES-GCM only, extractable only for wrapKey: nothing in src/secrets exports a key', async () => {
    const key = await newStorageKey();
    assert.deepEqual([...key.usages].sort(), ['decrypt', 'encrypt']);
    assert.equal(key.extractable, true, 'wrapKey hands it to another certified replica');
    const dir = new URL('../../../src/secrets/', import.meta.url);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts')))
      assert.doesNotMatch(readFileSync(new URL(file, dir), 'utf8'), /exportKey\(/, file);
  });
});

describe('secret service pure rules', () => {
  it('rate-limits per address: a burst, then one per refill interval, other addresses unaffected', () => {
    const limiter = new RateLimiter({ perMinute: 60, burst: 3 });
    const t = 1_000_000;
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('a', t)),
      [true, true, true, false],
    );
    assert.equal(limiter.take('b', t), true);
    assert.equal(limiter.take('a', t + 500), false);
    assert.equal(limiter.take('a', t + 1000), true);
    assert.equal(limiter.take('a', t + 1000), false);
  });

  it('keeps at most maxAddresses buckets', () => {
    const limiter = new RateLimiter({ perMinute: 1, burst: 1, maxAddresses: 10 });
    for (let i = 0; i < 100; i++) limiter.take(`10.0.0.${i}`, 0);
    assert.equal(limiter.size, 10);
  });

  it('accepts only a bearer key whose SHA-256 the file lists, and refuses a malformed file', () => {
    const hash = createHash('sha256').update('k-123').digest('hex');
    const keys = ApiKeys.parse(`# gateway\n${hash}\n`);
    assert.equal(keys.accepts('Bearer k-123'), true);
    assert.equal(keys.accepts('Bearer k-124'), false);
    assert.equal(keys.accepts(undefined), false);
    assert.equal(keys.accepts(`Bearer ${hash}`), false, 'the hash itself is no key');
    assert.throws(() => ApiKeys.parse('k-123\n'), /line 1 is not a SHA-256/);
    assert.throws(() => ApiKeys.parse('# nothing\n'), /lists no key hash/);
  });

  it('names a secret in its path in URL-safe base64, and reads back only 32-byte IDs', () => {
    const id = Buffer.alloc(32, 0xfb).toString('base64');
    assert.match(id, /[+/]/);
    const path = secretReleasePath(id);
    assert.equal(path, `/v1/secrets/${Buffer.alloc(32, 0xfb).toString('base64url')}`);
    assert.equal(secretIdOfPathSegment(path.slice('/v1/secrets/'.length)), id);
    assert.equal(secretIdOfPathSegment('abc'), undefined);
    assert.equal(secretIdOfPathSegment(`${'A'.repeat(42)}B`), undefined, 'non-canonical trailing bits');
    assert.equal(secretIdOfPathSegment(id), undefined, 'standard base64 is not the path form');
  });

  it('reads a release strictly', () => {
    const good = {
      id: Buffer.alloc(32, 1).toString('base64'),
      secret: Buffer.alloc(32, 2).toString('base64'),
      expiresAt: '2026-06-01T13:00:00.000Z',
    };
    const parsed = parseSecretRelease(good);
    assert.ok(!('errors' in parsed));
    assert.equal(parsed.secret.length, 32);
    assert.deepEqual(parseSecretRelease({ ...good, extra: 1 }), { errors: ['unknown fields: extra'] });
    const bad = parseSecretRelease({ ...good, secret: 'AAAA', expiresAt: 'soon' });
    assert.ok('errors' in bad && bad.errors.length === 2);
  });
});
