/**
 * Fixed-seed fuzzing of the SEV-SNP parsers and verifier: random bytes, truncations and mutations
 * of real and simulated evidence. Nothing may throw except ParseError (from the parsers), the
 * verifier never throws at all, and nothing takes long.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { snpClaims } from '../../../../src/attestation/snp/claims.ts';
import { checkCrl } from '../../../../src/attestation/snp/crl.ts';
import { SnpEndorsementCache } from '../../../../src/attestation/snp/endorsement-cache.ts';
import { productFromCpuid } from '../../../../src/attestation/snp/product.ts';
import { parseSnpReport, reportFormatProblems, SNP_REPORT_SIZE } from '../../../../src/attestation/snp/report.ts';
import { amdRoots } from '../../../../src/attestation/snp/roots.ts';
import { prepareEndorsement, verifySnp } from '../../../../src/attestation/snp/verify.ts';
import { ParseError } from '../../../../src/attestation/verdict.ts';
import { SLOWEST_INPUT_MS } from '../../../harness/fuzz-bounds.ts';
import { prng } from '../../../harness/prng.ts';
import { vectorBytes, vectorPath } from '../../../vectors/paths.ts';
import { AT, milan } from './fixture.ts';

const read = (p: string): Uint8Array => vectorBytes(`snp/${p}`);

class Fuzzer {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = prng(seed);
  }
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  /** 1 to `max` random byte changes. */
  mutate(src: Uint8Array, max: number): { out: Uint8Array; changed: number[] } {
    const out = src.slice();
    const changed: number[] = [];
    for (let k = 1 + this.int(max); k > 0; k--) {
      const i = this.int(out.length);
      out[i] = this.int(256);
      if (out[i] !== src[i]) changed.push(i);
    }
    return { out, changed };
  }
}

/** Runs f, failing on anything thrown that `allowed` rejects and on any single slow input. */
function timed(label: string, f: () => void, allowed: (e: unknown) => boolean, slowest: { ms: number }): void {
  const t = performance.now();
  try {
    f();
  } catch (e) {
    if (!allowed(e))
      throw new assert.AssertionError({ message: `${label}: threw ${(e as Error)?.stack ?? String(e)}` });
  }
  slowest.ms = Math.max(slowest.ms, performance.now() - t);
}

const onlyParseError = (e: unknown): boolean => e instanceof ParseError;
const nothing = (): boolean => false;

