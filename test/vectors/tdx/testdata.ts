/** The real TDX evidence in test/vectors/tdx (sources: test/vectors/README.md). */
import { vectorPath } from '../paths.ts';

export { vectorBytes, vectorPath } from '../paths.ts';

/** Absolute path of a file in test/vectors/tdx. */
export function fixturePath(name: string): string {
  return vectorPath(`tdx/${name}`);
}

export const SPR_QUOTE = 'tdx/spr-v4/quote.dat';
export const COLLATERAL_DIR = 'tdx/collateral/';
/** A time when the PCK chain, the TCB Signing certificate and all 2023 collateral samples are valid. */
export const COLLATERAL_TIME = new Date('2023-06-20T00:00:00Z');
