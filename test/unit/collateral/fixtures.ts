/** Shared pieces of the collateral tests: the real vendor files, temp caches and a fake vendor. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseSnpReport } from '../../../src/attestation/snp/report.ts';
import type { FetchFunction, HttpAnswer } from '../../../src/collateral/http.ts';
import { vectorBytes, vectorPath } from '../../vectors/paths.ts';

export { vectorBytes, vectorPath } from '../../vectors/paths.ts';

/** A time when the 2023 Intel collateral samples are current (TCB info until 2023-07-18, PCK CRL until 2023-07-08). */
export const COLLATERAL_TIME = new Date('2023-06-20T00:00:00Z');

/** The issuer chain PCS sent with the TCB info and QE identity samples (see test/vectors/README.md). */
export const TCB_SIGNING_CHAIN = readFileSync(vectorPath('tdx/tcbinfo-issuer-chain.pem'), 'utf8');

export const MILAN_REPORT = vectorBytes('snp/milan-gosevguest/report.bin');
export const MILAN_VCEK = vectorBytes('snp/milan-gosevguest/vcek.der');
export const MILAN_CHIP = Buffer.from(parseSnpReport(MILAN_REPORT).chipId).toString('hex');
export const MILAN_TCB = parseSnpReport(MILAN_REPORT).reportedTcb;
export const MILAN_VCEK_URL = `https://kdsintf.amd.com/vcek/v1/Milan/${MILAN_CHIP}?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68`;
export const MILAN_VCEK_FILE = `snp/vcek/Milan/${MILAN_CHIP}-4405000000000002.der`;

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `attestor-${name}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Writes a file into a cache directory, creating folders. */
export function put(dir: string, rel: string, data: Uint8Array | string): void {
  mkdirSync(dirname(join(dir, rel)), { recursive: true });
  writeFileSync(join(dir, rel), data);
}

/** Every file under `dir`, relative, sorted: what a test expects the store to have written. */
export function filesIn(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

export function answer(body: Uint8Array | string, status = 200, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers, body: typeof body === 'string' ? new Uint8Array(Buffer.from(body)) : body };
}

/**
 * A vendor the test defines URL by URL. Every request is recorded; a URL without a route fails
 * the test (the store would only report it as a failed lookup, which a test might not look at).
 */
export class FakeVendor {
  readonly calls: string[] = [];
  readonly #routes = new Map<string, () => Promise<HttpAnswer>>();
  readonly #unexpected: string[] = [];

  route(url: string, reply: HttpAnswer | (() => Promise<HttpAnswer>)): this {
    this.#routes.set(url, typeof reply === 'function' ? reply : async () => reply);
    return this;
  }

  readonly fetch: FetchFunction = async (url) => {
    this.calls.push(url);
    const reply = this.#routes.get(url);
    if (!reply) {
      this.#unexpected.push(url);
      throw new Error(`no route for ${url}`);
    }
    return reply();
  };

  assertNoUnexpectedCalls(): void {
    assert.deepEqual(this.#unexpected, [], 'the store asked for URLs the test did not expect');
  }
}
