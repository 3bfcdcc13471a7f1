/**
 * Fuzzing the GPU evidence parsers with a fixed-seed PRNG: whatever the input, a parser returns
 * or throws ParseError (nothing else), and no input takes long. Inputs are mostly mutations of
 * valid evidence (so the parsers get deep), plus random bytes and structure-aware length changes.
 */
import assert from 'node:assert/strict';
import { VerificationCache } from '../../../../src/attestation/nvidia/cache.ts';
import { parseCertificate } from '../../../../src/attestation/nvidia/certificates.ts';
import { parseEvidenceList } from '../../../../src/attestation/nvidia/evidence-list.ts';
import { parseOpaqueData } from '../../../../src/attestation/nvidia/opaque-data.ts';
import { checkGpuReport } from '../../../../src/attestation/nvidia/report-check.ts';
import { parseRim } from '../../../../src/attestation/nvidia/rim.ts';
import { parseGpuReport } from '../../../../src/attestation/nvidia/spdm.ts';
import { pemCertificates } from '../../../../src/attestation/pem.ts';
import { ParseError } from '../../../../src/attestation/verdict.ts';
import { SLOWEST_INPUT_MS } from '../../../harness/fuzz-bounds.ts';
import { prng } from '../../../harness/prng.ts';
import { NO_OCSP_IN_TESTDATA, NONCE_550, reportBytes, text } from '../../../vectors/nvidia/testdata.ts';

function mutateBytes(rand: () => number, base: Uint8Array): Uint8Array {
  const kind = Math.floor(rand() * 6);
  if (kind === 0) return new Uint8Array(Math.floor(rand() * 128)).map(() => Math.floor(rand() * 256));
  if (kind === 1) return base.slice(0, Math.floor(rand() * base.length));
  const out = new Uint8Array(kind === 2 ? base.length + Math.floor(rand() * 64) : base.length);
  out.set(kind === 2 ? base : base);
  const flips = 1 + Math.floor(rand() * 8);
  for (let i = 0; i < flips; i++) {
    const at = Math.floor(rand() * out.length);
    out[at] = kind === 4 ? [0x00, 0xff, 0x7f, 0x80][Math.floor(rand() * 4)]! : Math.floor(rand() * 256);
  }
  return out;
}

interface Stats {
  inputs: number;
  parsed: number;
  refused: number;
  slowestMs: number;
}

function run(
  name: string,
  count: number,
  make: (rand: () => number, i: number) => unknown,
  parse: (input: never) => unknown,
  seed: number,
): Stats {
  const rand = prng(seed);
  const stats: Stats = { inputs: 0, parsed: 0, refused: 0, slowestMs: 0 };
  for (let i = 0; i < count; i++) {
    const input = make(rand, i);
    const t0 = performance.now();
    try {
      parse(input as never);
      stats.parsed++;
    } catch (err) {
      if (!(err instanceof ParseError))
        assert.fail(`${name} input ${i} threw ${(err as Error)?.name}: ${(err as Error)?.message}`);
      stats.refused++;
    }
    stats.slowestMs = Math.max(stats.slowestMs, performance.now() - t0);
    stats.inputs++;
  }
  return stats;
}

