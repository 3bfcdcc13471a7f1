/**
 * Shared simulated SEV-SNP evidence: simulators are created once per test process (RSA key
 * generation is the slow part) and reused by every SNP test file.
 */
import {
  createSnpSimulator,
  type SnpSimulator,
  type SnpSimulatorOptions,
} from '../../../../src/attestation/sim/snp.ts';

/** A time at which every simulated certificate is valid. */
export const AT = new Date('2026-06-01T00:00:00Z');

const simulators = new Map<string, Promise<SnpSimulator>>();

/** The simulator for these options, created on first use. Extra products use 2048-bit RSA to save time. */
export function simulator(options: SnpSimulatorOptions = {}): Promise<SnpSimulator> {
  const key = JSON.stringify(options);
  let sim = simulators.get(key);
  if (sim === undefined) {
    sim = createSnpSimulator(options);
    simulators.set(key, sim);
  }
  return sim;
}

/** The default fixture: Milan, VCEK, AMD-sized (RSA-4096) roots. */
export const milan = (): Promise<SnpSimulator> => simulator();
export const genoa = (): Promise<SnpSimulator> => simulator({ product: 'Genoa', rsaModulusLength: 2048 });
export const turin = (): Promise<SnpSimulator> => simulator({ product: 'Turin', rsaModulusLength: 2048 });
export const milanVlek = (): Promise<SnpSimulator> => simulator({ signingKey: 'vlek', rsaModulusLength: 2048 });

/** Fixed bytes of a given length, distinct per label. */
export function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill);
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
