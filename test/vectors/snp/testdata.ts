/** The real SEV-SNP evidence in ../shared/testdata (read in place, never copied). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** /work/shared/testdata, resolved from this file: <project>/test/vectors/snp -> <project>/../shared/testdata. */
export const TESTDATA = new URL('../../../../shared/testdata/', import.meta.url);

export const testdataPath = (relative: string): string => fileURLToPath(new URL(relative, TESTDATA));

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
    report: new Uint8Array(readFileSync(new URL(`snp/${name}/report.bin`, TESTDATA))),
    vcek: new Uint8Array(readFileSync(new URL(`snp/${name}/${vcekFile}`, TESTDATA))),
    vcekFile: testdataPath(`snp/${name}/${vcekFile}`),
  };
}

export const gosevguest = (): SnpVector => vector('milan-gosevguest', 'vcek.der');
export const trustee = (): SnpVector => vector('milan-trustee', 'vcek.der');
export const negativeChipId = (): SnpVector => vector('negative-chipid', 'vcek.pem');

/** A time inside every vector certificate's validity (VCEKs 2023-2029, AMD roots 2020-2045). */
export const VECTOR_TIME = new Date('2025-06-01T00:00:00Z');
