// docs/protocol.md and the code cannot drift apart: the test vectors written in the document
// decrypt (and re-encrypt byte for byte) with src/protocol/inference/, and its tables of plaintext
// fields and error codes are the code's.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { INFERENCE_ERRORS } from '../../../../src/protocol/inference/errors.ts';
import {
  CHAT_COMPLETIONS_PATH,
  ENCRYPTED_PATHS,
  REQUEST_PLAINTEXT,
  RESPONSE_PLAINTEXT,
} from '../../../../src/protocol/inference/fields.ts';
import {
  clientKeyPairFromPrivateKey,
  clientSecret,
  secretIdOf,
} from '../../../../src/protocol/inference/key-exchange.ts';
import {
  openBody,
  openRequest,
  type RecordContext,
  type RecordHeader,
  readWireBody,
  recordAad,
  sealBatchJson,
  sealBody,
} from '../../../../src/protocol/inference/records.ts';
import { DONE, eventBatches, StreamOpener } from '../../../../src/protocol/inference/streams.ts';

const DOC = readFileSync(new URL('../../../../docs/protocol.md', import.meta.url), 'utf8');

/** The fenced blocks tagged `vector:<name>`. */
function vectors(): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of DOC.matchAll(/^```\w+ vector:([\w-]+)\n([\s\S]*?)^```$/gm)) found.set(m[1]!, m[2]!.trim());
  return found;
}

function tableRows(heading: RegExp): string[][] {
  const start = DOC.search(heading);
  assert.ok(start >= 0, `no ${heading}`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of DOC.slice(start).split('\n')) {
    if (line.startsWith('|')) {
      inTable = true;
      rows.push(
        line
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()),
      );
    } else if (inTable) break;
  }
  return rows.slice(2);
}

