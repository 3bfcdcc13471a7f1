/**
 * NVIDIA GPU verification throughput on the real hopper-535 report (node bench/gpu.bench.ts).
 *
 * - floor: a bare crypto.verify of the report signature with a ready KeyObject: no verifier can
 *   beat it, so the other rows are reported as ratios to it, measured in the same run;
 * - cold: checkGpuReport with no cache and the process-wide memos forgotten (5 certificates parsed, chain to the pinned NVIDIA Device
 *   Identity CA verified, report parsed and its signature verified) + comparison of its
 *   measurements with the (already parsed and verified) VBIOS RIM;
 * - warm: the same with a VerificationCache and the process memos (chain parsed and checked once; validity, report
 *   parsing, FWID, signature and the RIM comparison every time);
 * - appraise cold / warm: verifyGpu and appraiseGpu with the VBIOS RIM as collateral: cold parses the RIM
 *   XML and verifies its XML signature and signer chain every time; warm takes both from the cache;
 * - nvtrust: NVIDIA's Python local verifier (nv-local-gpu-verifier from PyPI, in
 *   bench/baselines/.venv) timing its report parsing, signature and chain verification on the same
 *   files, when that venv exists (bench/baselines/nvtrust-setup.sh makes it).
 *
 * Env: GPU_BENCH_SECONDS (per measurement, default 3), GPU_BENCH_ROUNDS (default 3; the median
 * is reported, since the machine may be shared).
 */
import { execFileSync } from 'node:child_process';
import { verify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { appraiseGpu, gpuPolicy } from '../src/attestation/nvidia/appraise.ts';
import { clearProcessMemos, VerificationCache } from '../src/attestation/nvidia/cache.ts';
import { parseCertificateChain } from '../src/attestation/nvidia/certificates.ts';
import { compareMeasurements } from '../src/attestation/nvidia/measurements.ts';
import { checkGpuReport } from '../src/attestation/nvidia/report-check.ts';
import { parseRim } from '../src/attestation/nvidia/rim.ts';
import { parseGpuReport } from '../src/attestation/nvidia/spdm.ts';
import { verifyGpu } from '../src/attestation/nvidia/verify.ts';
import type { GpuReferenceValues } from '../src/attestation/reference-values.ts';
import { errorMessage } from '../src/errors.ts';
import { median, rateAsync } from './lib/rate.ts';

const SECONDS = Number(process.env.GPU_BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.GPU_BENCH_ROUNDS ?? 3);
const AT = new Date('2025-06-01T00:00:00Z');
const dir = new URL('../test/vectors/nvidia/', import.meta.url);
const file = (rel: string): string => fileURLToPath(new URL(rel, dir));
const report = new Uint8Array(Buffer.from(readFileSync(file('hopper-535/report.hex'), 'utf8').trim(), 'hex'));
const certificateChain = readFileSync(file('hopper-535/certs.pem'), 'utf8');
const rimXml = readFileSync(file('rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml'), 'utf8');
const nonce = report.slice(4, 36);

const rate = (f: () => boolean | Promise<boolean>): Promise<number> => rateAsync(SECONDS, f, 5);

// Floor: the signature alone, with everything prepared outside the loop.
const parsed = parseGpuReport(report);
const key = parseCertificateChain(certificateChain)[0]!.x509.publicKey;
const floor = (): boolean =>
  verify('sha384', parsed.signedBytes, { key, dsaEncoding: 'ieee-p1363' }, parsed.response.signature);

const rim = parseRim(rimXml);
const evidence = { report, certificateChain };
// hopper-535's firmware reports no FWID, and no OCSP answers for its chain are at hand: the bench
// opts out of both, as a Manifest would have to for this GPU (the strict defaults refuse it).
const policy = { requireFwid: false, revocation: { requireAnswers: false } };
const reportAndRim = (cache?: VerificationCache) => (): boolean => {
  // Cold means cold: without a cache, the process-wide memos (links, chains) are forgotten too.
  if (!cache) clearProcessMemos();
  const v = checkGpuReport(evidence, { at: AT, policy, ...(cache ? { cache } : {}) });
  return v.reasons.length === 0 && compareMeasurements(v.report!, { vbios: rim }).mismatched.length === 0;
};
const reference: GpuReferenceValues = {
  architectures: ['HOPPER'],
  driverVersions: ['535.86.09'],
  vbiosVersions: ['96.00.5E.00.01'],
  requireRIMs: false,
  requireFWID: false,
  ocsp: { required: false },
};
const appraise = (cache?: VerificationCache) => async (): Promise<boolean> => {
  if (!cache) clearProcessMemos();
  const verified = await verifyGpu(evidence, {
    at: AT,
    collateral: { rims: [{ xml: rimXml }] },
    policy: gpuPolicy(reference),
    ...(cache ? { cache } : {}),
  });
  const v = appraiseGpu(verified, reference, { nonce });
  return (
    v.verified &&
    v.claims.nvidia['x-nvidia-gpu-vbios-rim-signature-verified'] === true &&
    v.claims.measurements?.matched === 12
  );
};

function nvtrustBaseline(): number | null {
  const python = fileURLToPath(new URL('baselines/.venv/bin/python', import.meta.url));
  const script = fileURLToPath(new URL('baselines/nvtrust_bench.py', import.meta.url));
  if (!existsSync(python)) return null;
  try {
    // cwd: the package writes verifier.log into the working directory on import.
    return Number(
      execFileSync(python, [script, file('hopper-535/report.hex'), file('hopper-535/certs.pem'), String(SECONDS)], {
        encoding: 'utf8',
        cwd: tmpdir(),
      })
        .trim()
        .split('\n')
        .pop(),
    );
  } catch (err) {
    console.error(`nvtrust baseline skipped: ${errorMessage(err)}`);
    return null;
  }
}

const rows: Record<string, number[]> = {
  floor: [],
  cold: [],
  warm: [],
  'appraise cold (RIM XML signature each time)': [],
  'appraise warm': [],
  'nvtrust (Python)': [],
};
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved, so that load changes on a shared machine hit every row alike.
  rows.floor!.push(await rate(floor));
  rows.cold!.push(await rate(reportAndRim()));
  rows.warm!.push(await rate(reportAndRim(new VerificationCache())));
  rows['appraise cold (RIM XML signature each time)']!.push(await rate(appraise()));
  rows['appraise warm']!.push(await rate(appraise(new VerificationCache())));
  const py = nvtrustBaseline();
  if (py !== null) rows['nvtrust (Python)']!.push(py);
}

const floorRate = median(rows.floor!);
console.log(
  `# GPU verification, hopper-535 (${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${ROUNDS} rounds of ${SECONDS} s, median)`,
);
console.log('| what | verifications/s | ratio to floor |');
console.log('|---|---:|---:|');
for (const [name, xs] of Object.entries(rows)) {
  if (xs.length === 0) {
    console.log(`| ${name} | not run | |`);
    continue;
  }
  const m = median(xs);
  console.log(`| ${name} | ${m.toFixed(0)} | ${(m / floorRate).toFixed(3)} |`);
}
