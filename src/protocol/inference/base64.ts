/**
 * Base64 fields of the inference wire format: standard alphabet with padding (RFC 4648 §4), and
 * only the canonical spelling of the bytes, so that one value has one wire form. Pure.
 */

/** The bytes of `value`, or an error naming `field` when it is not canonical base64 of an allowed length. */
export function base64Field(
  value: unknown,
  field: string,
  length: { exactly: number } | { min: number; max: number },
): Uint8Array | { error: string } {
  if (typeof value !== 'string') return { error: `${field} is not a string` };
  const max = 'exactly' in length ? length.exactly : length.max;
  if (value.length > Math.ceil(max / 3) * 4) return { error: `${field} is longer than ${max} bytes` };
  const bytes = Buffer.from(value, 'base64');
  if (bytes.toString('base64') !== value) return { error: `${field} is not canonical base64` };
  if ('exactly' in length ? bytes.length !== length.exactly : bytes.length < length.min)
    return {
      error: `${field} is ${bytes.length} bytes, not ${'exactly' in length ? length.exactly : `at least ${length.min}`}`,
    };
  return new Uint8Array(bytes);
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
