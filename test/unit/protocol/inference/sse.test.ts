// Reading server-sent events as they arrive in pieces: the proxies see every event's data once,
// whatever the chunking, line endings, comments or multi-line data.
import assert from 'node:assert/strict';
import { SseReader, sseEvent } from '../../../../src/protocol/inference/sse.ts';

describe('server-sent events reader', () => {
  it('yields the data of each event, however the text is cut into pieces', () => {
    const text = `${sseEvent('{"a":1}')}: a comment\n\nevent: x\nid: 7\ndata: {"b":2}\n\n${sseEvent('[DONE]')}`;
    for (let size = 1; size <= text.length; size++) {
      const reader = new SseReader();
      const events: string[] = [];
      for (let i = 0; i < text.length; i += size) events.push(...reader.push(text.slice(i, i + size)));
      assert.deepEqual(events, ['{"a":1}', '{"b":2}', '[DONE]'], `pieces of ${size}`);
      assert.deepEqual(reader.end(), { incomplete: false });
    }
  });

  it('reads CRLF and CR line endings, a CRLF split between pieces, data without a space, and multi-line data', () => {
    const reader = new SseReader();
    assert.deepEqual(reader.push('data:one\r'), []);
    assert.deepEqual(reader.push('\n\r\ndata: two\rdata: lines\r\r'), ['one', 'two\nlines']);
    assert.equal(sseEvent('two\nlines'), 'data: two\ndata: lines\n\n');
  });

  it('reports an event that the stream cut before its blank line, and does not yield it', () => {
    const reader = new SseReader();
    assert.deepEqual(reader.push('data: {"a":1}\n\ndata: {"cut'), ['{"a":1}']);
    assert.deepEqual(reader.end(), { incomplete: true });
  });
});
