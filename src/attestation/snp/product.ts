/**
 * Which AMD product (Milan, Genoa, Turin) produced a report. The product decides the TCB layout
 * and which ARK must sign the chain. Version 3+ reports carry the CPUID family/model; older ones
 * only say it through the VCEK's productName extension ("Milan-B0").
 */
import type { SnpProduct } from '../reference-values.ts';

export const SNP_PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];

/**
 * Product from the CPUID family and model bytes of a v3+ report, or null if not a known SNP part.
 * Families 19h (Zen 3/4) and 1Ah (Zen 5); KDS serves all models of a generation under one product
 * name (go-sev-guest abi.SevProductFromCpuid1Eax matches Milan 01h, Genoa 11h, Turin 02h exactly;
 * we accept the model ranges of the same generation, e.g. Genoa-derived Bergamo/Siena, A0h-AFh).
 */
export function productFromCpuid(family: number, model: number): SnpProduct | null {
  const modelHigh = model >> 4;
  if (family === 0x19) {
    if (modelHigh === 0x0) return 'Milan';
    if (modelHigh === 0x1 || modelHigh === 0xa) return 'Genoa';
    return null;
  }
  if (family === 0x1a && (modelHigh === 0x0 || modelHigh === 0x1)) return 'Turin';
  return null;
}

/** Product from a VCEK/VLEK productName such as "Milan-B0" or "Genoa"; null if unknown. */
export function productFromName(productName: string): SnpProduct | null {
  const line = productName.split('-')[0];
  return SNP_PRODUCTS.find((p) => p === line) ?? null;
}
