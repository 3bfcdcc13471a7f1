// A Manifest file read as the API server will store it: defaults filled in where their object is
// present, nulls dropped, unknown fields refused (kubectl's strict validation), one Manifest per file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManifestDocumentError, readManifestDocument } from '../../../src/api/manifest-document.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

const head = 'apiVersion: attestor.dev/v1alpha1\nkind: Manifest\nmetadata: {name: m}\n';
const body = `spec:
  referenceValues:
    snp:
    - measurements: ["${'ab'.repeat(48)}"]
      minimumTCB: {bootloader: 3, tee: 0, snp: 8, microcode: 115}
    gpu: {architectures: [HOPPER], driverVersions: ["550.90.07"], vbiosVersions: ["96.00.9F.00.01"]}
  policies: [{name: p, hash: "${'0f'.repeat(32)}"}]
  runtimeClasses: [kata]
`;

function problems(text: string): string[] {
  try {
    readManifestDocument(text);
  } catch (err) {
    assert.ok(err instanceof ManifestDocumentError);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return assert.fail('accepted');
}

describe('a Manifest file as the API server stores it', () => {
  it('fills in defaults inside objects that are present, not objects that are absent', () => {
    const bare = readManifestDocument(head + body);
    assert.equal(bare.manifest.spec.attestation, undefined);
    const withObjects = readManifestDocument(`${head + body}  attestation: {}\n  development: {}\n`);
    assert.deepEqual(withObjects.manifest.spec.attestation, { evidenceMaxAge: '5m', reattestationInterval: '1h' });
    assert.deepEqual(withObjects.manifest.spec.development, { acceptSimulatedEvidence: false });
    assert.equal(withObjects.hash, manifestHash(withObjects.manifest.spec));
    assert.notEqual(withObjects.hash, bare.hash);
  });

  it('drops null from fields that are not nullable, then defaults them; keeps null where the schema allows it', () => {
    const nulls = readManifestDocument(`${head + body}  attestation: {evidenceMaxAge: null}\n`);
    assert.equal(nulls.manifest.spec.attestation?.evidenceMaxAge, '5m');
    const rtmrs = readManifestDocument(
      `${head + body}`.replace(
        '    gpu:',
        `    tdx:\n    - mrTd: ["${'cd'.repeat(48)}"]\n      rtmrs: [null, ""]\n    gpu:`,
      ),
    );
    assert.deepEqual(rtmrs.manifest.spec.referenceValues.tdx?.[0]?.rtmrs, [null, '']);
  });

  it('refuses unknown fields and wrong types, naming each; reads yes as a boolean, as kubectl does', () => {
    assert.deepEqual(
      problems(
        `${head + body}  attestation: {evidenceMaxAge: 5m, reattestationIntervall: 1h}\n  development: {acceptSimulatedEvidence: 1}\n`,
      ),
      [
        'spec.attestation.reattestationIntervall: unknown field',
        'spec.development.acceptSimulatedEvidence: expected true or false, got number',
      ],
    );
    assert.deepEqual(problems(`${head + body}`.replace('name: p,', 'name: yes,')), [
      'spec.policies[0].name: expected a string, got boolean',
    ]);
  });

  it('wants exactly one Manifest of this API version', () => {
    assert.match(problems(`${head + body}---\n${head + body}`)[0]!, /one Manifest, found 2/);
    assert.match(problems(head.replace('v1alpha1', 'v9') + body)[0]!, /^apiVersion: expected attestor.dev\/v1alpha1/);
    assert.match(problems('{')[0]!, /not YAML/);
    const withOthers = readManifestDocument(`kind: ConfigMap\n---\n${head + body}`);
    assert.equal(withOthers.manifest.metadata.name, 'm');
  });

  it('reads the sample Manifest', () => {
    const sample = readManifestDocument(readFileSync(join(projectRoot, 'samples/manifest.yaml'), 'utf8'));
    assert.equal(sample.manifest.spec.development?.acceptSimulatedEvidence, true);
    assert.match(sample.hash, /^[0-9a-f]{64}$/);
  });
});
