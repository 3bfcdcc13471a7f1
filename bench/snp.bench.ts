/**
 * SEV-SNP verification throughput on the real go-sev-guest Milan report (node bench/snp.bench.ts).
 *
 * - floor: a bare crypto.verify of the report signature with a ready KeyObject: no verifier can
 *   beat it, so the other rows are reported as ratios to it, measured in the same run;
 * - cold: verifySnp with no cache (VCEK parsed, AMD extensions read, chain to the pinned ARK
 *   verified every time);
 * - warm: verifySnp with an SnpEndorsementCache (chain checked once; validity, report
 *   parsing, signature and bindings every time);
 * - go-sev-guest: verify.SnpAttestation on the same files (bench/baselines/go-sev-guest), when
 *   `go` is on PATH; it parses and verifies the chain every time, like "cold".
 *
 * Env: SNP_BENCH_SECONDS (per measurement, default 3), SNP_BENCH_ROUNDS (default 3; the median
 * is reported, since the machine may be shared).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SnpEndorsementCache } from '../src/attestation/snp/endorsement-cache.ts';
import { parseSnpReport, signedBytes } from '../src/attestation/snp/report.ts';
import { p1363Signature } from '../src/attestation/snp/signature.ts';
import { verifySnp } from '../src/attestation/snp/verify.ts';
import { errorMessage } from '../src/errors.ts';
import { rate as measureRate, median } from './lib/rate.ts';

const SECONDS = Number(process.env.SNP_BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.SNP_BENCH_ROUNDS ?? 3);
const AT = new Date('2025-06-01T00:00:00Z');
const dir = new URL('../test/vectors/snp/milan-gosevguest/', import.meta.url);
const reportFile = fileURLToPath(new URL('report.bin', dir));
const vcekFile = fileURLToPath(new URL('vcek.der', dir));
const report = new Uint8Array(readFileSync(reportFile));
const vcek = new Uint8Array(readFileSync(vcekFile));

const rate = (f: () => boolean): number => measureRate(SECONDS, f, 20);

// Floor: the signature alone, with everything prepared outside the loop.
const key = createPublicKey(new X509Certificate(vcek).publicKey.export({ format: 'pem', type: 'spki' }));
const parsed = parseSnpReport(report);
const sig = p1363Signature(parsed.signatureR, parsed.signatureS)!;
const signed = signedBytes(parsed);
const floor = () => verify('sha384', signed, { key, dsaEncoding: 'ieee-p1363' }, sig);
const cold = () => verifySnp({ report, certificates: vcek }, { at: AT }).verified;
const cache = new SnpEndorsementCache();
const warm = () => verifySnp({ report, certificates: vcek }, { at: AT, cache }).verified;

function goBaseline(): number | null {
  if (spawnSync('go', ['version']).status !== 0) return null;
  const bin = join(tmpdir(), 'attestor-go-sev-guest-bench');
  const src = fileURLToPath(new URL('baselines/go-sev-guest/', import.meta.url));
  try {
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: src, stdio: ['ignore', 'ignore', 'inherit'] });
    return Number(
      execFileSync(bin, [reportFile, vcekFile, String(SECONDS), AT.toISOString()], { encoding: 'utf8' }).trim(),
    );
  } catch (err) {
    console.error(`go-sev-guest baseline skipped: ${errorMessage(err)}`);
    return null;
  }
}

const rows: Record<string, number[]> = { floor: [], cold: [], warm: [], 'go-sev-guest': [] };
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved, so that load changes on a shared machine hit every row alike.
  rows.floor!.push(rate(floor));
  rows.cold!.push(rate(cold));
  rows.warm!.push(rate(warm));
  const go = goBaseline();
  if (go !== null) rows['go-sev-guest']!.push(go);
}

const floorRate = median(rows.floor!);
console.log(`# SEV-SNP verification, milan-gosevguest report + VCEK`);
console.log(
  `# node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${SECONDS}s x ${ROUNDS} rounds, median`,
);
console.log('| measurement | verifications/s | ratio to floor | rounds |');
console.log('|---|---:|---:|---|');
for (const [name, xs] of Object.entries(rows)) {
  if (xs.length === 0) continue;
  const m = median(xs);
  console.log(
    `| ${name} | ${m.toFixed(0)} | ${(m / floorRate).toFixed(3)} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`,
  );
}
