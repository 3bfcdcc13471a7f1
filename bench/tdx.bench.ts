/**
 * Intel TDX verification throughput on the real go-tdx-guest SPR quote (node bench/tdx.bench.ts).
 *
 * - floor: a bare crypto.verify of the quote signature (P-256, SHA-256) with a ready KeyObject:
 *   no verifier can beat it, so the other rows are ratios to it, measured in the same run;
 * - cold: verifyTdx with no cache and no collateral (let pass: authenticity only; PEM
 *   decoded, three certificates parsed, PCK extension read, chain to the pinned Intel root
 *   verified, then quote and QE report signatures, every time);
 * - warm: verifyTdx with a TdxVerifierCache (chain verified once; parsing, validity at the
 *   given time, both signatures and the QE report binding every time);
 * - cold/warm + collateral: the same with Intel's TCB info, QE identity, PCK CRL and root CRL
 *   samples (their signatures, issuer chain, freshness and TCB evaluation every time);
 * - go-tdx-guest: verify.RawTdxQuote on the same quote (bench/baselines/go-tdx-guest), when `go`
 *   is on PATH; no collateral, and it parses and verifies the chain every time, like "cold".
 *
 * Env: TDX_BENCH_SECONDS (per measurement, default 3), TDX_BENCH_ROUNDS (default 3; the median
 * is reported, since the machine may be shared).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TdxVerifierCache } from '../src/attestation/tdx/chain-cache.ts';
import type { TdxCollateral } from '../src/attestation/tdx/collateral.ts';
import { parseTdxQuote } from '../src/attestation/tdx/quote.ts';
import { verifyTdx } from '../src/attestation/tdx/verify.ts';
import { errorMessage } from '../src/errors.ts';
import { rate as measureRate, median } from './lib/rate.ts';

const SECONDS = Number(process.env.TDX_BENCH_SECONDS ?? 3);
const ROUNDS = Number(process.env.TDX_BENCH_ROUNDS ?? 3);
/** Inside the validity of the PCK chain, the TCB Signing certificate and all collateral samples. */
const AT = new Date('2023-06-20T00:00:00Z');
const vectors = new URL('../test/vectors/', import.meta.url);
const quoteFile = fileURLToPath(new URL('tdx/spr-v4/quote.dat', vectors));
const rootFile = fileURLToPath(new URL('roots/intel_sgx_root_ca.pem', vectors));
const quote = new Uint8Array(readFileSync(quoteFile));
const sample = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`tdx/collateral/${name}`, vectors)));
const collateral: TdxCollateral = {
  tcbInfo: sample('sample_tcbInfo_response'),
  qeIdentity: sample('sample_qeIdentity_response'),
  tcbInfoIssuerChain: readFileSync(new URL('tdx/tcbinfo-issuer-chain.pem', vectors), 'utf8'),
  pckCrl: sample('pckcrl'),
  rootCrl: sample('rootcrl.der'),
};

const rate = (f: () => boolean): number => measureRate(SECONDS, f, 10);

// Floor: the quote signature alone, with everything prepared outside the loop.
const parsed = parseTdxQuote(quote);
const key = createPublicKey({
  key: {
    kty: 'EC',
    crv: 'P-256',
    x: Buffer.from(parsed.attestationKey.subarray(0, 32)).toString('base64url'),
    y: Buffer.from(parsed.attestationKey.subarray(32)).toString('base64url'),
  },
  format: 'jwk',
});
const floor = (): boolean => verify('sha256', parsed.signedBytes, { key, dsaEncoding: 'ieee-p1363' }, parsed.signature);
const cold = (): boolean => verifyTdx({ quote }, { at: AT, allowMissingCollateral: true }).verified;
const cache = new TdxVerifierCache();
const warm = (): boolean => verifyTdx({ quote }, { at: AT, cache, allowMissingCollateral: true }).verified;
const coldCollateral = (): boolean => verifyTdx({ quote }, { at: AT, collateral }).claims.tcbStatus === 'NotSupported';
const warmCollateral = (): boolean =>
  verifyTdx({ quote }, { at: AT, collateral, cache }).claims.tcbStatus === 'NotSupported';
if (!verifyTdx({ quote }, { at: AT, collateral }).verified) throw new Error('collateral does not verify');

function goBaseline(): number | null {
  if (spawnSync('go', ['version']).status !== 0) return null;
  const bin = join(tmpdir(), 'attestor-go-tdx-guest-bench');
  const src = fileURLToPath(new URL('baselines/go-tdx-guest/', import.meta.url));
  try {
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: src, stdio: ['ignore', 'ignore', 'inherit'] });
    return Number(
      execFileSync(bin, [quoteFile, rootFile, String(SECONDS), AT.toISOString()], { encoding: 'utf8' }).trim(),
    );
  } catch (err) {
    console.error(`go-tdx-guest baseline skipped: ${errorMessage(err)}`);
    return null;
  }
}

const rows: Record<string, number[]> = {
  floor: [],
  cold: [],
  warm: [],
  'cold + collateral': [],
  'warm + collateral': [],
  'go-tdx-guest': [],
};
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved, so that load changes on a shared machine hit every row alike.
  rows.floor!.push(rate(floor));
  rows.cold!.push(rate(cold));
  rows.warm!.push(rate(warm));
  rows['cold + collateral']!.push(rate(coldCollateral));
  rows['warm + collateral']!.push(rate(warmCollateral));
  const go = goBaseline();
  if (go !== null) rows['go-tdx-guest']!.push(go);
}

const floorRate = median(rows.floor!);
console.log('# Intel TDX verification, spr-v4 quote (go-tdx-guest tdx_prod_quote_SPR_E4.dat)');
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
