// The error table of encrypted inference: OpenAI-style bodies that the official client reads, and
// codes that the client proxy can key on.
import assert from 'node:assert/strict';
import {
  INFERENCE_ERRORS,
  inferenceErrorCode,
  inferenceErrorResponse,
} from '../../../../src/protocol/inference/errors.ts';

describe('inference errors', () => {
  it('answers every code with its status and an OpenAI error body: message, type, param, code', () => {
    for (const code of Object.keys(INFERENCE_ERRORS) as Array<keyof typeof INFERENCE_ERRORS>) {
      const { status, body } = inferenceErrorResponse({ code, detail: 'Detail.' });
      assert.equal(status, INFERENCE_ERRORS[code].status);
      assert.ok(status >= 400 && status < 600, code);
      assert.deepEqual(Object.keys(body.error), ['message', 'type', 'param', 'code']);
      assert.equal(body.error.code, code);
      assert.equal(body.error.param, null);
      assert.match(body.error.message, /\. Detail\.$/);
    }
  });

  it('gives the refusals the proxies key on the statuses OpenAI clients treat as they should', () => {
    assert.equal(INFERENCE_ERRORS.unknown_secret.status, 401, 'the client proxy exchanges again');
    assert.equal(INFERENCE_ERRORS.rate_limited.status, 429, 'clients back off');
    assert.equal(INFERENCE_ERRORS.endpoint_not_allowed.status, 404);
    for (const code of ['response_tampered', 'response_downgrade', 'stream_truncated'] as const)
      assert.equal(INFERENCE_ERRORS[code].from, 'client-proxy');
  });

  it('reads the code of a body from this table, and nothing from other error bodies', () => {
    assert.equal(inferenceErrorCode(inferenceErrorResponse({ code: 'unknown_secret' }).body), 'unknown_secret');
    assert.equal(inferenceErrorCode({ error: { code: 'context_length_exceeded' } }), undefined);
    assert.equal(inferenceErrorCode({ error: { code: 'toString' } }), undefined);
    assert.equal(inferenceErrorCode('unknown_secret'), undefined);
    assert.equal(inferenceErrorCode(null), undefined);
  });
});
