// The Coordinator API serves a renewed certificate without a restart, as the webhook does: given
// certificate files (the chart's Secret, which cert-manager or an admin renews), it re-reads them
// and installs a new pair once it loads; curl, trusting only the renewed CA, then connects.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CoordinatorServer, startCoordinatorServer } from '../../../src/coordinator/server.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { createCertificateAuthority, issueCertificate, type KeyAndCertificate } from '../../../src/tls/certificates.ts';

/** curl's exit code and HTTP status for a GET, trusting only `caFile`. */
function curl(caFile: string, url: string): Promise<{ exit: number; status: string }> {
  return new Promise((resolve) =>
    execFile('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', caFile, url], (err, stdout) =>
      resolve({ exit: err ? Number((err as { code?: number }).code ?? 1) : 0, status: stdout }),
    ),
  );
}

describe('Coordinator API serving certificate from files', function () {
  this.timeout(60_000);
  let dir: string;
  let server: CoordinatorServer | undefined;
  const pairs: { ca: KeyAndCertificate; serving: KeyAndCertificate; caFile: string }[] = [];

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'attestor-coordinator-cert-'));
    for (const name of ['first', 'renewed']) {
      const ca = await createCertificateAuthority(`${name} serving CA`);
      const serving = await issueCertificate(ca, {
        commonName: 'coordinator',
        usage: 'server',
        ipAddresses: ['127.0.0.1'],
      });
      const caFile = join(dir, `${name}-ca.crt`);
      writeFileSync(caFile, ca.certificatePem);
      pairs.push({ ca, serving, caFile });
    }
  });
  after(async function () {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('re-reads a renewed certificate and key: clients of the renewed CA connect, those of the old one no longer do', async () => {
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    writeFileSync(certFile, pairs[0]!.serving.certificatePem);
    writeFileSync(keyFile, pairs[0]!.serving.privateKeyPem);
    server = await startCoordinatorServer({
      host: '127.0.0.1',
      port: 0,
      tls: { certFile, keyFile, reloadIntervalMs: 200 },
      authenticator: { authenticate: async () => ({ ok: false, status: 401, reason: 'no' }) },
      coordinator: () => undefined,
      log: silentLogger,
    });
    const url = `https://127.0.0.1:${server.port}/v1/nonce`;
    assert.equal((await curl(pairs[0]!.caFile, url)).exit, 0);
    assert.equal((await curl(pairs[1]!.caFile, url)).exit, 60, 'curl: the peer certificate cannot be verified');
    writeFileSync(certFile, pairs[1]!.serving.certificatePem);
    writeFileSync(keyFile, pairs[1]!.serving.privateKeyPem);
    await waitFor(async () => (await curl(pairs[1]!.caFile, url)).exit === 0, {
      timeoutMs: 20_000,
      description: 'the renewed certificate is served',
    });
    assert.equal((await curl(pairs[0]!.caFile, url)).exit, 60);
  });
});