describe('snp fuzz (fixed seed)', function () {
  this.timeout(120_000);
  const reports = [
    read('milan-gosevguest/report.bin'),
    read('milan-trustee/report.bin'),
    read('negative-chipid/report.bin'),
  ];

  it('parseSnpReport and the claims built from it: 100,000 inputs, only ParseError', async () => {
    const sim = await milan();
    const seeds = [...reports, sim.report({ version: 5 }), sim.report({ version: 3 })];
    const f = new Fuzzer(0x5e5_2024);
    const slowest = { ms: 0 };
    let parsed = 0;
    const start = performance.now();
    for (let n = 0; n < 100_000; n++) {
      let input: Uint8Array;
      const kind = n % 4;
      if (kind === 0) input = f.bytes(f.int(3) === 0 ? f.int(2 * SNP_REPORT_SIZE) : SNP_REPORT_SIZE);
      else if (kind === 1) {
        const src = f.pick(seeds);
        const len = f.int(2 * SNP_REPORT_SIZE);
        input = len <= src.length ? src.slice(0, len) : Uint8Array.from([...src, ...f.bytes(len - src.length)]);
      } else {
        input = f.mutate(f.pick(seeds), 16).out;
        // Often keep a valid version so the deeper fields get exercised.
        if (kind === 3) new DataView(input.buffer).setUint32(0, 2 + f.int(4), true);
      }
      timed(
        `input ${n}`,
        () => {
          const r = parseSnpReport(input);
          parsed++;
          reportFormatProblems(r);
          const product = r.cpuid
            ? productFromCpuid(r.cpuid.family, r.cpuid.model)
            : f.pick(['Milan', 'Genoa', 'Turin', null] as const);
          const claims = snpClaims(r, product, null, null);
          JSON.stringify(claims);
        },
        onlyParseError,
        slowest,
      );
    }
    assert.ok(parsed > 40_000, `only ${parsed} inputs parsed: the fuzzer is not reaching the field decoders`);
    assert.ok(slowest.ms < SLOWEST_INPUT_MS, `slowest input took ${slowest.ms} ms`);
    assert.ok(performance.now() - start < 30_000);
  });

  it('certificate reading and chain building: mutated, truncated and random certificates never throw', async () => {
    const sim = await milan();
    const ders = [read('milan-gosevguest/vcek.der'), read('milan-trustee/vcek.der'), sim.endorsementDer];
    const pem = readFileSync(vectorPath('snp/negative-chipid/vcek.pem'), 'utf8');
    const f = new Fuzzer(0xce27);
    const slowest = { ms: 0 };
    const roots = amdRoots();
    let accepted = 0;
    for (let n = 0; n < 3_000; n++) {
      let input: Uint8Array | string;
      const kind = n % 5;
      if (kind === 0) input = f.bytes(f.int(2000));
      else if (kind === 1) input = f.pick(ders).slice(0, f.int(1400));
      else if (kind === 2) input = pem.slice(0, f.int(pem.length)) + (f.int(2) ? pem.slice(f.int(pem.length)) : '');
      else input = f.mutate(f.pick(ders), 4).out;
      timed(
        `certificate ${n}`,
        () => {
          const p = prepareEndorsement(input, f.int(2) ? roots : sim.roots);
          if (p.reasons.length === 0) accepted++;
        },
        nothing,
        slowest,
      );
    }
    // Only unmutated prefixes of PEM text (kind 2 happening to keep the whole block) may chain.
    assert.ok(accepted < 100, `${accepted} fuzzed certificates chained`);
    assert.ok(slowest.ms < SLOWEST_INPUT_MS, `slowest input took ${slowest.ms} ms`);
  });

  it('verifySnp on mutated reports: never throws, accepts only changes after the signature', async () => {
    const sim = await milan();
    const cases = [
      { report: reports[0]!, certificates: read('milan-gosevguest/vcek.der'), roots: amdRoots() },
      { report: sim.report(), certificates: sim.certChainPem, roots: sim.roots },
    ];
    const cache = new SnpEndorsementCache();
    const f = new Fuzzer(0xabcdef);
    const slowest = { ms: 0 };
    for (let n = 0; n < 2_000; n++) {
      const c = f.pick(cases);
      const { out, changed } = f.mutate(c.report, 3);
      timed(
        `report ${n}`,
        () => {
          const v = verifySnp({ report: out, certificates: c.certificates }, { at: AT, trust: c.roots, cache });
          if (v.verified)
            assert.ok(
              changed.every((i) => i >= 0x330),
              `accepted a change at ${changed.map((i) => '0x' + i.toString(16)).join(', ')}`,
            );
        },
        nothing,
        slowest,
      );
    }
    assert.ok(slowest.ms < SLOWEST_INPUT_MS, `slowest input took ${slowest.ms} ms`);
  });

  it('checkCrl on mutated CRLs: never throws, never passes a revoked ASK', async () => {
    const sim = await milan();
    const ark = sim.roots.anchors[0]!.ark;
    const ask = sim.roots.anchors[0]!.intermediates[0]!.cert;
    const crl = await sim.crl({ revoked: [sim.askSerial] });
    const f = new Fuzzer(0xc41);
    const slowest = { ms: 0 };
    for (let n = 0; n < 600; n++) {
      const input = n % 4 === 0 ? crl.slice(0, f.int(crl.length)) : f.mutate(crl, 3).out;
      timed(
        `crl ${n}`,
        () => {
          assert.notDeepEqual(checkCrl(input, ark, [ask], AT), []);
        },
        nothing,
        slowest,
      );
    }
    assert.ok(slowest.ms < SLOWEST_INPUT_MS, `slowest input took ${slowest.ms} ms`);
  });
});