describe('nvidia parsers under fuzzing (fixed seed)', function () {
  this.timeout(120_000);
  const report = reportBytes('hopper-550/report.hex');
  // The opaque data of the real report: after request, header, 64 blocks of 55 bytes, nonce and length.
  const opaqueStart = 37 + 8 + 64 * 55 + 32 + 2;
  const opaque = report.slice(opaqueStart, opaqueStart + 422);
  const certificates = pemCertificates(text('hopper-550/certs.pem'), 'gpu.cert-chain');
  const pem = text('hopper-550/certs.pem');
  // A small real-shaped RIM: the PROD VBIOS RIM cut to its first resources (parsing, not signatures, is under test).
  const fullRim = text('rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.xml');
  const smallRim = fullRim
    .split('\n')
    .filter((l) => !/<ns0:Resource [^>]*index="([4-9]|[1-9]\d)"/.test(l))
    .join('\n');
  const evidenceJson = JSON.stringify([
    {
      arch: 'HOPPER',
      certificate: Buffer.from(pem).toString('base64'),
      evidence: Buffer.from(report).toString('base64'),
      nonce: NONCE_550,
    },
  ]);
  const totals: Stats[] = [];

  after(() => {
    const n = totals.reduce((s, t) => s + t.inputs, 0);
    assert.ok(n >= 100_000, `only ${n} inputs`);
  });

  it('report parser: 30,000 inputs', () => {
    const s = run(
      'report',
      30_000,
      (rand, i) => {
        if (i % 5 !== 0) return mutateBytes(rand, report);
        // Structure-aware: random lengths in the response header, block sizes and opaque length.
        const out = new Uint8Array(report);
        const field = [
          37 + 4,
          37 + 5,
          37 + 6,
          37 + 7,
          37 + 8 + 2,
          37 + 8 + 5,
          opaqueStart - 2,
          opaqueStart - 1,
          opaqueStart + 2,
        ][Math.floor(rand() * 9)]!;
        out[field] = Math.floor(rand() * 256);
        return out;
      },
      parseGpuReport,
      1,
    );
    totals.push(s);
    assert.ok(s.parsed > 1000 && s.refused > 1000, JSON.stringify(s));
    assert.ok(s.slowestMs < SLOWEST_INPUT_MS, JSON.stringify(s));
  });

  it('opaque data parser: 40,000 inputs', () => {
    const s = run('opaque', 40_000, (rand) => mutateBytes(rand, opaque), parseOpaqueData, 2);
    totals.push(s);
    assert.ok(s.parsed > 1000 && s.refused > 1000, JSON.stringify(s));
    assert.ok(s.slowestMs < SLOWEST_INPUT_MS, JSON.stringify(s));
  });

  it('certificate parser: 12,000 inputs', () => {
    const s = run(
      'certificate',
      12_000,
      (rand, i) => mutateBytes(rand, certificates[i % certificates.length]!),
      (der: Uint8Array) => parseCertificate(der),
      3,
    );
    totals.push(s);
    assert.ok(s.refused > 1000, JSON.stringify(s));
    assert.ok(s.slowestMs < SLOWEST_INPUT_MS, JSON.stringify(s));
  });

  it('evidence list parser: 12,000 inputs', () => {
    const s = run(
      'evidence',
      12_000,
      (rand) => {
        const b = mutateBytes(rand, new Uint8Array(Buffer.from(evidenceJson)));
        return Buffer.from(b).toString('latin1');
      },
      parseEvidenceList,
      4,
    );
    totals.push(s);
    assert.ok(s.parsed > 100 && s.refused > 1000, JSON.stringify(s));
    assert.ok(s.slowestMs < SLOWEST_INPUT_MS, JSON.stringify(s));
  });

  it('RIM parser: 6,000 inputs', () => {
    assert.equal(parseRim(smallRim).measurements.length, 4);
    const s = run(
      'rim',
      6_000,
      (rand) => Buffer.from(mutateBytes(rand, new Uint8Array(Buffer.from(smallRim)))).toString('latin1'),
      parseRim,
      5,
    );
    totals.push(s);
    assert.ok(s.parsed > 100 && s.refused > 1000, JSON.stringify(s));
    assert.ok(s.slowestMs < SLOWEST_INPUT_MS, JSON.stringify(s));
  });

  it('report verification: 2,000 mutated reports are refused with reasons unless the signed bytes are unchanged', () => {
    const rand = prng(6);
    const cache = new VerificationCache();
    let refused = 0;
    let unchanged = 0;
    for (let i = 0; i < 2_000; i++) {
      const mutated = mutateBytes(rand, report);
      const v = checkGpuReport(
        { report: mutated, certificateChain: pem },
        { at: new Date('2026-01-01T00:00:00Z'), policy: NO_OCSP_IN_TESTDATA, cache },
      );
      // A mutation may rewrite a byte with its own value or only touch appended (trailing) bytes.
      const same = mutated.length >= report.length && Buffer.from(mutated.subarray(0, report.length)).equals(report);
      if (same) {
        unchanged++;
        assert.deepEqual(v.reasons, []);
      } else {
        assert.equal(v.signatureVerified, false, `input ${i}`);
        assert.ok(v.reasons.length > 0);
        refused++;
      }
    }
    totals.push({ inputs: 2_000, parsed: unchanged, refused, slowestMs: 0 });
    assert.ok(refused > 1_900, `${refused}`);
  });
});
