// Writes what is generated from src/: crds/*.yaml, the chart's CRD templates, its webhook
// template and its node gating policy.
// Run: node hack/generate-manifests.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFiles } from '../src/api/crd-yaml.ts';
import { chartNodePolicyTemplate, chartWebhookTemplate } from '../src/chart/admission-templates.ts';
import { chartCrdTemplates } from '../src/chart/crd-templates.ts';
import { projectRoot } from '../src/dev/control-plane.ts';

for (const [name, content] of crdFiles()) {
  writeFileSync(join(projectRoot, 'crds', name), content);
  console.log(`wrote crds/${name}`);
}
// The chart's CRDs are templates (crds.enabled, crds.keep), so that helm upgrade updates them.
mkdirSync(join(projectRoot, 'charts/attestor/templates/crds'), { recursive: true });
for (const [name, content] of chartCrdTemplates()) {
  writeFileSync(join(projectRoot, 'charts/attestor/templates/crds', name), content);
  console.log(`wrote charts/attestor/templates/crds/${name}`);
}
writeFileSync(join(projectRoot, 'charts/attestor/templates/webhooks.yaml'), chartWebhookTemplate());
console.log('wrote charts/attestor/templates/webhooks.yaml');
writeFileSync(join(projectRoot, 'charts/attestor/templates/node-policy.yaml'), chartNodePolicyTemplate());
console.log('wrote charts/attestor/templates/node-policy.yaml');
