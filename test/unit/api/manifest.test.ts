import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { selectActiveManifest } from '../../../src/api/active-manifest.ts';
import { parseDuration } from '../../../src/api/duration.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { manifestRelaxations } from '../../../src/api/manifest-relaxations.ts';
import { ownerKeyOf } from '../../../src/api/manifest-signature.ts';
import { validateManifestSpec } from '../../../src/api/manifest-validation.ts';
import { desiredManifestStatus } from '../../../src/controllers/manifest/status.ts';

function validSpec(): ManifestSpec {
  return {
    runtimeClasses: ['kata'],
    policies: [{ name: 'p', hash: 'aa'.repeat(32) }],
    referenceValues: {
      snp: [{ measurements: ['01'.repeat(48)], minimumTCB: { bootloader: 1, tee: 0, snp: 8, microcode: 115 } }],
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
  it('is SHA-256 of the RFC 8785 canonical JSON (checked against an independent canonicaliser)', () => {
    // python3: sha256(json.dumps(spec, sort_keys=True, separators=(',', ':')))
    assert.equal(manifestHash(validSpec()), 'c04044ab62abd04b3832bd5ec07c64ff1d334207ae4440bc82613594e140baaa');
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
  ];
  it('accepts the valid fixture', () => assert.deepEqual(validateManifestSpec(validSpec()), []));
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
    spec.referenceValues.tdx = [{ mrTd: ['02'.repeat(48)] }, { mrTd: ['03'.repeat(48)], allowMissingCollateral: true }];
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
