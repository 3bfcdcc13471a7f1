/**
 * Table-driven appraisal: one valid simulated fixture, one change per case, the exact check ids
 * each change must produce.
 */
import assert from 'node:assert/strict';
import type { SnpReferenceValues, SnpTcb } from '../../../../src/attestation/reference-values.ts';
import type { SnpReportFields, SnpSimulator } from '../../../../src/attestation/sim/snp.ts';
import { appraiseSnp, type SnpExpectation } from '../../../../src/attestation/snp/appraise.ts';
import { amdRoots } from '../../../../src/attestation/snp/roots.ts';
import { type SnpVerifyOptions, verifySnp } from '../../../../src/attestation/snp/verify.ts';
import { vectorBytes } from '../../../vectors/paths.ts';
import { AT, bytes, hex, milan, simulator, turin } from './fixture.ts';

// Every SPL at least 1, so that each can be lowered (the default Milan fixture has TEE 0, as real Milans do).
const milanAllNonZero = () =>
  simulator({ tcb: { bootloader: 3, tee: 1, snp: 8, microcode: 115 }, rsaModulusLength: 2048 });

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
    // CURRENT_TCB below the minimum is also below the VCEK's TCB and COMMITTED_TCB, both refused on their own.
    out.push({
      name: `${simName}: CURRENT_TCB ${c} below the minimum (provisional firmware allowed)`,
      report: (sim) => ({ currentTcb: lower(sim.tcb, c) }),
      reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
      expected: ['snp.tcb.current', 'snp.tcb.certificate-current', 'snp.firmware.committed'],
    });
    out.push({
      name: `${simName}: VCEK TCB ${c} above CURRENT_TCB (both at or above the minimum)`,
      report: (sim) => ({ currentTcb: lower(sim.tcb, c), committedTcb: lower(sim.tcb, c) }),
      reference: (rv) => [{ ...rv, minimumTCB: lower(rv.minimumTCB, c) }],
      expected: ['snp.tcb.certificate-current'],
    });
    out.push({
      name: `${simName}: COMMITTED_TCB ${c} above CURRENT_TCB (provisional firmware allowed)`,
      report: (sim) => ({ currentTcb: sim.tcb, committedTcb: { ...sim.tcb, [c]: (sim.tcb[c] ?? 0) + 1 } }),
      reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
      expected: ['snp.firmware.committed'],
    });
  }
  return out;
}

