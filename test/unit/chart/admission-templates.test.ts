import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chartNodePolicyTemplate, chartWebhookTemplate } from '../../../src/chart/admission-templates.ts';
import { projectRoot } from '../../../src/dev/control-plane.ts';

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
