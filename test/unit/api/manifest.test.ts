import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { selectActiveManifest } from '../../../src/api/active-manifest.ts';
import { parseDuration } from '../../../src/api/duration.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { appliedManifestHash, manifestHash, manifestSpecAsStored } from '../../../src/api/manifest-hash.ts';
import { CONFIDENTIAL_NODE_MODEL, manifestRelaxations } from '../../../src/api/manifest-relaxations.ts';
import { policyHashesForRole, referenceValuesForRole } from '../../../src/api/manifest-roles.ts';
import { ownerKeyOf } from '../../../src/api/manifest-signature.ts';
import { validateManifestSpec } from '../../../src/api/manifest-validation.ts';
import { desiredManifestStatus } from '../../../src/controllers/manifest/status.ts';

/** A strict Manifest: its one CVM entry is a pod VM's (a node entry would enable the admin-trusted model). */
function validSpec(): ManifestSpec {
  return {
    runtimeClasses: ['kata'],
    policies: [{ name: 'p', hash: 'aa'.repeat(32) }],
    referenceValues: {
      snp: [
        { role: 'pod', measurements: ['01'.repeat(48)], minimumTCB: { bootloader: 1, tee: 0, snp: 8, microcode: 115 } },
      ],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
  };
}

function manifest(name: string, created: string, spec: ManifestSpec = validSpec()): Manifest {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name, creationTimestamp: new Date(created), generation: 1 },
    spec,
  };
}

