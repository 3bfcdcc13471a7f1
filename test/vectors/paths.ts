/** Where the real evidence vectors live: test/vectors/ (each one's source and licence: README.md there). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/vectors/ as a directory URL. */
export const VECTORS = new URL('./', import.meta.url);

/** Absolute path of a vector file, e.g. vectorPath('snp/milan-gosevguest/report.bin'). */
export function vectorPath(relative: string): string {
  return fileURLToPath(new URL(relative, VECTORS));
}

/** The bytes of a vector file. */
export function vectorBytes(relative: string): Uint8Array {
  return new Uint8Array(readFileSync(vectorPath(relative)));
}
