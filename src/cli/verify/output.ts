/**
 * How `attestor verify ...` reports: exit 0 = authentic and matching, 1 = refused,
 * 2 = unusable input (unreadable file, bad flag). With --json one object on stdout:
 * {"verified": bool, "reasons": [{check, kind, message}], "claims": {...}}, where kind says whether
 * the check is about authenticity or compares authentic evidence with reference values.
 */
import { readFileSync } from 'node:fs';
import type { Verdict } from '../../attestation/verdict.ts';
import { errorMessage } from '../../errors.ts';
import { UnusableInput } from '../errors.ts';
import { type Summary, summaryText } from './summary.ts';

export const EXIT_VERIFIED = 0;
export const EXIT_REFUSED = 1;
export const EXIT_UNUSABLE = 2;

/** An input the command cannot work with (missing file, bad hex, bad flag value): exit 2. */
export { UnusableInput } from '../errors.ts';

/** The verdict: with --json every claim as one object, else a few lines (summary.ts) after VERIFIED or REFUSED and the reasons. */
export function printVerdict(
  v: Verdict<unknown>,
  json: boolean,
  out: (s: string) => void = (s) => process.stdout.write(s),
  summary?: Summary,
): number {
  if (json) {
    out(JSON.stringify({ verified: v.verified, reasons: v.reasons, claims: v.claims }, bigintToString, 2) + '\n');
  } else {
    out(v.verified ? 'VERIFIED\n' : 'REFUSED\n');
    for (const r of v.reasons) out(`  - [${r.check}] ${r.message}\n`);
    if (summary) out(summaryText(summary));
  }
  return v.verified ? EXIT_VERIFIED : EXIT_REFUSED;
}

function bigintToString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/** Reads evidence that may be raw bytes or hex text (whitespace and an optional 0x ignored). */
export function readBytesOrHex(path: string): Uint8Array {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (err) {
    throw new UnusableInput(`cannot read ${path}: ${errorMessage(err)}`);
  }
  const text = data.toString('latin1').trim().replace(/^0x/i, '').replace(/\s+/g, '');
  if (text.length > 0 && text.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(text)) {
    return new Uint8Array(Buffer.from(text, 'hex'));
  }
  return new Uint8Array(data);
}

export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UnusableInput(`cannot read ${path}: ${errorMessage(err)}`);
  }
}

/** Parses --at; absent means now. */
export function parseAt(at: string | undefined): Date {
  if (at === undefined) return new Date();
  const d = new Date(at);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(at))
    throw new UnusableInput(`--at: expected an RFC 3339 time such as 2025-01-31T12:00:00Z, got "${at}"`);
  return d;
}

export function parseHex(flag: string, value: string, bytes?: number): Uint8Array {
  const v = value.trim().replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]*$/.test(v) || v.length % 2 !== 0) throw new UnusableInput(`${flag}: expected hex, got "${value}"`);
  if (bytes !== undefined && v.length !== bytes * 2)
    throw new UnusableInput(
      `${flag}: expected ${bytes} bytes (${bytes * 2} hex characters), got ${v.length / 2} bytes`,
    );
  return new Uint8Array(Buffer.from(v, 'hex'));
}
