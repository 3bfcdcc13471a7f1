/** The real GPU evidence in test/vectors/nvidia (sources: test/vectors/README.md). */
import { readFileSync } from 'node:fs';
import { vectorPath } from '../paths.ts';

/** Absolute path of a file in test/vectors/nvidia. */
export function gpuPath(rel: string): string {
  return vectorPath(`nvidia/${rel}`);
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

/**
 * The vectors hold no OCSP answers for these chains (NVIDIA's responder answers live, and
 * an answer fetched today would not be current at NOW or RIM_TIME), so tests of authenticity opt
 * out of revocation explicitly; revocation is tested on simulated chains and against a real
 * responder on loopback (test/unit/collateral/ocsp-fetch.test.ts). Strict runs on these vectors
 * show the opt-out is needed: reports.test.ts 'refuses ... without OCSP answers'.
 */
export const NO_OCSP_IN_TESTDATA = { revocation: { requireAnswers: false } } as const;
/** hopper-535 comes from firmware that reports no FWID: tests of it opt out of the FWID requirement. */
export const OLD_FIRMWARE = { requireFwid: false } as const;