const cases: Case[] = [
  { name: 'the unchanged fixture', expected: [] },
  { name: 'another measurement', report: () => ({ measurement: bytes(48, 0x66) }), expected: ['snp.measurement'] },
  {
    name: 'another HOST_DATA (workload policy hash)',
    report: () => ({ hostData: bytes(32, 0x01) }),
    expected: ['snp.host-data'],
  },
  {
    name: 'no policy hash allowed at all',
    expectation: { reportData: NONCE, allowedHostData: [] },
    expected: ['snp.host-data'],
  },
  {
    name: 'another REPORT_DATA (stale nonce)',
    report: () => ({ reportData: bytes(64, 0x4f) }),
    expected: ['snp.report-data'],
  },
  {
    name: 'expected REPORT_DATA shorter than 64 bytes is zero-padded',
    report: () => ({ reportData: Uint8Array.from([...bytes(32, 9), ...bytes(32, 0)]) }),
    expectation: { reportData: bytes(32, 9), allowedHostData: [hex(POLICY_HASH)] },
    expected: [],
  },
  {
    name: 'expected REPORT_DATA zero-padded does not match non-zero tail',
    report: () => ({ reportData: bytes(64, 9) }),
    expectation: { reportData: bytes(32, 9), allowedHostData: [hex(POLICY_HASH)] },
    expected: ['snp.report-data'],
  },
  ...tcbCases(MILAN_COMPONENTS, 'Milan'),
  {
    name: 'debug allowed in the guest policy',
    report: () => ({ policy: { abiMajor: 1, abiMinor: 51, smt: true, debug: true } }),
    expected: ['snp.policy.debug'],
  },
  { name: 'report from VMPL 1', report: () => ({ vmpl: 1 }), expected: ['snp.vmpl'] },
  {
    name: 'report from VMPL 1 when the reference allows up to 1',
    report: () => ({ vmpl: 1 }),
    reference: (rv) => [{ ...rv, maximumVMPL: 1 }],
    expected: [],
  },
  {
    name: 'SMT allowed by the policy but forbidden by the reference',
    reference: (rv) => [{ ...rv, allowSMT: false }],
    expected: ['snp.policy.smt'],
  },
  {
    name: 'SMT not allowed by the policy and forbidden by the reference',
    report: () => ({ policy: { abiMajor: 1, abiMinor: 51 } }),
    reference: (rv) => [{ ...rv, allowSMT: false }],
    expected: [],
  },
  {
    name: 'guest ABI below the minimum',
    report: () => ({ policy: { abiMajor: 1, abiMinor: 50, smt: true } }),
    expected: ['snp.policy.abi'],
  },
  {
    name: 'malformed minimum guest ABI in the reference',
    reference: (rv) => [{ ...rv, minimumGuestABI: 'latest' }],
    expected: ['snp.policy.abi'],
  },
  {
    name: 'provisional firmware: current version differs from committed',
    report: () => ({
      currentFirmware: { major: 1, minor: 55, build: 22 },
      committedFirmware: { major: 1, minor: 55, build: 21 },
    }),
    expected: ['snp.firmware.provisional'],
  },
  {
    name: 'provisional firmware: CURRENT_TCB differs from COMMITTED_TCB',
    report: (sim) => ({ currentTcb: { ...sim.tcb, microcode: sim.tcb.microcode + 1 } }),
    expected: ['snp.firmware.provisional'],
  },
  {
    name: 'provisional firmware, allowed',
    report: () => ({
      currentFirmware: { major: 1, minor: 55, build: 22 },
      committedFirmware: { major: 1, minor: 55, build: 21 },
    }),
    reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
    expected: [],
  },
  {
    name: 'provisional firmware, allowed: CURRENT_TCB above COMMITTED_TCB',
    report: (sim) => ({ currentTcb: { ...sim.tcb, microcode: sim.tcb.microcode + 1 } }),
    reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
    expected: [],
  },
  {
    name: 'provisional firmware, allowed: committed version above current',
    report: () => ({
      currentFirmware: { major: 1, minor: 55, build: 21 },
      committedFirmware: { major: 1, minor: 56, build: 1 },
    }),
    reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
    expected: ['snp.firmware.committed'],
  },
  {
    name: 'provisional firmware, allowed: committed build above current',
    report: () => ({
      currentFirmware: { major: 1, minor: 55, build: 21 },
      committedFirmware: { major: 1, minor: 55, build: 22 },
    }),
    reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
    expected: ['snp.firmware.committed'],
  },
  {
    name: 'provisional firmware, allowed: a newer version with a lower build is not "below"',
    report: () => ({
      currentFirmware: { major: 1, minor: 56, build: 3 },
      committedFirmware: { major: 1, minor: 55, build: 21 },
    }),
    reference: (rv) => [{ ...rv, allowProvisionalFirmware: true }],
    expected: [],
  },

  // Guest policy (item 3): MIGRATE_MA and CXL_ALLOW refused by default, each requirement refuses a policy without its bit.
  {
    name: 'MIGRATE_MA set in the guest policy: refused by default',
    report: () => ({ policy: { abiMajor: 1, abiMinor: 51, smt: true, migrateMA: true } }),
    expected: ['snp.policy.migrate-ma'],
  },
  {
    name: 'MIGRATE_MA set, allowMigrationAgent',
    report: () => ({ policy: { abiMajor: 1, abiMinor: 51, smt: true, migrateMA: true } }),
    reference: (rv) => [{ ...rv, allowMigrationAgent: true }],
    expected: [],
  },
  {
    name: 'CXL_ALLOW set in the guest policy: refused by default',
    report: () => ({ policy: { abiMajor: 1, abiMinor: 51, smt: true, cxlAllowed: true } }),
    expected: ['snp.policy.cxl'],
  },
  {
    name: 'CXL_ALLOW set, allowCXL',
    report: () => ({ policy: { abiMajor: 1, abiMinor: 51, smt: true, cxlAllowed: true } }),
    reference: (rv) => [{ ...rv, allowCXL: true }],
    expected: [],
  },
  {
    name: 'DEBUG, MIGRATE_MA and CXL_ALLOW together: every reason',
    report: () => ({ policy: { abiMajor: 1, abiMinor: 51, debug: true, migrateMA: true, cxlAllowed: true } }),
    expected: ['snp.policy.debug', 'snp.policy.migrate-ma', 'snp.policy.cxl'],
  },
  {
    name: 'guest policy without SINGLE_SOCKET, required',
    reference: (rv) => [{ ...rv, requireSingleSocket: true }],
    expected: ['snp.policy.single-socket'],
  },
  {
    name: 'guest policy without MEM_AES_256_XTS, required',
    reference: (rv) => [{ ...rv, requireMemAES256XTS: true }],
    expected: ['snp.policy.mem-aes-256-xts'],
  },
  {
    name: 'guest policy without RAPL_DIS, required',
    reference: (rv) => [{ ...rv, requireRAPLDisabled: true }],
    expected: ['snp.policy.rapl-dis'],
  },
  {
    name: 'guest policy without CIPHERTEXT_HIDING_DRAM, required',
    reference: (rv) => [{ ...rv, requireCiphertextHiding: true }],
    expected: ['snp.policy.ciphertext-hiding'],
  },
  {
    name: 'guest policy without PAGE_SWAP_DISABLE, required',
    reference: (rv) => [{ ...rv, requirePageSwapDisabled: true }],
    expected: ['snp.policy.page-swap-disable'],
  },
  {
    name: 'guest policy with every required bit',
    report: () => ({
      policy: {
        abiMajor: 1,
        abiMinor: 51,
        singleSocket: true,
        memAes256Xts: true,
        raplDisabled: true,
        ciphertextHiding: true,
        pageSwapDisabled: true,
      },
    }),
    reference: (rv) => [
      {
        ...rv,
        requireSingleSocket: true,
        requireMemAES256XTS: true,
        requireRAPLDisabled: true,
        requireCiphertextHiding: true,
        requirePageSwapDisabled: true,
      },
    ],
    expected: [],
  },

  // PLATFORM_INFO (item 3): reserved bits always refused, the rest as the reference says.
  {
    name: 'PLATFORM_INFO reserved bit 6',
    report: () => ({ platformInfo: 1n | (1n << 6n) }),
    expected: ['snp.platform.reserved'],
  },
  {
    name: 'PLATFORM_INFO reserved bit 8',
    report: () => ({ platformInfo: 1n | (1n << 8n) }),
    expected: ['snp.platform.reserved'],
  },
  {
    name: 'PLATFORM_INFO reserved bit 63',
    report: () => ({ platformInfo: 1n | (1n << 63n) }),
    expected: ['snp.platform.reserved'],
  },
  {
    name: 'PLATFORM_INFO with every defined bit: accepted by default',
    report: () => ({ platformInfo: 0b1011_1111n }),
    expected: [],
  },
  {
    name: 'SMT enabled on the host, forbidden',
    reference: (rv) => [{ ...rv, platformInfo: { allowSMT: false } }],
    expected: ['snp.platform.smt'],
  },
  {
    name: 'SMT disabled on the host, forbidden',
    report: () => ({ platformInfo: {} }),
    reference: (rv) => [{ ...rv, platformInfo: { allowSMT: false } }],
    expected: [],
  },
  {
    name: 'TSME enabled on the host, forbidden',
    report: () => ({ platformInfo: { smtEnabled: true, tsmeEnabled: true } }),
    reference: (rv) => [{ ...rv, platformInfo: { allowTSME: false } }],
    expected: ['snp.platform.tsme'],
  },
  {
    name: 'SEV-TIO enabled on the host, forbidden',
    report: () => ({ platformInfo: { smtEnabled: true, tioEnabled: true } }),
    reference: (rv) => [{ ...rv, platformInfo: { allowTIO: false } }],
    expected: ['snp.platform.tio'],
  },
  {
    name: 'host without ECC, RAPL_DIS, ciphertext hiding and the alias check, all required',
    reference: (rv) => [
      {
        ...rv,
        platformInfo: {
          requireECC: true,
          requireRAPLDisabled: true,
          requireCiphertextHiding: true,
          requireAliasCheckComplete: true,
        },
      },
    ],
    expected: [
      'snp.platform.ecc',
      'snp.platform.rapl-dis',
      'snp.platform.ciphertext-hiding',
      'snp.platform.alias-check',
    ],
  },
  {
    name: 'host with ECC, RAPL_DIS, ciphertext hiding and the alias check, all required',
    report: () => ({
      platformInfo: { eccEnabled: true, raplDisabled: true, ciphertextHidingEnabled: true, aliasCheckComplete: true },
    }),
    reference: (rv) => [
      {
        ...rv,
        platformInfo: {
          requireECC: true,
          requireRAPLDisabled: true,
          requireCiphertextHiding: true,
          requireAliasCheckComplete: true,
        },
      },
    ],
    expected: [],
  },

  // Firmware version (item 3): CURRENT and COMMITTED both at least the minimum, ordered by major, minor, build.
  {
    name: 'firmware below the minimum build',
    reference: (rv) => [{ ...rv, minimumFirmware: { major: 1, minor: 55, build: 22 } }],
    expected: ['snp.firmware.minimum', 'snp.firmware.minimum'],
  },
  {
    name: 'firmware below the minimum version',
    reference: (rv) => [{ ...rv, minimumFirmware: { major: 1, minor: 56, build: 0 } }],
    expected: ['snp.firmware.minimum', 'snp.firmware.minimum'],
  },
  {
    name: 'firmware at the minimum',
    reference: (rv) => [{ ...rv, minimumFirmware: { major: 1, minor: 55, build: 21 } }],
    expected: [],
  },
  {
    name: 'firmware of a newer version with a lower build',
    reference: (rv) => [{ ...rv, minimumFirmware: { major: 1, minor: 54, build: 30 } }],
    expected: [],
  },
  {
    name: 'committed firmware below the minimum, current at it (provisional firmware allowed)',
    report: () => ({
      currentFirmware: { major: 1, minor: 55, build: 22 },
      committedFirmware: { major: 1, minor: 55, build: 21 },
    }),
    reference: (rv) => [{ ...rv, allowProvisionalFirmware: true, minimumFirmware: { major: 1, minor: 55, build: 22 } }],
    expected: ['snp.firmware.minimum'],
  },

  // Mitigation vectors (item 3, version 5 reports): every required bit must be set.
  {
    name: 'v5 report with the required mitigations',
    report: () => ({ version: 5, launchMitVector: 0b11n, currentMitVector: 0b111n }),
    reference: (rv) => [
      { ...rv, minimumMitigationVector: { launch: '0000000000000003', current: '0000000000000007' } },
    ],
    expected: [],
  },
  {
    name: 'v5 report lacking a required current mitigation',
    report: () => ({ version: 5, launchMitVector: 0b11n, currentMitVector: 0b11n }),
    reference: (rv) => [
      { ...rv, minimumMitigationVector: { launch: '0000000000000003', current: '0000000000000007' } },
    ],
    expected: ['snp.mitigation.current'],
  },
  {
    name: 'v5 report lacking a required launch mitigation',
    report: () => ({ version: 5, launchMitVector: 0n, currentMitVector: 1n << 63n }),
    reference: (rv) => [
      { ...rv, minimumMitigationVector: { launch: '0000000000000001', current: '8000000000000000' } },
    ],
    expected: ['snp.mitigation.launch'],
  },
  {
    name: 'v3 report (no mitigation vectors) when mitigations are required',
    reference: (rv) => [{ ...rv, minimumMitigationVector: { current: '0000000000000001' } }],
    expected: ['snp.mitigation.current'],
  },
  {
    name: 'v3 report when the required vector is zero',
    reference: (rv) => [{ ...rv, minimumMitigationVector: { launch: '0000000000000000' } }],
    expected: [],
  },

  // ID block (item 3): a trusted ID or author key, then family, image and SVN.
  {
    name: 'ID block signed by a trusted ID key',
    report: () => ({ idKeyDigest: bytes(48, 0x1d) }),
    reference: (rv) => [{ ...rv, idBlock: { idKeyDigests: [hex(bytes(48, 0x1d))] } }],
    expected: [],
  },
  {
    name: 'ID block signed by an untrusted ID key',
    report: () => ({ idKeyDigest: bytes(48, 0x1e) }),
    reference: (rv) => [{ ...rv, idBlock: { idKeyDigests: [hex(bytes(48, 0x1d))] } }],
    expected: ['snp.id-block.key'],
  },
  {
    name: 'no ID block when an ID key is required',
    reference: (rv) => [{ ...rv, idBlock: { idKeyDigests: [hex(bytes(48, 0x1d))] } }],
    expected: ['snp.id-block.key'],
  },
  {
    name: 'ID key signed by a trusted author key',
    report: () => ({ idKeyDigest: bytes(48, 0x1e), authorKeyDigest: bytes(48, 0xa0), authorKeyEnabled: true }),
    reference: (rv) => [{ ...rv, idBlock: { authorKeyDigests: [hex(bytes(48, 0xa0))] } }],
    expected: [],
  },
  {
    name: 'trusted author key digest but AUTHOR_KEY_EN clear',
    report: () => ({ idKeyDigest: bytes(48, 0x1e), authorKeyDigest: bytes(48, 0xa0) }),
    reference: (rv) => [{ ...rv, idBlock: { authorKeyDigests: [hex(bytes(48, 0xa0))] } }],
    expected: ['snp.id-block.key'],
  },
  {
    name: 'trusted ID key, other FAMILY_ID and IMAGE_ID, GUEST_SVN below the minimum',
    report: () => ({ idKeyDigest: bytes(48, 0x1d), familyId: bytes(16, 1), imageId: bytes(16, 2), guestSvn: 3 }),
    reference: (rv) => [
      {
        ...rv,
        idBlock: {
          idKeyDigests: [hex(bytes(48, 0x1d))],
          familyIds: [hex(bytes(16, 9))],
          imageIds: [hex(bytes(16, 8))],
          minimumGuestSVN: 4,
        },
      },
    ],
    expected: ['snp.id-block.family-id', 'snp.id-block.image-id', 'snp.id-block.guest-svn'],
  },
  {
    name: 'trusted ID key, allowed FAMILY_ID and IMAGE_ID, GUEST_SVN at the minimum',
    report: () => ({ idKeyDigest: bytes(48, 0x1d), familyId: bytes(16, 1), imageId: bytes(16, 2), guestSvn: 4 }),
    reference: (rv) => [
      {
        ...rv,
        idBlock: {
          idKeyDigests: [hex(bytes(48, 0x1d))],
          familyIds: [hex(bytes(16, 1))],
          imageIds: [hex(bytes(16, 2)).toUpperCase()],
          minimumGuestSVN: 4,
        },
      },
    ],
    expected: [],
  },
  { name: 'wrong product', reference: (rv) => [{ ...rv, products: ['Genoa', 'Turin'] }], expected: ['snp.product'] },
  { name: 'any product when products is empty', reference: (rv) => [{ ...rv, products: [] }], expected: [] },
  {
    name: 'VCEK not among the allowed signing keys',
    reference: (rv) => [{ ...rv, signingKeys: ['vlek'] }],
    expected: ['snp.signing-key.allowed'],
  },
  {
    name: 'report names the VLEK but comes with a VCEK',
    report: () => ({ signingKey: 'vlek' }),
    expected: ['snp.signing-key', 'snp.signing-key.allowed'],
  },
  {
    name: 'REPORTED_TCB above the VCEK TCB',
    report: (sim) => ({ reportedTcb: { ...sim.tcb, snp: sim.tcb.snp + 1 } }),
    expected: ['snp.tcb.certificate'],
  },
  { name: 'CHIP_ID of another chip', report: () => ({ chipId: bytes(64, 0x77) }), expected: ['snp.chip-id'] },
  { name: 'masked CHIP_ID', report: () => ({ maskChipId: true }), expected: [] },
  {
    name: 'CPUID of another product',
    report: () => ({ cpuid: { family: 0x19, model: 0x11, stepping: 0 } }),
    expected: ['snp.product', 'snp.product.cpuid'],
  },
  {
    name: 'non-zero reserved byte inside the signed part',
    bytes: (b) => {
      b[0x1a0 - 1] = 1;
    },
    expected: ['snp.report.reserved'],
  },
  {
    name: 'reserved SIGNING_KEY value',
    bytes: (b) => {
      b[0x48] = 3 << 2;
    },
    expected: ['snp.report.reserved', 'snp.signing-key', 'snp.signing-key.allowed'],
  },
  {
    name: 'non-zero byte after the signature (not signed, not checked)',
    bytes: (b) => {
      b[0x400] = 1;
    },
    expected: [],
  },
  {
    name: 'expired VCEK at the given time',
    verify: { at: new Date('2032-01-01T00:00:00Z') },
    expected: ['snp.chain.validity'],
  },
  {
    name: 'VCEK not yet valid at the given time',
    certificates: (sim) => sim.issueEndorsement({ notBefore: new Date('2027-01-01T00:00:00Z') }),
    expected: ['snp.chain.validity'],
  },
  {
    name: "foreign root: simulated evidence against AMD's pinned roots",
    verify: { trust: amdRoots() },
    expected: ['snp.chain'],
  },
  { name: 'revoked ASK', verify: {}, expected: ['snp.crl.revoked'] },
  { name: 'no reference values', reference: () => [], expected: ['snp.reference-values'] },
  {
    name: 'second reference entry matches',
    reference: (rv) => [{ ...rv, measurements: ['00'.repeat(48)] }, rv],
    expected: [],
  },
  {
    name: 'no entry matches: the reasons of every entry',
    reference: (rv) => [
      { ...rv, measurements: ['00'.repeat(48)] },
      { ...rv, products: ['Genoa'], maximumVMPL: 0 },
    ],
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
  const options: SnpVerifyOptions = {
    at: AT,
    trust: sim.roots,
    ...(c.name === 'revoked ASK' ? { collateral: { crl: await sim.crl({ revoked: [sim.askSerial] }) } } : {}),
    ...c.verify,
  };
  const report = sim.unsignedReport(fields);
  c.bytes?.(report);
  const verified = verifySnp({ report: sim.sign(report), certificates }, options);
  const rv = referenceValues(sim);
  return appraiseSnp(verified, c.reference ? c.reference(rv, sim) : [rv], c.expectation ?? expectation);
}

describe('snp/appraise: one change per case', function () {
  this.timeout(60_000);

  for (const [label, sim, table] of [
    ['Milan', milanAllNonZero, cases],
    ['Turin', turin, turinCases],
  ] as const) {
    describe(label, () => {
      for (const c of table) {
        it(`${c.name} -> ${c.expected.length === 0 ? 'accepted' : c.expected.join(', ')}`, async () => {
          const v = await run(await sim(), c);
          assert.deepEqual(
            v.reasons.map((r) => r.check).sort(),
            [...c.expected].sort(),
            JSON.stringify(v.reasons, null, 1),
          );
          assert.equal(v.verified, c.expected.length === 0);
        });
      }
    });
  }

  it('names the matching entry in the claims', async () => {
    const sim = await milan();
    const rv = referenceValues(sim);
    const v = await run(sim, {
      name: 'match',
      reference: () => [{ ...rv, name: 'old', measurements: ['00'.repeat(48)] }, rv],
      expected: [],
    });
    assert.equal(v.claims?.matchedReferenceValues, 1);
    assert.equal(v.claims?.matchedReferenceName, rv.name);
  });

  it("prefixes each entry's reasons with its path and name when none matches", async () => {
    const sim = await milan();
    const rv = referenceValues(sim);
    const v = await run(sim, {
      name: 'none',
      reference: () => [
        { ...rv, measurements: [] },
        { ...rv, name: undefined, measurements: [] },
      ],
      expected: [],
    });
    assert.deepEqual(
      v.reasons.map((r) => r.message.split(':')[0]),
      [`referenceValues.snp[0] (${rv.name})`, 'referenceValues.snp[1]'],
    );
    assert.equal(v.claims?.matchedReferenceValues, null);
  });

  it('keeps the verification reasons and refuses without claims when the report is unreadable', () => {
    const v = appraiseSnp(verifySnp({ report: new Uint8Array(3), certificates: '' }, { at: AT }), []);
    assert.deepEqual(v.reasons.map((r) => r.check).sort(), ['snp.certificate', 'snp.report.length']);
    assert.equal(v.claims, null);
  });

  it('refuses the real go-sev-guest report: debug is allowed in its guest policy', () => {
    const verified = verifySnp(
      {
        report: vectorBytes('snp/milan-gosevguest/report.bin'),
        certificates: vectorBytes('snp/milan-gosevguest/vcek.der'),
      },
      { at: AT },
    );
    assert.equal(verified.verified, true);
    const rv: SnpReferenceValues = {
      measurements: [verified.claims!.measurement],
      minimumTCB: { bootloader: 2, tee: 0, snp: 5, microcode: 68 },
    };
    const v = appraiseSnp(verified, [rv], { reportData: Uint8Array.from([1, 2, 3, 4, 5]) });
    assert.deepEqual(
      v.reasons.map((r) => r.check),
      ['snp.policy.debug'],
    );
  });
});