describe('docs/protocol.md', () => {
  const v = vectors();
  const kx = JSON.parse(v.get('key-exchange') ?? '{}') as Record<string, string>;

  it('has every test vector it names', () => {
    assert.deepEqual([...v.keys()].sort(), [
      'batch-aad',
      'batch-final-aad',
      'batch-final-plaintext',
      'batch-final-record',
      'batch-plaintext',
      'batch-record',
      'final-aad',
      'final-record',
      'key-exchange',
      'key-exchange-enc',
      'request-aad',
      'request-plaintext',
      'request-wire',
    ]);
  });

  it("derives the key-exchange vector's secret from its private key and enc", async () => {
    const pair = await clientKeyPairFromPrivateKey(Buffer.from(kx.privateKey!, 'hex'));
    assert.equal(createHash('sha256').update(pair.publicKey).digest('hex'), kx.publicKeySha256);
    assert.equal(secretIdOf(pair.publicKey), kx.secretId);
    const enc = Buffer.from(v.get('key-exchange-enc')!.replace(/\s+/g, ''), 'base64');
    assert.equal(enc.length, 1120);
    const secret = await clientSecret(pair, enc);
    assert.equal(Buffer.from(secret!).toString('hex'), kx.secret);
  });

  const context = (): RecordContext => {
    const wire = JSON.parse(v.get('request-wire')!) as { encryption: { nonce: string } };
    return {
      secret: Buffer.from(kx.secret!, 'hex'),
      secretId: kx.secretId!,
      nonce: Buffer.from(wire.encryption.nonce, 'base64'),
      path: CHAT_COMPLETIONS_PATH,
    };
  };

  it('decrypts the request vector to its plaintext, with the AAD it shows, and encrypts it back byte for byte', () => {
    const wire = JSON.parse(v.get('request-wire')!) as Record<string, unknown> & {
      encryption: { iv: string; timestamp: number };
    };
    const plaintext = JSON.parse(v.get('request-plaintext')!) as Record<string, unknown>;
    const opened = openRequest(context(), wire);
    assert.ok('body' in opened, JSON.stringify(opened));
    assert.deepEqual(opened.body, plaintext);
    const header: RecordHeader = {
      direction: 'request',
      sequence: 0,
      timestamp: wire.encryption.timestamp,
      final: true,
    };
    const { encryption: _, ...clear } = wire;
    assert.equal(recordAad(context(), header, clear).toString('hex'), v.get('request-aad'));
    const again = sealBody(context(), header, plaintext, Buffer.from(wire.encryption.iv, 'base64'));
    assert.equal(JSON.stringify(again), JSON.stringify(wire));
  });

  it('authenticates the final record vector as record 3 of the answer, with the AAD it shows', () => {
    const record = JSON.parse(v.get('final-record')!) as { encryption: { iv: string; timestamp: number } };
    const wire = readWireBody(record, CHAT_COMPLETIONS_PATH, 'response');
    assert.ok(!('refusal' in wire));
    const opened = openBody(context(), wire, { direction: 'response', sequence: 3, final: true });
    assert.ok('body' in opened, JSON.stringify(opened));
    assert.deepEqual(opened.body, {});
    const header: RecordHeader = {
      direction: 'response',
      sequence: 3,
      timestamp: record.encryption.timestamp,
      final: true,
    };
    assert.equal(recordAad(context(), header, {}).toString('hex'), v.get('final-aad'));
    assert.ok('refusal' in openBody(context(), wire, { direction: 'response', sequence: 2 }), 'not as record 2');
  });

  it('opens the version 2 stream vectors as batches of events, with the AADs they show, and seals them back byte for byte', () => {
    const ctx: RecordContext = { ...context(), version: 2 };
    const opener = new StreamOpener(ctx);
    for (const [name, sequence, final] of [
      ['batch', 0, false],
      ['batch-final', 1, true],
    ] as const) {
      const record = JSON.parse(v.get(`${name}-record`)!) as Record<string, unknown> & {
        encryption: { iv: string; timestamp: number };
      };
      const events = JSON.parse(v.get(`${name}-plaintext`)!) as Array<Record<string, unknown>>;
      const step = opener.next(JSON.stringify(record));
      assert.ok('events' in step, JSON.stringify(step));
      assert.deepEqual(step.events, events);
      assert.equal('done' in step, final);
      const header: RecordHeader = {
        direction: 'response',
        sequence,
        timestamp: record.encryption.timestamp,
        final,
      };
      const { encryption: _, ...clear } = record;
      assert.equal(recordAad(ctx, header, clear).toString('hex'), v.get(`${name}-aad`));
      const batches = eventBatches(CHAT_COMPLETIONS_PATH, events);
      assert.equal(batches.length, 1);
      const again = sealBatchJson(ctx, header, batches[0]!, Buffer.from(record.encryption.iv, 'base64'));
      assert.equal(again, JSON.stringify(record));
    }
    assert.deepEqual(opener.next(DONE), { ignore: true });
    assert.equal(opener.end(), undefined);
    // In version 1 the same records do not open: the label binds the version.
    const v1 = new StreamOpener(context());
    assert.ok('refusal' in v1.next(JSON.stringify(JSON.parse(v.get('batch-record')!))));
  });

  it('lists the plaintext fields of each endpoint as the code keeps them', () => {
    const rows = tableRows(/### Which fields stay plaintext/);
    const fields = (cell: string) => [...cell.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
    for (const path of ENCRYPTED_PATHS) {
      const row = rows.find((r) => r[0] === `request to \`${path}\``);
      assert.ok(row, path);
      assert.deepEqual(fields(row[1]!), REQUEST_PLAINTEXT[path], path);
    }
    const answers = rows.find((r) => r[0]!.startsWith('every answer'));
    assert.deepEqual(fields(answers![1]!), RESPONSE_PLAINTEXT);
  });

  it('lists every error code with its status and type, and no other', () => {
    const rows = tableRows(/## 3\. Error codes/);
    assert.deepEqual(
      rows.map((r) => [r[0], r[1], r[2], r[3]]),
      Object.entries(INFERENCE_ERRORS).map(([code, e]) => [`\`${code}\``, String(e.status), `\`${e.type}\``, e.from]),
    );
  });
});
