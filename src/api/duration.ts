/** Go-style durations ("90s", "5m", "1h30m", "250ms"), as Kubernetes users write them. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, value, , unit] of text.matchAll(/([0-9]+(\.[0-9]+)?)(ms|s|m|h)/g))
    total += Number(value) * UNIT_MS[unit!]!;
  return total;
}
