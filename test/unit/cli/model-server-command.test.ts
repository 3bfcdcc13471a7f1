// `attestor model-server`: the embedded model server as the process an AIWorker runs from the
// attestor image in development mode, with vLLM's flags and its /health check, reached with curl.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../../src/dev/control-plane.ts';
import { freePort } from '../../../src/dev/ports.ts';
import { waitFor } from '../../../src/dev/wait.ts';

describe('attestor model-server', function () {
  this.timeout(60_000);
  it("serves vLLM's /health and the one model it is given, on the --port it is given, and stops on SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        join(projectRoot, 'src/cli/main.ts'),
        'model-server',
        '--model',
        'sample-model',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => output.includes(`on 127.0.0.1:${port}`) || undefined, {
        timeoutMs: 30_000,
        description: 'the model server to listen',
      });
      const curl = (path: string) =>
        execFileSync('curl', ['-sS', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${path}`], { encoding: 'utf8' });
      assert.match(curl('/health'), /\n200$/);
      const models = curl('/v1/models');
      assert.match(models, /\n200$/);
      assert.match(models, /"id":"sample-model"/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
