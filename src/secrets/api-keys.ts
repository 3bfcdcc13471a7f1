/**
 * The key exchange's API-key hook: a file of accepted keys' SHA-256 (hex, one a line, `#`
 * comments), so that the file holds no key. A request carries `Authorization: Bearer <key>`.
 * Without a file the exchange is open (a gateway in front usually authenticates). Pure but for
 * reading the file.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

export class ApiKeys {
  readonly #hashes: Buffer[];

  constructor(hashes: readonly string[]) {
    this.#hashes = hashes.map((h) => Buffer.from(h, 'hex'));
  }

  /** The hashes of a file's text; throws naming the line of anything that is not 64 hex digits. */
  static parse(text: string): ApiKeys {
    const hashes: string[] = [];
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      if (!/^[0-9a-fA-F]{64}$/.test(line)) throw new Error(`line ${i + 1} is not a SHA-256 in hex`);
      hashes.push(line.toLowerCase());
    });
    if (hashes.length === 0) throw new Error('the API key file lists no key hash');
    return new ApiKeys(hashes);
  }

  static fromFile(path: string): ApiKeys {
    try {
      return ApiKeys.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`${path}: ${(err as Error).message}`);
    }
  }

  /** Whether the `Authorization` header carries an accepted key. */
  accepts(authorization: string | undefined): boolean {
    const match = /^Bearer (\S+)$/.exec(authorization ?? '');
    if (!match) return false;
    const hash = createHash('sha256')
      .update(match[1] as string)
      .digest();
    let found = false;
    for (const h of this.#hashes) found = timingSafeEqual(h, hash) || found;
    return found;
  }
}
