/** Byte helpers for evidence fields: lower-case hex (the claims format) and comparison. */

/** Lower-case hex of `b`. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Whether two byte strings are equal (evidence fields are public, so timing does not matter). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
