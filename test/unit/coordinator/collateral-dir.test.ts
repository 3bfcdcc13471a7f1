import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSnpReport, verifySnpReport } from '../../../src/attestation/snp/index.ts';
import { snpCertificatesFromDir } from '../../../src/coordinator/collateral-dir.ts';
import { vectorPath } from '../../vectors/paths.ts';

const vector = vectorPath('snp/milan-gosevguest');
const report = new Uint8Array(readFileSync(join(vector, 'report.bin')));

describe('SNP VCEKs from a collateral directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attestor-vceks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const chip = Buffer.from(parseSnpReport(report).chipId).toString('hex');

  it("finds the VCEK of the report's chip (DER), which then verifies the real report", () => {
    const lookup = snpCertificatesFromDir(dir);
    assert.equal(lookup(report), undefined);
    copyFileSync(join(vector, 'vcek.der'), join(dir, `${chip}.der`));
    const pem = lookup(report);
    assert.match(pem!, /^-----BEGIN CERTIFICATE-----/);
    assert.equal(
      verifySnpReport({ report, certificates: pem! }, { at: new Date('2025-06-01T00:00:00Z') }).verified,
      true,
    );
  });

  it('prefers the file for the reported TCB, and ignores what it cannot parse', () => {
    const tcb = parseSnpReport(report).reportedTcb.toString(16).padStart(16, '0');
    writeFileSync(join(dir, `${chip}-${tcb}.pem`), 'preferred');
    assert.equal(snpCertificatesFromDir(dir)(report), 'preferred');
    assert.equal(snpCertificatesFromDir(dir)(new Uint8Array(10)), undefined);
  });
});
