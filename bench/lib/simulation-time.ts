/** Time spent making simulated evidence, which real hardware makes in firmware, measured apart. */
import type { SimulatedCvmSource, SimulatedGpuControl } from '../../src/agent/evidence/simulated.ts';

/**
 * Wraps the collect calls of a simulated CVM and its GPUs so that the time they take adds up;
 * returns a function that reads the total so far, in milliseconds.
 */
export function timeSimulation(cvm: SimulatedCvmSource, gpus: SimulatedGpuControl): () => number {
  let simulated = 0;
  const timed = async <T>(f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      simulated += performance.now() - t;
    }
  };
  const collectCvm = cvm.collect.bind(cvm);
  const collectGpus = gpus.collect.bind(gpus);
  cvm.collect = (reportData) => timed(() => collectCvm(reportData));
  gpus.collect = (nonce) => timed(() => collectGpus(nonce));
  return () => simulated;
}