describe('manifest hash', () => {
  it('of a spec as applied, with fields left to their schema defaults, is the hash of the spec as stored', () => {
    const applied = {
      runtimeClasses: ['kata'],
      policies: [{ name: 'p', hash: 'aa'.repeat(32) }] as Array<Record<string, string>>,
      referenceValues: {
        snp: [{ measurements: ['01'.repeat(48)], minimumTCB: { bootloader: 1, tee: 0, snp: 8, microcode: 115 } }],
        tdx: [{ mrTd: ['02'.repeat(48)], rtmrs: [null, '03'.repeat(48)], mrSeam: null }],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      attestation: {},
      development: {},
    };
    const stored: ManifestSpec = {
      runtimeClasses: ['kata'],
      policies: [{ name: 'p', hash: 'aa'.repeat(32) }],
      referenceValues: {
        snp: [
          {
            measurements: ['01'.repeat(48)],
            minimumTCB: { bootloader: 1, tee: 0, snp: 8, microcode: 115 },
          },
        ],
        tdx: [{ mrTd: ['02'.repeat(48)], rtmrs: [null, '03'.repeat(48)] }],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      attestation: { evidenceMaxAge: '5m', reattestationInterval: '1h' },
      development: { acceptSimulatedEvidence: false },
    };
    assert.deepEqual(manifestSpecAsStored(applied), stored);
    assert.equal(appliedManifestHash(applied), manifestHash(stored));
    assert.equal(appliedManifestHash(stored), manifestHash(stored), 'a stored spec is its own fixed point');
    assert.equal(applied.policies[0]!.role, undefined, 'the input is not modified');
    // A misspelt field would vanish from the hash if it were pruned: it is refused, as kubectl's
    // strict field validation refuses it.
    applied.policies[0]!.rol = 'worker';
    assert.throws(() => appliedManifestHash(applied), /spec\.policies\[0\]\.rol: unknown field/);
  });

  it('is SHA-256 of the RFC 8785 canonical JSON (checked against an independent canonicaliser)', () => {
    // python3: sha256(json.dumps(spec, sort_keys=True, separators=(',', ':')))
    assert.equal(manifestHash(validSpec()), '7881a4a999b8e76be7d6a3f9a04fcfa1544fc3247d777a5ddec36bea2da7d648');
  });

  it('does not depend on key order, and changes with any value', () => {
    const spec = validSpec();
    const reordered = JSON.parse(
      JSON.stringify({
        referenceValues: spec.referenceValues,
        policies: spec.policies,
        runtimeClasses: spec.runtimeClasses,
      }),
    );
    assert.equal(manifestHash(reordered), manifestHash(spec));
    const changed = validSpec();
    changed.referenceValues.snp![0]!.minimumTCB.snp = 9;
    assert.notEqual(manifestHash(changed), manifestHash(spec));
  });
});

describe('manifest validation beyond the schema', () => {
  const cases: Array<{ name: string; mutate: (s: ManifestSpec) => void; path: string }> = [
    { name: 'no GPU reference values', mutate: (s) => delete s.referenceValues.gpu, path: 'spec.referenceValues.gpu' },
    {
      name: 'FMC minimum without Turin',
      mutate: (s) => {
        s.referenceValues.snp![0]!.minimumTCB.fmc = 1;
        s.referenceValues.snp![0]!.products = ['Genoa'];
      },
      path: 'spec.referenceValues.snp[0].minimumTCB.fmc',
    },
    {
      name: 'a measurement listed twice',
      mutate: (s) => s.referenceValues.snp![0]!.measurements.push('01'.repeat(48)),
      path: 'spec.referenceValues.snp[0].measurements[1]',
    },
    {
      name: 'two SNP entries with one name',
      mutate: (s) => {
        s.referenceValues.snp![0]!.name = 'x';
        s.referenceValues.snp!.push({ ...s.referenceValues.snp![0]!, name: 'x' });
      },
      path: 'spec.referenceValues.snp[1].name',
    },
    {
      name: 'a bad duration',
      mutate: (s) => {
        s.attestation = { reattestationInterval: 'soon' };
      },
      path: 'spec.attestation.reattestationInterval',
    },
    {
      name: 'SNP FAMILY_IDs without a trusted ID or author key',
      mutate: (s) => {
        s.referenceValues.snp![0]!.idBlock = { familyIds: ['01'.repeat(16)] };
      },
      path: 'spec.referenceValues.snp[0].idBlock.familyIds',
    },
    {
      name: 'an SNP GUEST_SVN minimum without a trusted ID or author key',
      mutate: (s) => {
        s.referenceValues.snp![0]!.idBlock = { minimumGuestSVN: 2 };
      },
      path: 'spec.referenceValues.snp[0].idBlock.minimumGuestSVN',
    },
    {
      name: 'an all-zero SNP ID key digest',
      mutate: (s) => {
        s.referenceValues.snp![0]!.idBlock = { idKeyDigests: ['11'.repeat(48), '00'.repeat(48)] };
      },
      path: 'spec.referenceValues.snp[0].idBlock.idKeyDigests[1]',
    },
    {
      name: 'an SNP measurement allowed for node CVMs and for the Coordinator (a pod could present the node report)',
      mutate: (s) => {
        s.referenceValues.snp![0]!.role = 'node';
        s.referenceValues.snp!.push({ ...s.referenceValues.snp![0]!, name: 'c', role: 'coordinator' });
      },
      path: 'spec.referenceValues.snp[1].measurements[0]',
    },
    {
      name: 'a TDX MRTD allowed for node CVMs (by default) and for pod VMs',
      mutate: (s) => {
        s.referenceValues.tdx = [
          { mrTd: ['02'.repeat(48)] },
          { role: 'pod', mrTd: ['03'.repeat(48), '02'.repeat(48)] },
        ];
      },
      path: 'spec.referenceValues.tdx[1].mrTd[1]',
    },
    {
      name: 'a SAN that is neither a DNS name nor an IP address',
      mutate: (s) => {
        s.policies[0]!.sans = ['llama.default.svc', '10.0.0.1', 'Not A Name'];
      },
      path: 'spec.policies[0].sans[2]',
    },
  ];
  it('accepts the valid fixture', () => assert.deepEqual(validateManifestSpec(validSpec()), []));
  it('accepts a measurement shared by pod VMs and the Coordinator (their policy hashes tell them apart), and SANs that are names, wildcards or IPs', () => {
    const spec = validSpec();
    spec.referenceValues.snp!.push({ ...spec.referenceValues.snp![0]!, name: 'coordinator', role: 'coordinator' });
    spec.policies[0]!.sans = ['llama.default.svc.cluster.local', '*.llama.default.svc', '10.0.0.1', 'fd00::1'];
    assert.deepEqual(validateManifestSpec(spec), []);
  });
  it('accepts SNP ID-block values together with a trusted key', () => {
    const spec = validSpec();
    spec.referenceValues.snp![0]!.idBlock = {
      authorKeyDigests: ['11'.repeat(48)],
      familyIds: ['01'.repeat(16)],
      imageIds: ['02'.repeat(16)],
      minimumGuestSVN: 1,
    };
    assert.deepEqual(validateManifestSpec(spec), []);
  });
  for (const c of cases) {
    it(`refuses ${c.name}, naming ${c.path}`, () => {
      const spec = validSpec();
      c.mutate(spec);
      assert.deepEqual(
        validateManifestSpec(spec).map((p) => p.path),
        [c.path],
      );
    });
  }
  it('reports every problem, not only the first', () => {
    const spec = validSpec();
    delete spec.referenceValues.gpu;
    spec.attestation = { evidenceMaxAge: 'x', reattestationInterval: 'y' };
    assert.equal(validateManifestSpec(spec).length, 3);
  });
});

describe('active manifest', () => {
  it('is the newest valid one', () => {
    const older = manifest('older', '2026-01-01T00:00:00Z');
    const newer = manifest('newer', '2026-02-01T00:00:00Z');
    assert.equal(selectActiveManifest([older, newer])?.metadata.name, 'newer');
  });
  it('never an invalid one, however new', () => {
    const spec = validSpec();
    delete spec.referenceValues.gpu;
    assert.equal(
      selectActiveManifest([manifest('ok', '2026-01-01T00:00:00Z'), manifest('bad', '2026-03-01T00:00:00Z', spec)])
        ?.metadata.name,
      'ok',
    );
  });
  it('breaks ties by name, and is undefined without a valid one', () => {
    assert.equal(
      selectActiveManifest([manifest('a', '2026-01-01T00:00:00Z'), manifest('b', '2026-01-01T00:00:00Z')])?.metadata
        .name,
      'b',
    );
    assert.equal(selectActiveManifest([]), undefined);
  });
});

describe('manifest status', () => {
  const now = new Date('2026-05-01T10:00:00Z');
  it('records the previous hash in the history when the spec changes', () => {
    const m = manifest('m', '2026-01-01T00:00:00Z');
    m.metadata.generation = 2;
    m.status = { hash: 'old'.padEnd(64, '0'), observedGeneration: 1 };
    const status = desiredManifestStatus(m, {
      hash: 'new'.padEnd(64, '0'),
      problems: [],
      standing: { active: true },
      now,
    });
    assert.equal(status.hash, 'new'.padEnd(64, '0'));
    assert.deepEqual(status.history, [
      { hash: 'old'.padEnd(64, '0'), generation: 1, replacedAt: '2026-05-01T10:00:00Z' },
    ]);
    assert.equal(status.activeSince, '2026-05-01T10:00:00Z');
  });
  it('says which Manifest superseded it', () => {
    const status = desiredManifestStatus(manifest('m', '2026-01-01T00:00:00Z'), {
      hash: 'h'.repeat(64),
      problems: [],
      standing: { active: false, reason: 'Superseded', by: manifest('other', '2026-02-01T00:00:00Z') },
      now,
    });
    const active = status.conditions!.find((c) => c.type === 'Active')!;
    assert.equal(active.status, 'False');
    assert.equal(active.reason, 'Superseded');
    assert.match(active.message, /other/);
  });
});

describe('manifest relaxations', () => {
  const now = new Date('2026-05-01T10:00:00Z');
  it('a strict Manifest relaxes nothing and says so in the Relaxed condition', () => {
    assert.deepEqual(manifestRelaxations(validSpec()), []);
    const status = desiredManifestStatus(manifest('m', '2026-01-01T00:00:00Z'), {
      hash: 'h'.repeat(64),
      problems: [],
      standing: { active: true },
      relaxations: [],
      now,
    });
    const relaxed = status.conditions!.find((c) => c.type === 'Relaxed')!;
    assert.equal(relaxed.status, 'False');
    assert.equal(relaxed.reason, 'Strict');
  });
  it('spec.owners only tightens (who may replace the Manifest): listed or empty, it relaxes nothing', () => {
    const spec = validSpec();
    spec.owners = [ownerKeyOf(generateKeyPairSync('ed25519').privateKey, 'alice')];
    assert.deepEqual(manifestRelaxations(spec), []);
    spec.owners = [];
    assert.deepEqual(manifestRelaxations(spec), []);
  });
  it('names every field that turns off a fail-closed check, in the Relaxed condition', () => {
    const spec = validSpec();
    spec.development = { acceptSimulatedEvidence: true };
    spec.referenceValues.snp![0]!.allowProvisionalFirmware = true;
    const relaxations = manifestRelaxations(spec);
    assert.deepEqual(
      relaxations.map((r) => r.path),
      ['spec.development.acceptSimulatedEvidence', 'spec.referenceValues.snp[0].allowProvisionalFirmware'],
    );
    const status = desiredManifestStatus(manifest('m', '2026-01-01T00:00:00Z', spec), {
      hash: 'h'.repeat(64),
      problems: [],
      standing: { active: true },
      relaxations,
      now,
    });
    const relaxed = status.conditions!.find((c) => c.type === 'Relaxed')!;
    assert.equal(relaxed.status, 'True');
    assert.equal(relaxed.reason, 'ChecksRelaxed');
    assert.match(relaxed.message, /acceptSimulatedEvidence/);
    assert.match(relaxed.message, /allowProvisionalFirmware/);
  });
  it('names every GPU field that turns off a fail-closed check: RIMs, FWID, OCSP answers, unknown and revoked status', () => {
    const spec = validSpec();
    spec.referenceValues.gpu = {
      ...spec.referenceValues.gpu!,
      requireRIMs: false,
      requireFWID: false,
      ocsp: { required: false, allowUnknown: true, revokedGracePeriodHours: 48 },
    };
    assert.deepEqual(
      manifestRelaxations(spec).map((r) => r.path),
      [
        'spec.referenceValues.gpu.requireRIMs',
        'spec.referenceValues.gpu.requireFWID',
        'spec.referenceValues.gpu.ocsp.required',
        'spec.referenceValues.gpu.ocsp.allowUnknown',
        'spec.referenceValues.gpu.ocsp.revokedGracePeriodHours',
      ],
    );
    assert.match(manifestRelaxations(spec).at(-1)!.message, /48 hours/);
  });
  it('does not count GPU fields set to their strict values as relaxations', () => {
    const spec = validSpec();
    spec.referenceValues.gpu = {
      ...spec.referenceValues.gpu!,
      requireRIMs: true,
      requireFWID: true,
      ocsp: { required: true, allowUnknown: false, revokedGracePeriodHours: 0 },
    };
    assert.deepEqual(manifestRelaxations(spec), []);
  });
  it('a TDX entry that accepts missing collateral is a relaxation, named by its index', () => {
    const spec = validSpec();
    spec.referenceValues.tdx = [
      { role: 'pod', mrTd: ['02'.repeat(48)] },
      { role: 'pod', mrTd: ['03'.repeat(48)], allowMissingCollateral: true },
    ];
    const relaxations = manifestRelaxations(spec);
    assert.deepEqual(
      relaxations.map((r) => r.path),
      ['spec.referenceValues.tdx[1].allowMissingCollateral'],
    );
    assert.match(relaxations[0]!.message, /TCB status and revocation not evaluated/);
    spec.referenceValues.tdx[1]!.allowMissingCollateral = false;
    assert.deepEqual(manifestRelaxations(spec), []);
  });
});

describe('manifest relaxations: the confidential-node model', () => {
  it('every CVM entry in the node role, by default or explicitly, enables the admin-trusted model, named by its role', () => {
    const spec = validSpec();
    spec.referenceValues.snp!.push({ ...spec.referenceValues.snp![0]!, role: 'node' });
    spec.referenceValues.tdx = [{ mrTd: ['02'.repeat(48)] }, { role: 'coordinator', mrTd: ['03'.repeat(48)] }];
    const relaxations = manifestRelaxations(spec);
    assert.deepEqual(
      relaxations.map((r) => r.path),
      ['spec.referenceValues.snp[1].role', 'spec.referenceValues.tdx[0].role'],
    );
    assert.equal(relaxations[0]!.message, CONFIDENTIAL_NODE_MODEL);
    assert.match(relaxations[0]!.message, /trusts the cluster admin/);
  });
});

describe('manifest roles', () => {
  it("evidence of a role is appraised against its role's CVM entries, unnamed ones named by their place in the Manifest", () => {
    const spec = validSpec();
    spec.referenceValues.snp = [
      { ...spec.referenceValues.snp![0]!, role: 'node' },
      { ...spec.referenceValues.snp![0]!, role: 'coordinator', measurements: ['04'.repeat(48)] },
      { ...spec.referenceValues.snp![0]!, name: 'pods', role: 'pod' },
    ];
    spec.referenceValues.tdx = [{ mrTd: ['02'.repeat(48)] }];
    const coordinator = referenceValuesForRole(spec.referenceValues, 'coordinator');
    assert.deepEqual(
      coordinator.snp!.map((e) => [e.name, e.measurements[0]]),
      [['snp[1]', '04'.repeat(48)]],
    );
    assert.deepEqual(coordinator.tdx, []);
    assert.deepEqual(coordinator.gpu, spec.referenceValues.gpu);
    assert.deepEqual(
      referenceValuesForRole(spec.referenceValues, 'node').tdx!.map((e) => e.name),
      ['tdx[0]'],
    );
    assert.deepEqual(
      referenceValuesForRole(spec.referenceValues, 'pod').snp!.map((e) => e.name),
      ['pods'],
    );
  });
  it('the Coordinator carries only coordinator policies, nodes and pods every other one', () => {
    const policies = [
      { name: 'w', hash: '01'.repeat(32) },
      { name: 'c', hash: '02'.repeat(32), role: 'coordinator' as const },
      { name: 's', hash: '03'.repeat(32), role: 'secret-service' as const },
    ];
    assert.deepEqual(policyHashesForRole(policies, 'coordinator'), ['02'.repeat(32)]);
    assert.deepEqual(policyHashesForRole(policies, 'node'), ['01'.repeat(32), '03'.repeat(32)]);
    assert.deepEqual(policyHashesForRole(policies, 'pod'), ['01'.repeat(32), '03'.repeat(32)]);
  });
});

describe('manifest relaxations: SEV-SNP guest policy and VMPL', () => {
  it('lists allowMigrationAgent, allowCXL and a maximumVMPL above 0, and no SNP field that only tightens', () => {
    const spec = validSpec();
    const strict = spec.referenceValues.snp![0]!;
    Object.assign(strict, {
      maximumVMPL: 0,
      allowSMT: false,
      requireSingleSocket: true,
      requireMemAES256XTS: true,
      requireRAPLDisabled: true,
      requireCiphertextHiding: true,
      requirePageSwapDisabled: true,
      platformInfo: {
        allowSMT: false,
        allowTSME: false,
        allowTIO: false,
        requireECC: true,
        requireAliasCheckComplete: true,
      },
      minimumFirmware: { major: 1, minor: 55, build: 21 },
      minimumMitigationVector: { current: '0000000000000001' },
      idBlock: { idKeyDigests: ['11'.repeat(48)] },
    });
    assert.deepEqual(manifestRelaxations(spec), []);
    spec.referenceValues.snp!.push({
      ...strict,
      name: 'relaxed',
      allowMigrationAgent: true,
      allowCXL: true,
      maximumVMPL: 2,
    });
    const relaxations = manifestRelaxations(spec);
    assert.deepEqual(
      relaxations.map((r) => r.path),
      [
        'spec.referenceValues.snp[1].allowMigrationAgent',
        'spec.referenceValues.snp[1].allowCXL',
        'spec.referenceValues.snp[1].maximumVMPL',
      ],
    );
    assert.match(relaxations[0]!.message, /MIGRATE_MA/);
    assert.match(relaxations[1]!.message, /CXL_ALLOW/);
    assert.match(relaxations[2]!.message, /VMPL up to 2/);
  });
});

describe('parseDuration', () => {
  it('reads Go durations', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5h'), 5_400_000);
  });
  it('refuses anything else', () => {
    for (const bad of ['', '5', 'm', '1d', '-1s', '1 h']) assert.equal(parseDuration(bad), undefined, bad);
  });
});
