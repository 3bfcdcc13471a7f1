// The check-ID registry: one entry per check a Reason can carry, each with its kind. The kinds decide
// what the Coordinator retains for re-appraisal and which verdict it shows for simulated evidence,
// so the classification is spelled out here: moving a check to another kind must change this test.
import assert from 'node:assert/strict';
import { CHECKS, type CheckId, isCheckId } from '../../../src/attestation/check-registry.ts';
import { COORDINATOR_CHECKS } from '../../../src/attestation/coordinator-checks.ts';
import { NODE_CHECKS } from '../../../src/attestation/node-checks.ts';
import { GPU_CHECKS } from '../../../src/attestation/nvidia/checks.ts';
import { parseGpuReport } from '../../../src/attestation/nvidia/spdm.ts';
import { SECRET_RELEASE_CHECKS } from '../../../src/attestation/secret-release-checks.ts';
import { SECRET_SERVICE_CHECKS } from '../../../src/attestation/secret-service-checks.ts';
import { SNP_CHECKS } from '../../../src/attestation/snp/checks.ts';
import { parseSnpReport } from '../../../src/attestation/snp/report.ts';
import { STORAGE_KEY_CHECKS } from '../../../src/attestation/storage-key-checks.ts';
import { TDX_CHECKS } from '../../../src/attestation/tdx/checks.ts';
import { asReason, isGenuine, onlyComparisons, reason } from '../../../src/attestation/verdict.ts';
import { WORKLOAD_CHECKS } from '../../../src/attestation/workload-checks.ts';

const BINDINGS = [
  'gpu.nonce',
  'node.gpu.duplicate',
  'node.gpu.missing',
  'node.gpu.unexpected',
  'node.gpu.uuid',
  'secret-release.expired',
  'secret-service.secret-id',
  'secret-service.signature',
  'snp.report-data',
  'storage-key.signature',
  'tdx.report-data',
  'workload.countersignature',
  'workload.pod',
  'workload.proof-of-possession',
];

const COMPARISONS = [
  'coordinator.admin-trusted',
  'coordinator.evidence.in-use',
  'coordinator.history',
  'coordinator.manifest-hash',
  'coordinator.peer.policy',
  'gpu.arch',
  'gpu.driver-version',
  'gpu.fwid',
  'gpu.measurement',
  'gpu.mode',
  'gpu.rim.digest',
  'gpu.rim.missing',
  'gpu.vbios-version',
  'node.cvm.reference-values',
  'node.gpu.mode',
  'node.gpu.reference-values',
  'secret-release.role',
  'secret-service.policy',
  'secret-service.role',
  'snp.firmware.committed',
  'snp.firmware.minimum',
  'snp.firmware.provisional',
  'snp.host-data',
  'snp.id-block.family-id',
  'snp.id-block.guest-svn',
  'snp.id-block.image-id',
  'snp.id-block.key',
  'snp.measurement',
  'snp.mitigation.current',
  'snp.mitigation.launch',
  'snp.platform.alias-check',
  'snp.platform.ciphertext-hiding',
  'snp.platform.ecc',
  'snp.platform.rapl-dis',
  'snp.platform.reserved',
  'snp.platform.smt',
  'snp.platform.tio',
  'snp.platform.tsme',
  'snp.policy.abi',
  'snp.policy.ciphertext-hiding',
  'snp.policy.cxl',
  'snp.policy.debug',
  'snp.policy.mem-aes-256-xts',
  'snp.policy.migrate-ma',
  'snp.policy.page-swap-disable',
  'snp.policy.rapl-dis',
  'snp.policy.single-socket',
  'snp.policy.smt',
  'snp.product',
  'snp.reference-values',
  'snp.signing-key.allowed',
  'snp.tcb.committed',
  'snp.tcb.current',
  'snp.tcb.launch',
  'snp.tcb.reported',
  'snp.vmpl',
  'storage-key.role',
  'tdx.collateral.missing',
  'tdx.mrconfigid',
  'tdx.mrowner',
  'tdx.mrownerconfig',
  'tdx.mrseam',
  'tdx.mrtd',
  'tdx.pce-svn',
  'tdx.qe-svn',
  'tdx.qe-tcb-status',
  'tdx.reference-values',
  'tdx.rtmr0',
  'tdx.rtmr1',
  'tdx.rtmr2',
  'tdx.rtmr3',
  'tdx.tcb-status',
  'tdx.td-attributes',
  'tdx.td-attributes.debug',
  'tdx.td-attributes.fixed-bits',
  'tdx.tee-tcb-svn',
  'tdx.xfam',
  'tdx.xfam.fixed-bits',
  'workload.deployment-model',
  'workload.node',
  'workload.policy',
];

