/**
 * Typed reads from untrusted JSON (Intel PCS collateral): every wrong type or missing field is a
 * ParseError with the collateral's check id and the field's path, never a TypeError.
 */
import type { CheckId } from '../check-registry.ts';
import { ParseError } from '../verdict.ts';

/** A JSON object with the path that led to it, for error messages. */
export class JsonObject {
  readonly #value: Record<string, unknown>;
  readonly #path: string;
  readonly #check: CheckId;

  constructor(value: unknown, path: string, check: CheckId) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new ParseError(check, `${path} is not an object`);
    this.#value = value as Record<string, unknown>;
    this.#path = path;
    this.#check = check;
  }

  has(key: string): boolean {
    return this.#value[key] !== undefined;
  }

  object(key: string): JsonObject {
    return new JsonObject(this.#value[key], `${this.#path}.${key}`, this.#check);
  }

  objects(key: string): JsonObject[] {
    const v = this.#value[key];
    if (!Array.isArray(v)) throw new ParseError(this.#check, `${this.#path}.${key} is not an array`);
    return v.map((item, i) => new JsonObject(item, `${this.#path}.${key}[${i}]`, this.#check));
  }

  string(key: string): string {
    const v = this.#value[key];
    if (typeof v !== 'string') throw new ParseError(this.#check, `${this.#path}.${key} is not a string`);
    return v;
  }

  strings(key: string): string[] {
    const v = this.#value[key];
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
      throw new ParseError(this.#check, `${this.#path}.${key} is not an array of strings`);
    return v as string[];
  }

  /** A non-negative integer no larger than `max`. */
  integer(key: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.#value[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
      throw new ParseError(this.#check, `${this.#path}.${key} is not an integer in 0..${max}`);
    return v;
  }

  /** Hex of exactly `bytes` bytes (either case), returned as bytes. */
  hex(key: string, bytes: number): Uint8Array {
    const s = this.string(key);
    if (s.length !== bytes * 2 || !/^[0-9a-fA-F]*$/.test(s))
      throw new ParseError(this.#check, `${this.#path}.${key} is not ${bytes} bytes of hex`);
    return new Uint8Array(Buffer.from(s, 'hex'));
  }

  /** An RFC 3339 time such as Intel writes ("2023-06-18T08:42:58Z"). */
  date(key: string): Date {
    const s = this.string(key);
    const d = new Date(s);
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) || Number.isNaN(d.getTime())) {
      throw new ParseError(this.#check, `${this.#path}.${key} is not an RFC 3339 time`);
    }
    return d;
  }
}
