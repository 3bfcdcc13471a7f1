/** Measuring helpers the benchmarks share. */

/**
 * Calls f for about `seconds` (after a few warm-up calls, in batches so the clock is read
 * rarely) and returns calls per second. f returns false when its work failed: a broken benchmark
 * must not report a rate.
 */
export function rate(seconds: number, f: () => boolean, batch = 10): number {
  for (let i = 0; i < 2 * batch; i++) if (!f()) throw new Error('benchmark body failed');
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < batch; i++) if (!f()) throw new Error('benchmark body failed');
    n += batch;
  }
  return (n * 1000) / (performance.now() - start);
}

/** The same for asynchronous work. */
export async function rateAsync(seconds: number, f: () => Promise<boolean> | boolean, batch = 5): Promise<number> {
  for (let i = 0; i < batch; i++) if (!(await f())) throw new Error('benchmark body failed');
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < batch; i++) if (!(await f())) throw new Error('benchmark body failed');
    n += batch;
  }
  return (n * 1000) / (performance.now() - start);
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
