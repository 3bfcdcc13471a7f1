/**
 * One way to read errors, for every layer: what an error says (errorMessage) and which HTTP status
 * an API server answered (isNotFound, isConflict). @kubernetes/client-node throws ApiException with
 * `code` and the raw Status JSON in `body`; this module reads that shape structurally, so it
 * imports nothing and the pure attestation code may use it too.
 */

/** The HTTP status of a failed API call (client-node ApiException), if the error carries one. */
export function statusCode(err: unknown): number | undefined {
  const code = err && typeof err === 'object' && 'code' in err ? (err as { code: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusCode(err) === 404;
}

/** 409: a stale resourceVersion on update, or AlreadyExists on create. */
export function isConflict(err: unknown): boolean {
  return statusCode(err) === 409;
}

/**
 * What went wrong, in one line: for an API server error its status and the Status message (the
 * API server's own words, e.g. which admission webhook refused), otherwise the error's message.
 */
export function errorMessage(err: unknown): string {
  const code = statusCode(err);
  if (code !== undefined && err && typeof err === 'object' && 'body' in err) {
    const body = (err as { body: unknown }).body;
    try {
      const status = typeof body === 'string' ? JSON.parse(body) : body;
      if (status && typeof status === 'object' && 'message' in status)
        return `HTTP ${code}: ${String((status as { message: unknown }).message)}`;
    } catch {
      // not JSON: the code says enough
    }
    return `HTTP ${code}`;
  }
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}
