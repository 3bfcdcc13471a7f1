/**
 * Fixed-seed fuzzing of the TDX parsers: random bytes, truncations and mutations of the real
 * quote, of its PCK chain PEM and of collateral JSON. Parsers may only throw ParseError, and the
 * verifier may only return a verdict; nothing may hang (the whole run is bounded by the timeout).
 * Each parser test has a floor on how deep the fuzzer got: how many inputs still parsed in full
 * and how many different refusals it met on the way, so that a fuzzer whose mutations all fail
 * at the first check cannot pass for one that exercises the parser.
 */
import assert from 'node:assert/strict';
import { pemCertificates } from '../../../../src/attestation/pem.ts';
import { TdxVerifierCache } from '../../../../src/attestation/tdx/chain-cache.ts';
import { parseCrl } from '../../../../src/attestation/tdx/crl.ts';
import { parsePckExtension } from '../../../../src/attestation/tdx/pck.ts';
import { parseQeIdentity } from '../../../../src/attestation/tdx/qe-identity.ts';
import { parseTdxQuote } from '../../../../src/attestation/tdx/quote.ts';
import { rawJsonMember } from '../../../../src/attestation/tdx/signed-json.ts';
import { parseTcbInfo } from '../../../../src/attestation/tdx/tcb-info.ts';
import { verifyTdx } from '../../../../src/attestation/tdx/verify.ts';
import { ParseError } from '../../../../src/attestation/verdict.ts';
import { errorMessage } from '../../../../src/errors.ts';
import { vectorBytes } from '../../../vectors/paths.ts';

const quote = vectorBytes('tdx/spr-v4/quote.dat');
const tcbInfo = Buffer.from(vectorBytes('tdx/collateral/sample_tcbInfo_response')).toString('utf8');
const qeIdentity = Buffer.from(vectorBytes('tdx/collateral/sample_qeIdentity_response')).toString('utf8');
const pckCrl = vectorBytes('tdx/collateral/pckcrl');

/** xorshift32: small, fast, and the same sequence on every run. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function mutate(base: Uint8Array, next: () => number): Uint8Array {
  const kind = next() % 4;
  if (kind === 0) return base.subarray(0, next() % (base.length + 1)); // truncation
  const m = Uint8Array.from(base);
  const edits = 1 + (next() % 8);
  for (let i = 0; i < edits; i++) {
    const at = next() % m.length;
    if (kind === 1)
      m[at] = next() & 0xff; // random byte
    else if (kind === 2)
      m[at] = (m[at] as number) ^ (1 << (next() % 8)); // bit flip
    else m.fill(0xff, at, Math.min(m.length, at + 4)); // large length fields
  }
  return m;
}

/** Runs `f`, allowing only ParseError; returns whether it parsed. */
function onlyParseError(f: () => unknown, what: string): boolean {
  try {
    f();
    return true;
  } catch (err) {
    if (err instanceof ParseError) return false;
    assert.fail(`${what}: threw ${(err as Error).name}: ${errorMessage(err)}`);
  }
}

/** How deep a fuzzer got into a parser: the inputs that parsed in full, and the different refusals met. */
class Depth {
  parsed = 0;
  /** check and message, with numbers and hex masked, so that one refusal at different offsets counts once. */
  readonly refusals = new Set<string>();

  /** Runs `f` as onlyParseError does, and counts what happened. */
  run(f: () => unknown, what: string): void {
    try {
      f();
      this.parsed++;
    } catch (err) {
      if (!(err instanceof ParseError)) assert.fail(`${what}: threw ${(err as Error).name}: ${errorMessage(err)}`);
      this.refusals.add(`${err.check}: ${err.message.replace(/[0-9a-f]{6,}|\d+/gi, 'N')}`);
    }
  }

  /**
   * Fails unless at least `parsed` inputs parsed and `refusals` different refusals were met (not
   * counting those of the check `ignored`, when given).
   */
  atLeast(parsed: number, refusals: number, what: string, ignored?: string): void {
    const met = [...this.refusals].filter((r) => !r.startsWith(`${ignored}: `)).length;
    const seen = `${what}: ${this.parsed} parsed, ${met} different refusals${ignored ? ` besides ${ignored}` : ''}`;
    assert.ok(this.parsed >= parsed, `${seen}; expected at least ${parsed} parsed`);
    assert.ok(met >= refusals, `${seen}; expected at least ${refusals} refusals`);
  }
}

