// The embedded model server, driven by the official `openai` npm client: chat, chat streaming,
// completions (whole and streamed), embeddings (the client's default base64 and floats) and models.
// Its answers are derived from the input, so that tests further up the chain can assert on them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { embedding } from '../../../src/model-server/answers.ts';
import { type ModelServer, startModelServer } from '../../../src/model-server/server.ts';

const run = promisify(execFile);

describe('embedded model server (official openai client)', () => {
  let server: ModelServer;
  let client: OpenAI;
  const seen: Array<{ path: string; body: unknown }> = [];

  before(async () => {
    server = await startModelServer({
      host: '127.0.0.1',
      port: 0,
      onRequest: (path, body) => seen.push({ path, body }),
    });
    client = new OpenAI({ baseURL: server.url, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    await server?.close();
  });

  it('answers a chat with the last user message, with usage counted in words', async () => {
    const answer = await client.chat.completions.create({
      model: 'attestor-echo',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hello there' },
      ],
    });
    assert.equal(answer.object, 'chat.completion');
    assert.equal(answer.model, 'attestor-echo');
    assert.equal(answer.choices.length, 1);
    assert.equal(answer.choices[0]!.message.content, 'You said: hello there');
    assert.equal(answer.choices[0]!.finish_reason, 'stop');
    assert.deepEqual(answer.usage, { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
    assert.deepEqual(seen.at(-1)!.path, '/v1/chat/completions');
  });

  it('streams a chat as server-sent chunks that join to the same answer, with usage when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'attestor-echo',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'stream this please' }] }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const deltas: string[] = [];
    let finish: string | null = null;
    let usage: unknown;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      for (const choice of chunk.choices) {
        if (choice.delta.content) deltas.push(choice.delta.content);
        finish = choice.finish_reason ?? finish;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    assert.deepEqual(deltas, ['You ', 'said: ', 'stream ', 'this ', 'please']);
    assert.equal(finish, 'stop');
    assert.deepEqual(usage, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 });
  });

  it('ends a stream with data: [DONE] (curl), and cuts answers at max_tokens (finish_reason length), for each of n choices', async () => {
    const { stdout: text } = await run('curl', [
      '-sS',
      '-N',
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ model: 'attestor-echo', messages: [{ role: 'user', content: 'a b c' }], stream: true }),
      `${server.url}/chat/completions`,
    ]);
    assert.match(text, /^data: \{"id":"chatcmpl-/);
    assert.ok(text.endsWith('data: [DONE]\n\n'), text.slice(-40));
    const answer = await client.chat.completions.create({
      model: 'attestor-echo',
      messages: [{ role: 'user', content: 'one two three four' }],
      max_tokens: 3,
      n: 2,
    });
    assert.deepEqual(
      answer.choices.map((c) => [c.index, c.message.content, c.finish_reason]),
      [
        [0, 'You said: one ', 'length'],
        [1, 'You said: one ', 'length'],
      ],
    );
  });

  it('completes a prompt, whole and streamed', async () => {
    const whole = await client.completions.create({ model: 'attestor-echo', prompt: 'the sky is', max_tokens: 10 });
    assert.equal(whole.object, 'text_completion');
    assert.equal(whole.choices[0]!.text, 'You said: the sky is');
    const stream = await client.completions.create({
      model: 'attestor-echo',
      prompt: 'the sky is',
      max_tokens: 10,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, 'You said: the sky is');
  });

  it('embeds deterministically: unit vectors from the input, the same through base64 (the client default) and floats', async () => {
    const viaBase64 = await client.embeddings.create({ model: 'attestor-echo', input: ['alpha', 'beta'] });
    const viaFloat = await client.embeddings.create({
      model: 'attestor-echo',
      input: ['alpha', 'beta'],
      encoding_format: 'float',
    });
    assert.equal(viaBase64.data.length, 2);
    const [alpha, beta] = viaFloat.data.map((d) => d.embedding);
    assert.deepEqual(Array.from(viaBase64.data[0]!.embedding), alpha);
    assert.deepEqual(alpha, embedding('alpha', 16));
    assert.notDeepEqual(alpha, beta);
    assert.ok(Math.abs(Math.hypot(...alpha!) - 1) < 1e-5);
    const wide = await client.embeddings.create({ model: 'attestor-echo', input: 'alpha', dimensions: 64 });
    assert.equal(wide.data[0]!.embedding.length, 64);
    assert.equal(viaFloat.usage.prompt_tokens, 2);
  });

  it('lists and retrieves its one model', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    assert.deepEqual(models, ['attestor-echo']);
    assert.equal((await client.models.retrieve('attestor-echo')).owned_by, 'attestor');
  });

  it('refuses another model, a bad request and an unknown endpoint with OpenAI error bodies', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found',
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'attestor-echo', messages: [] }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.param === 'messages',
    );
    await assert.rejects(
      client.images.generate({ model: 'attestor-echo', prompt: 'x' }),
      (err: unknown) => err instanceof OpenAI.NotFoundError,
    );
  });

  it('waits the per-token delay, streamed token by token', async () => {
    const slow = await startModelServer({ tokenDelayMs: 20 });
    try {
      const slowClient = new OpenAI({ baseURL: slow.url, apiKey: 'unused', maxRetries: 0 });
      const started = performance.now();
      await slowClient.chat.completions.create({
        model: 'attestor-echo',
        messages: [{ role: 'user', content: 'a b c d' }],
      });
      assert.ok(performance.now() - started >= 6 * 20 - 5, 'six tokens, 20 ms each');
    } finally {
      await slow.close();
    }
  });
});
