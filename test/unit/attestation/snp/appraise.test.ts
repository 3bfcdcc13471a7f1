/**
 * Table-driven appraisal: one valid simulated fixture, one change per case, the exact check ids
 * each change must produce.
 */
import assert from 'node:assert/strict';
import { appraiseSnp, type SnpExpectation } from '../../../../src/attestation/snp/appraise.ts';
import { verifySnpReport, type SnpVerifyOptions } from '../../../../src/attestation/snp/verify.ts';
import { amdRoots } from '../../../../src/attestation/snp/roots.ts';
import type { SnpReferenceValues, SnpTcb } from '../../../../src/attestation/reference-values.ts';
import type { SnpReportFields, SnpSimulator } from '../../../../src/attestation/sim/snp.ts';
import { AT, bytes, hex, milan, simulator, turin } from './fixture.ts';

// Every SPL at least 1, so that each can be lowered (the default Milan fixture has TEE 0, as real Milans do).
const milanAllNonZero = () => simulator({ tcb: { bootloader: 3, tee: 1, snp: 8, microcode: 115 }, rsaModulusLength: 2048 });

const NONCE = bytes(64, 0x4e);
const POLICY_HASH = bytes(32, 0xc0);

function referenceValues(sim: SnpSimulator): SnpReferenceValues {
  return {
    name: 'kata-qemu-snp on ' + sim.product,
    measurements: [hex(sim.defaultMeasurement)],
    minimumTCB: { ...sim.tcb },
    products: [sim.product],
    signingKeys: ['vcek'],
    maximumVMPL: 0,
    minimumGuestABI: '1.51',
    allowSMT: true,
  };
}

const expectation: SnpExpectation = { reportData: NONCE, allowedHostData: [hex(POLICY_HASH)] };
const baseFields: SnpReportFields = { reportData: NONCE, hostData: POLICY_HASH };

interface Case {
  name: string;
  report?: (sim: SnpSimulator) => SnpReportFields;
  /** Another endorsement certificate (PEM) for the same key. */
  certificates?: (sim: SnpSimulator) => Promise<string>;
  /** Changes the serialized report before it is signed. */
  bytes?: (report: Uint8Array) => void;
  reference?: (rv: SnpReferenceValues, sim: SnpSimulator) => SnpReferenceValues[];
  expectation?: SnpExpectation;
  verify?: Partial<SnpVerifyOptions>;
  expected: string[];
}

type Component = keyof SnpTcb;
const lower = (tcb: SnpTcb, c: Component): SnpTcb => ({ ...tcb, [c]: (tcb[c] ?? 1) - 1 });
const MILAN_COMPONENTS: Component[] = ['bootloader', 'tee', 'snp', 'microcode'];

function tcbCases(components: Component[], simName: string): Case[] {
  const out: Case[] = [];
  for (const c of components) {
    // REPORTED_TCB must equal the VCEK's TCB, so a lower one comes with a VCEK issued at it.
    out.push({
      name: `${simName}: REPORTED_TCB ${c} below the minimum (VCEK issued at that TCB)`,
      report: (sim) => ({ reportedTcb: lower(sim.tcb, c) }),
      certificates: (sim) => sim.issueEndorsement({ tcb: lower(sim.tcb, c) }),
      expected: ['snp.tcb.reported'],
    });
    out.push({
      name: `${simName}: LAUNCH_TCB ${c} below the minimum`,
      report: (sim) => ({ launchTcb: lower(sim.tcb, c) }),
      expected: ['snp.tcb.launch'],
    });
    out.push({
      name: `${simName}: COMMITTED_TCB ${c} below the minimum (provisional firmware allowed)`,
      report: (sim) => ({ committedTcb: lower(sim.tcb, c) }),
      reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
      expected: ['snp.tcb.committed'],
    });
    out.push({
      name: `${simName}: CURRENT_TCB ${c} below the minimum (provisional firmware allowed)`,
      report: (sim) => ({ currentTcb: lower(sim.tcb, c) }),
      reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
      expected: ['snp.tcb.current'],
    });
  }
  return out;
}

