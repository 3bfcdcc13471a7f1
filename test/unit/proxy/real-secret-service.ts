// The real secret service for the proxies' tests: a real etcd (bin/etcd) on loopback serving a
// secret-store certificate of the test mesh CA and requiring mesh client certificates, and
// `startSecretService` serving HTTPS with a secret-service certificate (policy SERVICE_POLICY of
// chain-fixture.ts). Workers get their secrets as `attestor worker-proxy --secret-service` does:
// startReleasedSecrets over mTLS with the worker's own volume, which gains mesh-ca.pem here.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePorts } from '../../../src/dev/ports.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { startLocalEtcd } from '../../../src/secrets/local-etcd.ts';
import { startSecretService } from '../../../src/secrets/secret-service.ts';
import { type ReleasedSecrets, startReleasedSecrets } from '../../../src/worker/released-secrets.ts';
import { workload, writeWorkloadFiles } from '../secrets/identities.ts';

const run = promisify(execFile);

export interface RealSecretService {
  /** https://127.0.0.1:port */
  url: string;
  /** The worker proxy's lookup for a worker volume (cert.pem, key.pem); writes the mesh CA into it. */
  releasedTo(workerDir: string): Promise<ReleasedSecrets>;
  close(): Promise<void>;
}

export async function startRealSecretService(mesh: CertificateAuthority): Promise<RealSecretService> {
  const dir = mkdtempSync(join(tmpdir(), 'real-secret-service-'));
  const [clientPort, peerPort] = await freePorts(2);
  const store = await workload(mesh, 'secret-store');
  writeFileSync(join(dir, 'etcd-cert.pem'), store.cert);
  writeFileSync(join(dir, 'etcd-key.pem'), store.key, { mode: 0o600 });
  writeFileSync(join(dir, 'etcd-trusted.pem'), mesh.pem);
  const etcd = startLocalEtcd({
    dir: join(dir, 'etcd'),
    clientPort: clientPort!,
    peerPort: peerPort!,
    certFile: join(dir, 'etcd-cert.pem'),
    keyFile: join(dir, 'etcd-key.pem'),
    trustedCaFile: join(dir, 'etcd-trusted.pem'),
  });
  const lookups: ReleasedSecrets[] = [];
  try {
    writeWorkloadFiles(join(dir, 'service'), mesh, await workload(mesh, 'secret-service'));
    const probe = ['-sk', '--cert', join(dir, 'service/cert.pem'), '--key', join(dir, 'service/key.pem')];
    await waitFor(
      async () => (await run('curl', [...probe, `${etcd.endpoint}/health`])).stdout.includes('"health":"true"'),
      { timeoutMs: 60_000, description: 'the secret-store etcd to answer' },
    );
    const service = await startSecretService({
      host: '127.0.0.1',
      port: 0,
      certDir: join(dir, 'service'),
      etcdEndpoints: [etcd.endpoint],
      rateLimit: { perMinute: 6000, burst: 1000 },
      log: silentLogger,
    });
    return {
      url: service.url,
      async releasedTo(workerDir) {
        writeFileSync(join(workerDir, 'mesh-ca.pem'), mesh.pem);
        const lookup = await startReleasedSecrets({ url: service.url, certificateDir: workerDir });
        lookups.push(lookup);
        return lookup;
      },
      async close() {
        for (const lookup of lookups) lookup.close();
        await service.close();
        await etcd.process.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await etcd.process.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
