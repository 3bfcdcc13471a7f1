import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFiles } from '../../../src/api/crd-yaml.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

describe('crds/*.yaml and charts/attestor/crds/*.yaml', () => {
  for (const dir of ['crds', 'charts/attestor/crds']) {
    for (const [name, expected] of crdFiles()) {
      it(`${dir}/${name} is generated from src/api (run: node hack/generate-manifests.ts)`, () => {
        assert.equal(readFileSync(join(projectRoot, dir, name), 'utf8'), expected);
      });
    }
  }
});
