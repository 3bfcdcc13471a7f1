import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartNodePolicyTemplate, chartWebhookTemplate } from '../../../src/api/chart-webhooks.ts';
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

describe('charts/attestor/templates/webhooks.yaml', () => {
  it('is generated from src/webhook/configuration.ts (run: node hack/generate-manifests.ts)', () => {
    assert.equal(
      readFileSync(join(projectRoot, 'charts/attestor/templates/webhooks.yaml'), 'utf8'),
      chartWebhookTemplate(),
    );
  });
});

describe('charts/attestor/templates/node-policy.yaml', () => {
  it('is generated from src/webhook/node-policy.ts (run: node hack/generate-manifests.ts)', () => {
    assert.equal(
      readFileSync(join(projectRoot, 'charts/attestor/templates/node-policy.yaml'), 'utf8'),
      chartNodePolicyTemplate(),
    );
  });
});
