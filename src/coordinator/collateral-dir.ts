/**
 * Collateral the Coordinator reads from directories, for clusters without a path to AMD's KDS,
 * Intel's PCS or NVIDIA's RIM service (air-gapped): the operator mounts them from ConfigMaps or
 * a volume that a separate job keeps fresh.
 *
 * SEV-SNP: a VCEK/VLEK (PEM or DER, with or without its ASK/ARK) per chip, named after the
 * report's CHIP_ID in lower-case hex, optionally with its REPORTED_TCB:
 *   <chip-id>-<reported-tcb, 16 hex>.pem|.der   (the one KDS issued for that TCB: preferred)
 *   <chip-id>.pem|.der
 * Only used when the evidence brings no certificate table (configfs-tsm auxblob).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toPem } from '../attestation/pem.ts';
import { parseSnpReport } from '../attestation/snp/index.ts';
import { ParseError } from '../attestation/verdict.ts';

export function snpCertificatesFromDir(dir: string): (report: Uint8Array) => string | undefined {
  return (reportBytes) => {
    let chip: string;
    let tcb: string;
    try {
      const report = parseSnpReport(reportBytes);
      chip = Buffer.from(report.chipId).toString('hex');
      tcb = report.reportedTcb.toString(16).padStart(16, '0');
    } catch (err) {
      if (err instanceof ParseError) return undefined; // the verifier reports the parse failure
      throw err;
    }
    for (const name of [`${chip}-${tcb}.pem`, `${chip}-${tcb}.der`, `${chip}.pem`, `${chip}.der`]) {
      const path = join(dir, name);
      if (!existsSync(path)) continue;
      const data = readFileSync(path);
      return name.endsWith('.pem') ? data.toString('utf8') : toPem(data);
    }
    return undefined;
  };
}
