import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import {
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_POD_MEASUREMENT,
  SIMULATED_POD_MRTD,
} from '../../../src/agent/evidence/simulated.ts';
import { enabledModels } from '../../../src/api/deployment-model.ts';
import type { Manifest } from '../../../src/api/manifest.ts';
import { manifestRelaxations } from '../../../src/api/manifest-relaxations.ts';
import { policyHashesForRole, referenceValuesForRole } from '../../../src/api/manifest-roles.ts';
import { validateManifestSpec } from '../../../src/api/manifest-validation.ts';
import { policyHash } from '../../../src/controllers/aiworker/policy.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

/** A YAML document of samples/, read loosely: the fields the test reads, not a Kubernetes type. */
interface SampleDocument {
  kind: string;
  data: Record<string, string>;
  spec: { runtimeClassName: string; policy: { configMapRef: { key: string } } };
}

const load = (file: string) =>
  yaml.loadAll(readFileSync(join(projectRoot, 'samples', file), 'utf8')) as SampleDocument[];

describe('samples/', () => {
  it('the sample Manifest is valid', () => {
    const [manifest] = load('manifest.yaml') as unknown as Manifest[];
    assert.deepEqual(validateManifestSpec(manifest!.spec), []);
  });
  it("lists the simulated Coordinator's pod VM in the coordinator role and the simulated pod VMs in the pod role, and enables the pod-CVM model only (nothing admin-trusted)", () => {
    const [manifest] = load('manifest.yaml') as unknown as Manifest[];
    const spec = manifest!.spec;
    assert.deepEqual(
      referenceValuesForRole(spec.referenceValues, 'coordinator').snp!.map((e) => e.measurements),
      [[SIMULATED_COORDINATOR_MEASUREMENT]],
    );
    assert.deepEqual(policyHashesForRole(spec.policies, 'coordinator'), [SIMULATED_COORDINATOR_POLICY_HASH]);
    const pods = referenceValuesForRole(spec.referenceValues, 'pod');
    assert.deepEqual(
      pods.snp!.map((e) => e.measurements),
      [[SIMULATED_POD_MEASUREMENT]],
    );
    assert.deepEqual(
      pods.tdx!.map((e) => e.mrTd),
      [[SIMULATED_POD_MRTD]],
    );
    assert.deepEqual([...enabledModels(manifest!)], ['pod-cvm']);
    assert.deepEqual(
      manifestRelaxations(spec)
        .map((r) => r.path)
        .filter((p) => p.endsWith('.role')),
      [],
      'no node entries: the admin-trusted confidential-node model is off',
    );
  });
  it('the sample AIWorker policy is one the sample Manifest allows, and matches samples/policy.rego', () => {
    const [manifest] = load('manifest.yaml') as unknown as Manifest[];
    const docs = load('aiworker.yaml');
    const configMap = docs.find((d) => d.kind === 'ConfigMap')!;
    const worker = docs.find((d) => d.kind === 'AIWorker')!;
    const document = configMap.data[worker.spec.policy.configMapRef.key];
    assert.equal(document, readFileSync(join(projectRoot, 'samples', 'policy.rego'), 'utf8'));
    assert.ok(manifest!.spec.policies.some((p) => p.hash === policyHash(document)));
    assert.ok(manifest!.spec.runtimeClasses.includes(worker.spec.runtimeClassName));
    assert.equal((worker.spec as { deploymentModel?: string }).deploymentModel, 'pod-cvm');
  });
  it('the secret-service and secret-store policies of the sample Manifest are samples/secret-service-policy.rego and samples/secret-store-policy.rego', () => {
    const [manifest] = load('manifest.yaml') as unknown as Manifest[];
    for (const role of ['secret-service', 'secret-store'] as const) {
      const document = readFileSync(join(projectRoot, 'samples', `${role}-policy.rego`), 'utf8');
      assert.deepEqual(
        manifest!.spec.policies.filter((p) => p.role === role).map((p) => p.hash),
        [policyHash(document)],
        role,
      );
    }
  });
});