const cases: Case[] = [
  { name: 'the unchanged fixture', expected: [] },
  { name: 'another measurement', report: () => ({ measurement: bytes(48, 0x66) }), expected: ['snp.measurement'] },
  { name: 'another HOST_DATA (workload policy hash)', report: () => ({ hostData: bytes(32, 0x01) }), expected: ['snp.host-data'] },
  { name: 'no policy hash allowed at all', expectation: { reportData: NONCE, allowedHostData: [] }, expected: ['snp.host-data'] },
  { name: 'another REPORT_DATA (stale nonce)', report: () => ({ reportData: bytes(64, 0x4f) }), expected: ['snp.report-data'] },
  { name: 'expected REPORT_DATA shorter than 64 bytes is zero-padded', report: () => ({ reportData: Uint8Array.from([...bytes(32, 9), ...bytes(32, 0)]) }), expectation: { reportData: bytes(32, 9), allowedHostData: [hex(POLICY_HASH)] }, expected: [] },
  { name: 'expected REPORT_DATA zero-padded does not match non-zero tail', report: () => ({ reportData: bytes(64, 9) }), expectation: { reportData: bytes(32, 9), allowedHostData: [hex(POLICY_HASH)] }, expected: ['snp.report-data'] },
  ...tcbCases(MILAN_COMPONENTS, 'Milan'),
  { name: 'debug allowed in the guest policy', report: () => ({ policy: { abiMajor: 1, abiMinor: 51, smt: true, debug: true } }), expected: ['snp.policy.debug'] },
  { name: 'report from VMPL 1', report: () => ({ vmpl: 1 }), expected: ['snp.vmpl'] },
  { name: 'report from VMPL 1 when the reference allows up to 1', report: () => ({ vmpl: 1 }), reference: (rv) => [{ ...rv, maximumVMPL: 1 }], expected: [] },
  { name: 'SMT allowed by the policy but forbidden by the reference', reference: (rv) => [{ ...rv, allowSMT: false }], expected: ['snp.policy.smt'] },
  { name: 'SMT not allowed by the policy and forbidden by the reference', report: () => ({ policy: { abiMajor: 1, abiMinor: 51 } }), reference: (rv) => [{ ...rv, allowSMT: false }], expected: [] },
  { name: 'guest ABI below the minimum', report: () => ({ policy: { abiMajor: 1, abiMinor: 50, smt: true } }), expected: ['snp.policy.abi'] },
  { name: 'malformed minimum guest ABI in the reference', reference: (rv) => [{ ...rv, minimumGuestABI: 'latest' }], expected: ['snp.policy.abi'] },
  { name: 'provisional firmware: current version differs from committed', report: () => ({ currentFirmware: { major: 1, minor: 55, build: 22 }, committedFirmware: { major: 1, minor: 55, build: 21 } }), expected: ['snp.firmware.provisional'] },
  { name: 'provisional firmware: CURRENT_TCB differs from COMMITTED_TCB', report: (sim) => ({ currentTcb: { ...sim.tcb, microcode: sim.tcb.microcode + 1 } }), expected: ['snp.firmware.provisional'] },
  { name: 'provisional firmware, allowed', report: () => ({ currentFirmware: { major: 1, minor: 55, build: 22 } }), reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }], expected: [] },
  { name: 'wrong product', reference: (rv) => [{ ...rv, products: ['Genoa', 'Turin'] }], expected: ['snp.product'] },
  { name: 'any product when products is empty', reference: (rv) => [{ ...rv, products: [] }], expected: [] },
  { name: 'VCEK not among the allowed signing keys', reference: (rv) => [{ ...rv, signingKeys: ['vlek'] }], expected: ['snp.signing-key.allowed'] },
  { name: 'report names the VLEK but comes with a VCEK', report: () => ({ signingKey: 'vlek' }), expected: ['snp.signing-key', 'snp.signing-key.allowed'] },
  { name: 'REPORTED_TCB above the VCEK TCB', report: (sim) => ({ reportedTcb: { ...sim.tcb, snp: sim.tcb.snp + 1 } }), expected: ['snp.tcb.certificate'] },
  { name: 'CHIP_ID of another chip', report: () => ({ chipId: bytes(64, 0x77) }), expected: ['snp.chip-id'] },
  { name: 'masked CHIP_ID', report: () => ({ maskChipId: true }), expected: [] },
  { name: 'CPUID of another product', report: () => ({ cpuid: { family: 0x19, model: 0x11, stepping: 0 } }), expected: ['snp.product', 'snp.product.cpuid'] },
  { name: 'non-zero reserved byte inside the signed part', bytes: (b) => { b[0x1a0 - 1] = 1; }, expected: ['snp.report.reserved'] },
  { name: 'reserved SIGNING_KEY value', bytes: (b) => { b[0x48] = 3 << 2; }, expected: ['snp.report.reserved', 'snp.signing-key', 'snp.signing-key.allowed'] },
  { name: 'non-zero byte after the signature (not signed, not checked)', bytes: (b) => { b[0x400] = 1; }, expected: [] },
  { name: 'expired VCEK at the given time', verify: { at: new Date('2032-01-01T00:00:00Z') }, expected: ['snp.chain.validity'] },
  { name: 'VCEK not yet valid at the given time', certificates: (sim) => sim.issueEndorsement({ notBefore: new Date('2027-01-01T00:00:00Z') }), expected: ['snp.chain.validity'] },
  { name: 'foreign root: simulated evidence against AMD\'s pinned roots', verify: { roots: amdRoots() }, expected: ['snp.chain'] },
  { name: 'revoked ASK', verify: {}, expected: ['snp.crl.revoked'] },
  { name: 'no reference values', reference: () => [], expected: ['snp.reference-values'] },
  { name: 'second reference entry matches', reference: (rv) => [{ ...rv, measurements: ['00'.repeat(48)] }, rv], expected: [] },
  {
    name: 'no entry matches: the reasons of every entry',
    reference: (rv) => [{ ...rv, measurements: ['00'.repeat(48)] }, { ...rv, products: ['Genoa'], maximumVMPL: 0 }],
    report: () => ({ vmpl: 1 }),
    expected: ['snp.measurement', 'snp.product', 'snp.vmpl', 'snp.vmpl'],
  },
];

