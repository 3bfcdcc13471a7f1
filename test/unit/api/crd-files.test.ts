import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFiles } from '../../../src/api/crd-yaml.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

describe('crds/*.yaml', () => {
  for (const [name, expected] of crdFiles()) {
    it(`${name} is generated from src/api (run: node hack/generate-crds.ts)`, () => {
      assert.equal(readFileSync(join(projectRoot, 'crds', name), 'utf8'), expected);
    });
  }
});
