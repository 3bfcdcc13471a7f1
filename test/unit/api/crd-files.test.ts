import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFiles } from '../../../src/api/crd-yaml.ts';
import { chartCrdTemplates } from '../../../src/chart/crd-templates.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

describe('crds/*.yaml and charts/attestor/templates/crds/*.yaml', () => {
  for (const [name, expected] of crdFiles()) {
    it(`crds/${name} is generated from src/api (run: node hack/generate-manifests.ts)`, () => {
      assert.equal(readFileSync(join(projectRoot, 'crds', name), 'utf8'), expected);
    });
  }
  const templates = chartCrdTemplates();
  for (const [name, expected] of templates) {
    it(`charts/attestor/templates/crds/${name} is generated from src/api (run: node hack/generate-manifests.ts)`, () => {
      assert.equal(readFileSync(join(projectRoot, 'charts/attestor/templates/crds', name), 'utf8'), expected);
    });
  }
  it('the chart holds no other CRD files, and no crds/ folder that helm upgrade would never update', () => {
    assert.deepEqual(
      readdirSync(join(projectRoot, 'charts/attestor/templates/crds')).sort(),
      [...templates.keys()].sort(),
    );
    assert.throws(() => readdirSync(join(projectRoot, 'charts/attestor/crds')), /ENOENT/);
  });
});