const ids = (kind: string): string[] =>
  Object.entries(CHECKS)
    .filter(([, info]) => info.kind === kind)
    .map(([id]) => id)
    .sort();

describe('check-ID registry', () => {
  it('keeps each platform in its own registry, named by its prefix, with a description', () => {
    for (const [registry, prefix] of [
      [SNP_CHECKS, /^snp\./],
      [TDX_CHECKS, /^tdx\./],
      [GPU_CHECKS, /^gpu\./],
      [NODE_CHECKS, /^(node|coordinator)\./],
      [COORDINATOR_CHECKS, /^coordinator\./],
      [WORKLOAD_CHECKS, /^workload\./],
      [SECRET_SERVICE_CHECKS, /^secret-service\./],
      [SECRET_RELEASE_CHECKS, /^secret-release\./],
      [STORAGE_KEY_CHECKS, /^storage-key\./],
    ] as const) {
      for (const [id, info] of Object.entries(registry)) {
        assert.match(id, prefix);
        assert.ok(info.about.length > 10, id);
      }
    }
    assert.equal(
      Object.keys(CHECKS).length,
      [
        SNP_CHECKS,
        TDX_CHECKS,
        GPU_CHECKS,
        NODE_CHECKS,
        COORDINATOR_CHECKS,
        WORKLOAD_CHECKS,
        SECRET_SERVICE_CHECKS,
        SECRET_RELEASE_CHECKS,
        STORAGE_KEY_CHECKS,
      ].reduce((n, r) => n + Object.keys(r).length, 0),
      'no id is registered twice',
    );
  });

  it('classifies every check: bindings and comparisons as listed here, all others authenticity', () => {
    assert.deepEqual(ids('binding'), BINDINGS);
    assert.deepEqual(ids('comparison'), COMPARISONS);
    assert.deepEqual(
      ids('authenticity'),
      Object.keys(CHECKS)
        .filter((id) => !BINDINGS.includes(id) && !COMPARISONS.includes(id))
        .sort(),
    );
    for (const id of [
      'snp.signature',
      'snp.chain',
      'snp.crl.revoked',
      'snp.certificates',
      'tdx.pck-chain',
      'tdx.tdx-module',
      'gpu.ocsp',
      'gpu.rim.signature',
    ])
      assert.equal(CHECKS[id as CheckId].kind, 'authenticity', id);
  });

  it('puts the kind on every reason, parse failures included', () => {
    assert.deepEqual(reason('tdx.mrtd', 'MRTD differs'), {
      check: 'tdx.mrtd',
      kind: 'comparison',
      message: 'MRTD differs',
    });
    assert.equal(reason('gpu.nonce', 'another nonce').kind, 'binding');
    const parseFailures = [() => parseSnpReport(new Uint8Array(10)), () => parseGpuReport(new Uint8Array(10))];
    for (const parse of parseFailures) {
      let r: ReturnType<typeof asReason> | undefined;
      try {
        parse();
      } catch (err) {
        r = asReason(err);
      }
      assert.equal(r?.kind, 'authenticity', r?.check);
      assert.ok(isCheckId(r!.check));
    }
  });

  it('answers the two questions the Coordinator asks of a refusal', () => {
    const comparison = reason('snp.measurement', '');
    const binding = reason('node.gpu.missing', '');
    const authenticity = reason('gpu.cert-chain', '');
    assert.equal(onlyComparisons([]), true);
    assert.equal(onlyComparisons([comparison]), true);
    assert.equal(onlyComparisons([comparison, binding]), false);
    assert.equal(isGenuine([comparison, binding]), true);
    assert.equal(isGenuine([comparison, authenticity]), false);
    assert.equal(isCheckId('something.new'), false);
  });
});
