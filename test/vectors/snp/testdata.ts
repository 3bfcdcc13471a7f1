/** The real SEV-SNP evidence in test/vectors/snp (sources: test/vectors/README.md). */
import { vectorBytes, vectorPath } from '../paths.ts';

export { vectorBytes, vectorPath } from '../paths.ts';

export interface SnpVector {
  name: string;
  report: Uint8Array;
  /** The VCEK exactly as stored (DER or PEM). */
  vcek: Uint8Array;
  vcekFile: string;
}

function vector(name: string, vcekFile: string): SnpVector {
  return {
    name,
    report: vectorBytes(`snp/${name}/report.bin`),
    vcek: vectorBytes(`snp/${name}/${vcekFile}`),
    vcekFile: vectorPath(`snp/${name}/${vcekFile}`),
  };
}

export const gosevguest = (): SnpVector => vector('milan-gosevguest', 'vcek.der');
export const trustee = (): SnpVector => vector('milan-trustee', 'vcek.der');
export const negativeChipId = (): SnpVector => vector('negative-chipid', 'vcek.pem');

/** A time inside every vector certificate's validity (VCEKs 2023-2029, AMD roots 2020-2045). */
export const VECTOR_TIME = new Date('2025-06-01T00:00:00Z');
