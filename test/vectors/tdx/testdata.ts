/** Paths of the shared real evidence (../shared/testdata from the project root) and of this folder's fixtures. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const projectRoot = new URL('../../../', import.meta.url);
const shared = new URL('../shared/testdata/', projectRoot);

/** Absolute path of a file under ../shared/testdata. */
export function sharedPath(relative: string): string {
  return fileURLToPath(new URL(relative, shared));
}

/** Bytes of a file under ../shared/testdata. */
export function sharedBytes(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(sharedPath(relative)));
}

/** Absolute path of a fixture in test/vectors/tdx. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(name, import.meta.url));
}

export const SPR_QUOTE = 'tdx/spr-v4/quote.dat';
export const COLLATERAL_DIR = 'tdx/collateral/';
/** A time when the PCK chain, the TCB Signing certificate and all 2023 collateral samples are valid. */
export const COLLATERAL_TIME = new Date('2023-06-20T00:00:00Z');
