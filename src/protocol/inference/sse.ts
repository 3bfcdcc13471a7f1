/**
 * Server-sent events as both proxies read them (WHATWG HTML, "Interpreting an event stream"):
 * text arrives in pieces, lines end with LF, CRLF or CR, `data:` lines of one event join with LF,
 * a blank line ends the event, comments (`:`) and other fields are skipped. Only `data` matters
 * here: OpenAI streams carry everything in it. Pure and incremental.
 */

export class SseReader {
  #buffer = '';
  #data: string[] = [];
  #pendingCr = false;

  /** The data of every event that `text` completes. */
  push(text: string): string[] {
    let input = text;
    if (this.#pendingCr && input.startsWith('\n')) input = input.slice(1);
    this.#pendingCr = false;
    this.#buffer += input;
    const events: string[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (match === null) break;
      // A CR at the very end may be the first half of a CRLF that the next piece completes.
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) this.#pendingCr = true;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const event = this.#line(line);
      if (event !== undefined) events.push(event);
    }
    return events;
  }

  /** At the end of the stream: an event without its blank line is dropped, as the standard says. */
  end(): { incomplete: boolean } {
    const incomplete = this.#buffer.length > 0 || this.#data.length > 0;
    this.#buffer = '';
    this.#data = [];
    return { incomplete };
  }

  #line(line: string): string | undefined {
    if (line === '') {
      if (this.#data.length === 0) return undefined;
      const data = this.#data.join('\n');
      this.#data = [];
      return data;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    return undefined;
  }
}

/** One event's wire form. */
export function sseEvent(data: string): string {
  // JSON has no raw line breaks: one data line, no intermediate array.
  if (!data.includes('\n')) return `data: ${data}\n\n`;
  return `${data
    .split('\n')
    .map((line) => `data: ${line}`)
    .join('\n')}\n\n`;
}
