/** Parsers for command-line values, with errors that say what was expected. */
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../api/duration.ts';

export function durationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) throw new InvalidArgumentError(`expected a duration such as 15s or 2m, got "${value}"`);
  return ms;
}

export function addressOption(value: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`expected host:port such as 0.0.0.0:8080, got "${value}"`);
  return { host: m[1] === '' ? '0.0.0.0' : m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function positiveIntOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
  return n;
}

/** A rate as <burst>/<interval>: that many at once, then one more per interval (e.g. 20/3s). */
export function rateOption(value: string): { burst: number; intervalMs: number } {
  const m = /^(\d+)\/(.+)$/.exec(value);
  const burst = m ? Number(m[1]) : NaN;
  const intervalMs = m ? parseDuration(m[2]!) : undefined;
  if (!m || !(burst >= 1) || !intervalMs)
    throw new InvalidArgumentError(`expected <burst>/<interval> such as 20/3s, got "${value}"`);
  return { burst, intervalMs };
}

/** A comma-separated list of https URLs (empty entries dropped). */
export function urlListOption(value: string): string[] {
  const urls = value
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0);
  for (const u of urls) {
    let url: URL | undefined;
    try {
      url = new URL(u);
    } catch {
      url = undefined;
    }
    if (url?.protocol !== 'https:')
      throw new InvalidArgumentError(`expected https URLs separated by commas, got "${u}"`);
  }
  return urls;
}
