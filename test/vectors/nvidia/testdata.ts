/** Reads the shared real GPU evidence (../shared/testdata/gpu relative to the project root), unmodified. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const gpuDir = fileURLToPath(new URL('../../../../shared/testdata/gpu/', import.meta.url));

export function gpuPath(rel: string): string {
  return gpuDir + rel;
}

/** A report stored as hex text. */
export function reportBytes(rel: string): Uint8Array {
  return new Uint8Array(Buffer.from(readFileSync(gpuPath(rel), 'utf8').trim(), 'hex'));
}

export function text(rel: string): string {
  return readFileSync(gpuPath(rel), 'utf8');
}

export const NONCE_550 = '931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb';
export const NONCE_535 = '27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66';
/** The PROD RIM signer certificates expired in mid-2025; the 535 mismatch twin's signer starts 2025-05-24. */
export const RIM_TIME = new Date('2025-06-01T00:00:00Z');
export const NOW = new Date('2026-01-15T00:00:00Z');

export function hexBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
