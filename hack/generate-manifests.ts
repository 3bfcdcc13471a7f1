// Writes what is generated from src/: crds/*.yaml, the chart's crds/, its webhook template and
// its node gating policy.
// Run: node hack/generate-manifests.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFiles } from '../src/api/crd-yaml.ts';
import { chartNodePolicyTemplate, chartWebhookTemplate } from '../src/chart/admission-templates.ts';
import { projectRoot } from '../src/dev/control-plane.ts';

// The same CRD files go into the Helm chart, whose crds/ Helm installs before the templates.
for (const dir of ['crds', 'charts/attestor/crds']) {
  for (const [name, content] of crdFiles()) {
    writeFileSync(join(projectRoot, dir, name), content);
    console.log(`wrote ${dir}/${name}`);
  }
}
writeFileSync(join(projectRoot, 'charts/attestor/templates/webhooks.yaml'), chartWebhookTemplate());
console.log('wrote charts/attestor/templates/webhooks.yaml');
writeFileSync(join(projectRoot, 'charts/attestor/templates/node-policy.yaml'), chartNodePolicyTemplate());
console.log('wrote charts/attestor/templates/node-policy.yaml');
