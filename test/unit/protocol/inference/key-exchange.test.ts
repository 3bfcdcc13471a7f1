// The inference key exchange (HPKE export-only, X-Wing): both sides derive the same secret, and the
// client refuses every answer that is not signed for its own key by a secret service that the
// attested mesh CA certified under a secret-service policy of the pinned Manifest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  acceptKeyExchange,
  answerKeyExchange,
  type ClientKeyPair,
  type KeyExchangeResponse,
  keyExchangeRequest,
  newClientKeyPair,
  parseKeyExchangeRequest,
  secretIdOf,
  XWING_ENC_BYTES,
  XWING_PUBLIC_KEY_BYTES,
} from '../../../../src/protocol/inference/key-exchange.ts';
import { meshCa, NOW, POLICIES, type ServiceIdentity, serviceIdentity, WORKER_POLICY } from './service-identity.ts';

async function exchange(service: ServiceIdentity, pair?: ClientKeyPair) {
  const client = pair ?? (await newClientKeyPair());
  const parsed = parseKeyExchangeRequest(keyExchangeRequest(client));
  assert.ok(!('error' in parsed));
  const answer = await answerKeyExchange({
    clientPublicKey: parsed.publicKey,
    signingKey: service.signingKey,
    certificateChain: service.certificateChain,
    expiresAt: new Date(NOW.getTime() + 3_600_000),
  });
  assert.ok(!('error' in answer), JSON.stringify(answer));
  return { client, answer };
}

const accept = (client: ClientKeyPair, response: unknown, meshCA: string, at = NOW) =>
  acceptKeyExchange({ pair: client, response, meshCA, policies: POLICIES, at });

const checks = (result: Awaited<ReturnType<typeof acceptKeyExchange>>) => {
  assert.equal(result.accepted, false, 'the answer must be refused');
  return result.accepted ? [] : result.reasons.map((r) => r.check);
};

