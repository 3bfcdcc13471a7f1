// The operator's --secret-service-url, the worker-proxy sidecars' secret service: https only,
// refused before anything starts, and documented in --help.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../../src/dev/control-plane.ts';

const operator = (...args: string[]) =>
  spawnSync(process.execPath, [join(projectRoot, 'src/cli/main.ts'), 'operator', ...args], { encoding: 'utf8' });

describe('attestor operator --secret-service-url', function () {
  this.timeout(60_000);
  it('refuses a URL that is not https (the sidecars would send their certificates in the clear), and one that is no URL', () => {
    for (const url of ['http://secret-service.attestor-system.svc:8443', 'secret-service:8443']) {
      const r = operator('--secret-service-url', url, '--no-coordinator', '--no-webhook');
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, new RegExp(`--secret-service-url must be an https URL, not ${url}`));
    }
  });
  it('is listed in --help as the worker-proxy sidecars’ secret service', () => {
    const help = operator('--help').stdout;
    assert.match(help, /--secret-service-url <url>[\s\S]*attestor worker-proxy sidecar/);
  });
});