describe('tdx fuzz (fixed seed)', function () {
  this.timeout(60_000);

  it('quote parser: 100,000 random, truncated and mutated inputs throw only ParseError', () => {
    const next = prng(0x7d1c0de);
    let parsed = 0;
    for (let i = 0; i < 100_000; i++) {
      let input: Uint8Array;
      if (i % 10 === 0) {
        input = Uint8Array.from({ length: next() % 1200 }, () => next() & 0xff);
        if (input.length >= 8 && i % 20 === 0) input.set([4, 0, 2, 0, 0x81, 0, 0, 0]); // a plausible header
      } else {
        input = mutate(quote, next);
      }
      if (onlyParseError(() => parseTdxQuote(input), `quote input ${i}`)) parsed++;
    }
    // Most mutations leave the length fields alone, so a good share still parses: the fuzzer
    // reaches past the header.
    assert.ok(parsed > 30_000, `parsed ${parsed}`);
  });

  it('PEM parser: 10,000 mutations of the PCK chain throw only ParseError', () => {
    const next = prng(42);
    const pem = parseTdxQuote(quote).certification.pckChain;
    const depth = new Depth();
    for (let i = 0; i < 10_000; i++)
      depth.run(() => pemCertificates(mutate(pem, next), 'tdx.pck-chain', { strict: true }), `pem ${i}`);
    // 559 parse and 4 refusals (bad base64, no END line, no BEGIN line, non-canonical base64) with this seed.
    depth.atLeast(300, 3, 'PEM');
  });

  it('PCK extension and CRL parsers: 2 x 1,500 mutations throw only ParseError', () => {
    // asn1js needs ~2 ms per certificate or CRL on this machine, hence fewer rounds than above.
    const next = prng(43);
    const pckDer = pemCertificates(parseTdxQuote(quote).certification.pckChain, 'tdx.pck-chain')[0]!;
    const pck = new Depth();
    const crl = new Depth();
    for (let i = 0; i < 1_500; i++) {
      pck.run(() => parsePckExtension(mutate(pckDer, next)), `pck ${i}`);
      crl.run(() => parseCrl(mutate(pckCrl, next), 'tdx.collateral.pck-crl'), `crl ${i}`);
    }
    // With this seed: PCK 171 parse, 27 refusals (down to single TCB components); CRL 438 and 7.
    pck.atLeast(100, 15, 'PCK extension');
    crl.atLeast(250, 4, 'CRL');
  });

  it('collateral JSON: 10,000 mutations of TCB info and QE identity throw only ParseError', () => {
    const next = prng(7);
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const tcb = new Depth();
    const qe = new Depth();
    for (let i = 0; i < 10_000; i++) {
      const [body, member, parse, depth] =
        i % 2 === 0
          ? ([tcbInfo, 'tcbInfo', parseTcbInfo, tcb] as const)
          : ([qeIdentity, 'enclaveIdentity', parseQeIdentity, qe] as const);
      const text = dec.decode(mutate(enc.encode(body), next));
      depth.run(() => {
        const raw = rawJsonMember(text, member, 'tdx.collateral.tcb-info');
        let value: unknown;
        try {
          value = JSON.parse(raw);
        } catch {
          throw new ParseError('tdx.collateral.tcb-info', 'not JSON');
        }
        parse(value);
      }, `json ${i}`);
    }
    // Refusals of the TCB info and QE identity fields themselves, past the JSON syntax: with this
    // seed 268 and 210 parse, and 38 and 65 different field refusals.
    tcb.atLeast(150, 25, 'TCB info', 'tdx.collateral');
    qe.atLeast(120, 40, 'QE identity', 'tdx.collateral');
  });

  it('verifier: 1,500 mutated quotes with collateral only ever return a verdict, never accepted when signed bytes changed', () => {
    const next = prng(2024);
    const cache = new TdxVerifierCache();
    const at = new Date('2023-06-20T00:00:00Z');
    const collateral = { tcbInfo, qeIdentity, pckCrl };
    const signedEnd = 4935;
    for (let i = 0; i < 1_500; i++) {
      const input = mutate(quote, next);
      const v = verifyTdx({ quote: input }, { at, cache, collateral });
      const changed = input.length < signedEnd || input.subarray(0, signedEnd).some((b, j) => b !== quote[j]);
      if (changed) assert.equal(v.verified, false, `mutation ${i} accepted`);
    }
  });
});
