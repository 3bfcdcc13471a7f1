/**
 * The local API server's audit log (control-plane-components.ts writes it): which stored objects a
 * user wrote between two byte offsets. Read by the tests and the benchmark that count the
 * operator's writes.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  /** The API server's answer: 409 for a write refused on a stale resourceVersion. */
  responseStatus?: { code?: number };
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
/** Reviews are created but never stored: the API server answers them (authentication, authorization). */
const NOT_STORED = new Set([
  'tokenreviews',
  'subjectaccessreviews',
  'selfsubjectaccessreviews',
  'localsubjectaccessreviews',
]);

/**
 * `username`'s writes of stored objects (Events excluded) between byte `from` and byte `to` of the
 * log, refused ones included (each was a request the API server had to answer).
 */
export function auditedWrites(path: string, from: number, to: number, username: string): AuditEvent[] {
  const buffer = Buffer.alloc(to - from);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, from);
  } finally {
    closeSync(fd);
  }
  return buffer
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        e.user.username === username &&
        WRITE_VERBS.has(e.verb) &&
        e.objectRef?.resource !== 'events' &&
        !NOT_STORED.has(e.objectRef?.resource ?? ''),
    );
}
