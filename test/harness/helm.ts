/**
 * helm for the tests that render charts/attestor, built on first use by hack/build-helm (a no-op
 * when bin/helm is current), so that only they wait for it: a cold build takes minutes.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { defaultBinDir, projectRoot } from '../../src/dev/control-plane.ts';

/** Time for a cold helm build on a loaded 2-core machine (about 5 minutes measured). */
export const HELM_BUILD_TIMEOUT_MS = 30 * 60_000;

let built: Promise<string> | undefined;

/** The path of bin/helm, once hack/build-helm made sure it is there and current. */
export function buildHelm(): Promise<string> {
  built ??= new Promise<string>((resolve, reject) => {
    // Its progress and errors (stderr) show in the test output; "is current" (stdout) does not.
    const child = spawn(join(projectRoot, 'hack/build-helm'), { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve(join(defaultBinDir, 'helm')) : reject(new Error(`hack/build-helm exited with ${code}`)),
    );
  });
  return built;
}