describe('inference key exchange (HPKE X-Wing, export-only)', () => {
  let service: ServiceIdentity;
  before(async () => {
    service = await serviceIdentity();
  });

  it('gives client and service the same 32-byte secret, named by base64(SHA-256(client public key))', async () => {
    const { client, answer } = await exchange(service);
    assert.equal(client.publicKey.length, XWING_PUBLIC_KEY_BYTES);
    assert.equal(Buffer.from(answer.response.enc, 'base64').length, XWING_ENC_BYTES);
    const result = await accept(client, answer.response, service.mesh.pem);
    assert.ok(result.accepted, JSON.stringify(!result.accepted && result.reasons));
    assert.equal(result.secret.length, 32);
    assert.deepEqual(result.secret, answer.secret);
    const id = createHash('sha256').update(client.publicKey).digest('base64');
    assert.equal(result.secretId, id);
    assert.equal(answer.secretId, id);
    assert.equal(secretIdOf(client.publicKey), id);
    assert.equal(result.expiresAt.getTime(), NOW.getTime() + 3_600_000);
  });

  it('gives two clients different secrets', async () => {
    const one = await exchange(service);
    const two = await exchange(service);
    assert.notDeepEqual(one.answer.secret, two.answer.secret);
    assert.notEqual(one.answer.secretId, two.answer.secretId);
  });

  it('refuses a secret service certified by another mesh CA than the attested one', async () => {
    const other = await serviceIdentity({ mesh: await meshCa() });
    const { client, answer } = await exchange(other);
    assert.deepEqual(checks(await accept(client, answer.response, service.mesh.pem)), ['secret-service.chain']);
  });

  it('refuses a certificate that is not valid at the given time', async () => {
    const { client, answer } = await exchange(service);
    const later = new Date(NOW.getTime() + 2 * 3_600_000);
    const result = await accept(client, answer.response, service.mesh.pem, later);
    assert.deepEqual(checks(result), ['secret-service.chain']);
    assert.match(result.accepted ? '' : result.reasons[0]!.message, /expired/);
  });

  it("refuses a worker's certificate from the same mesh CA (role), and a policy the pinned Manifest lacks", async () => {
    const worker = await serviceIdentity({
      mesh: service.mesh,
      identity: { role: 'worker', policyHash: WORKER_POLICY },
    });
    const w = await exchange(worker);
    assert.deepEqual(checks(await accept(w.client, w.answer.response, service.mesh.pem)), [
      'secret-service.role',
      'secret-service.policy',
    ]);
    const unknown = await serviceIdentity({ mesh: service.mesh, identity: { policyHash: 'ee'.repeat(32) } });
    const u = await exchange(unknown);
    assert.deepEqual(checks(await accept(u.client, u.answer.response, service.mesh.pem)), ['secret-service.policy']);
  });

  it('refuses the mesh CA itself, or any CA, as the secret service certificate', async () => {
    const { client, answer } = await exchange(service);
    const ca = { ...answer.response, certificateChain: [service.mesh.pem] };
    const refused = checks(await accept(client, ca, service.mesh.pem));
    assert.ok(refused.includes('secret-service.identity'), refused.join());
    assert.ok(refused.includes('secret-service.chain'), refused.join());
  });

  it('refuses a certificate without the workload identity extension', async () => {
    const bare = await serviceIdentity({ mesh: service.mesh, withoutIdentity: true });
    const { client, answer } = await exchange(bare);
    assert.deepEqual(checks(await accept(client, answer.response, service.mesh.pem)), ['secret-service.identity']);
  });

  it("refuses an answer made for another client's key (secret ID and signature), and a changed enc (signature)", async () => {
    const { answer } = await exchange(service);
    const stranger = await newClientKeyPair();
    assert.deepEqual(checks(await accept(stranger, answer.response, service.mesh.pem)), [
      'secret-service.secret-id',
      'secret-service.signature',
    ]);
    const { client, answer: mine } = await exchange(service);
    const enc = Buffer.from(mine.response.enc, 'base64');
    enc[100]! ^= 0x01;
    const flipped: KeyExchangeResponse = { ...mine.response, enc: enc.toString('base64') };
    assert.deepEqual(checks(await accept(client, flipped, service.mesh.pem)), ['secret-service.signature']);
  });

  it("refuses an enc that another service encapsulated and signed for this client's key, when its certificate is not the attested one", async () => {
    // An admin-run service can sign for any key; only the certificate check stops it.
    const impostor = await serviceIdentity({ mesh: await meshCa() });
    const client = await newClientKeyPair();
    const { answer } = await exchange(impostor, client);
    const spliced = { ...answer.response, certificateChain: service.certificateChain };
    assert.deepEqual(checks(await accept(client, spliced, service.mesh.pem)), ['secret-service.signature']);
  });

  it('refuses malformed answers with every problem listed: fields, base64, sizes, certificates', async () => {
    const { client, answer } = await exchange(service);
    const cases: Array<[string, unknown, RegExp[]]> = [
      ['not an object', 'nope', [/not a JSON object/]],
      ['an unknown field', { ...answer.response, extra: 1 }, [/unknown fields: extra/]],
      ['non-canonical base64', { ...answer.response, enc: `${answer.response.enc.slice(0, -4)}@@@@` }, [/enc/]],
      [
        'a short signature',
        { ...answer.response, signature: Buffer.alloc(63).toString('base64') },
        [/signature is 63 bytes/],
      ],
      [
        'two problems at once',
        { ...answer.response, secretId: 'AAAA', certificateChain: ['not pem'] },
        [/secretId is 3 bytes/, /certificateChain\[0\] is not a PEM certificate/],
      ],
      ['no certificates', { ...answer.response, certificateChain: [] }, [/certificateChain/]],
      ['a bad time', { ...answer.response, expiresAt: 'tomorrow' }, [/expiresAt/]],
    ];
    for (const [name, response, messages] of cases) {
      const result = await accept(client, response, service.mesh.pem);
      assert.equal(result.accepted, false, name);
      if (result.accepted) continue;
      assert.ok(
        result.reasons.every((r) => r.check === 'secret-service.response'),
        name,
      );
      for (const m of messages)
        assert.ok(
          result.reasons.some((r) => m.test(r.message)),
          `${name}: ${m} in ${JSON.stringify(result.reasons)}`,
        );
      assert.equal(result.reasons.length, messages.length, name);
    }
  });

  it('answers a public key of the right size that is no X-Wing key with an error, not an exception', async () => {
    const answer = await answerKeyExchange({
      clientPublicKey: new Uint8Array(XWING_PUBLIC_KEY_BYTES).fill(0xff),
      signingKey: service.signingKey,
      certificateChain: service.certificateChain,
      expiresAt: NOW,
    });
    assert.deepEqual(answer, { error: 'publicKey is not an X-Wing public key' });
  });

  it('reads a request only as { publicKey } of 1,216 bytes in canonical base64', async () => {
    const { publicKey } = await newClientKeyPair();
    const good = Buffer.from(publicKey).toString('base64');
    assert.deepEqual(parseKeyExchangeRequest({ publicKey: good }), { publicKey });
    assert.match((parseKeyExchangeRequest([good]) as { error: string }).error, /not a JSON object/);
    assert.match((parseKeyExchangeRequest({ publicKey: good, x: 1 }) as { error: string }).error, /unknown fields: x/);
    assert.match(
      (parseKeyExchangeRequest({ publicKey: good.slice(4) }) as { error: string }).error,
      /publicKey is 1213 bytes, not 1216/,
    );
    assert.match(
      (parseKeyExchangeRequest({ publicKey: `${good}AAAA` }) as { error: string }).error,
      /longer than 1216 bytes/,
    );
    assert.match((parseKeyExchangeRequest({ publicKey: 42 }) as { error: string }).error, /not a string/);
  });
});
