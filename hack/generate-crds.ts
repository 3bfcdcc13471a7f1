// Writes crds/*.yaml from the CRD definitions in src/api. Run: node hack/generate-crds.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFiles } from '../src/api/crd-yaml.ts';
import { projectRoot } from '../src/dev/control-plane.ts';

// The same files go into the Helm chart, whose crds/ Helm installs before the templates.
for (const dir of ['crds', 'charts/attestor/crds']) {
  for (const [name, content] of crdFiles()) {
    writeFileSync(join(projectRoot, dir, name), content);
    console.log(`wrote ${dir}/${name}`);
  }
}
