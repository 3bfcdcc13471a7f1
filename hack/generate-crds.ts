// Writes crds/*.yaml from the CRD definitions in src/api. Run: node hack/generate-crds.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdFiles } from '../src/api/crd-yaml.ts';
import { projectRoot } from '../src/dev/control-plane.ts';

for (const [name, content] of crdFiles()) {
  writeFileSync(join(projectRoot, 'crds', name), content);
  console.log(`wrote crds/${name}`);
}
