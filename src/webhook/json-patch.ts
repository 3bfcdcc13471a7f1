/** RFC 6902 JSON patch operations and RFC 6901 pointers, as mutating webhooks return them. */

export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/** One reference token of a JSON pointer: `~` becomes `~0` and `/` becomes `~1` (in that order). */
export function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

export function pointer(...tokens: string[]): string {
  return tokens.map((t) => '/' + escapePointerToken(t)).join('');
}