const turinCases: Case[] = [
  ...tcbCases(['fmc', 'bootloader', 'tee', 'snp', 'microcode'], 'Turin'),
  { name: 'Turin: the unchanged fixture', expected: [] },
];

async function run(sim: SnpSimulator, c: Case) {
  const fields = { ...baseFields, ...(c.report?.(sim) ?? {}) };
  const certificates = c.certificates ? await c.certificates(sim) : sim.endorsementPem;
  const options: SnpVerifyOptions = { at: AT, roots: sim.roots, ...c.verify };
  if (c.name === 'revoked ASK') options.crl = await sim.crl({ revoked: [sim.askSerial] });
  const report = sim.unsignedReport(fields);
  c.bytes?.(report);
  const verified = verifySnpReport({ report: sim.sign(report), certificates }, options);
  const rv = referenceValues(sim);
  return appraiseSnp(verified, c.reference ? c.reference(rv, sim) : [rv], c.expectation ?? expectation);
}

describe('snp/appraise: one change per case', function () {
  this.timeout(60_000);

  for (const [label, sim, table] of [['Milan', milanAllNonZero, cases], ['Turin', turin, turinCases]] as const) {
    describe(label, () => {
      for (const c of table) {
        it(`${c.name} -> ${c.expected.length === 0 ? 'accepted' : c.expected.join(', ')}`, async () => {
          const v = await run(await sim(), c);
          assert.deepEqual(v.reasons.map((r) => r.check).sort(), [...c.expected].sort(), JSON.stringify(v.reasons, null, 1));
          assert.equal(v.verified, c.expected.length === 0);
        });
      }
    });
  }

  it('names the matching entry in the claims', async () => {
    const sim = await milan();
    const rv = referenceValues(sim);
    const v = await run(sim, { name: 'match', reference: () => [{ ...rv, name: 'old', measurements: ['00'.repeat(48)] }, rv], expected: [] });
    assert.equal(v.claims?.matchedReferenceValues, 1);
    assert.equal(v.claims?.matchedReferenceName, rv.name);
  });

  it('prefixes each entry\'s reasons with its path and name when none matches', async () => {
    const sim = await milan();
    const rv = referenceValues(sim);
    const v = await run(sim, { name: 'none', reference: () => [{ ...rv, measurements: [] }, { ...rv, name: undefined, measurements: [] }], expected: [] });
    assert.deepEqual(v.reasons.map((r) => r.message.split(':')[0]), [`referenceValues.snp[0] (${rv.name})`, 'referenceValues.snp[1]']);
    assert.equal(v.claims?.matchedReferenceValues, null);
  });

  it('keeps the verification reasons and refuses without claims when the report is unreadable', () => {
    const v = appraiseSnp(verifySnpReport({ report: new Uint8Array(3), certificates: '' }, { at: AT }), []);
    assert.deepEqual(v.reasons.map((r) => r.check).sort(), ['snp.certificate', 'snp.report.length']);
    assert.equal(v.claims, null);
  });

  it('refuses the real go-sev-guest report: debug is allowed in its guest policy', async () => {
    const { readFileSync } = await import('node:fs');
    const dir = new URL('../../../../../shared/testdata/snp/milan-gosevguest/', import.meta.url);
    const verified = verifySnpReport({ report: readFileSync(new URL('report.bin', dir)), certificates: readFileSync(new URL('vcek.der', dir)) }, { at: AT });
    assert.equal(verified.verified, true);
    const rv: SnpReferenceValues = { measurements: [verified.claims!.measurement], minimumTCB: { bootloader: 2, tee: 0, snp: 5, microcode: 68 } };
    const v = appraiseSnp(verified, [rv], { reportData: Uint8Array.from([1, 2, 3, 4, 5]) });
    assert.deepEqual(v.reasons.map((r) => r.check), ['snp.policy.debug']);
  });
});
