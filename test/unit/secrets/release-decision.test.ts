// The secret service's release rule: only a worker-role certificate, valid now, from the mesh CA
// the secret was exchanged under, gets the secret, and only before it expires; every problem listed.
import assert from 'node:assert/strict';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { releaseDecision } from '../../../src/secrets/release-decision.ts';
import { meshCa, workload } from './identities.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const LATER = new Date(NOW.getTime() + 3_600_000);

describe('secret release decision', () => {
  let mesh: CertificateAuthority;
  let other: CertificateAuthority;
  before(async () => {
    mesh = await meshCa(NOW);
    other = await meshCa(NOW);
  });

  const decide = (der: Uint8Array | undefined, at = NOW, expiresAt = LATER, ca = mesh.pem) =>
    releaseDecision({ clientCertificate: der, meshCa: ca, expiresAt, at });
  const checks = (d: ReturnType<typeof releaseDecision>) => (d.released ? [] : d.reasons.map((r) => r.check));

  it('releases to a worker certificate from the mesh CA of the secret, valid now', async () => {
    const worker = await workload(mesh, 'worker', { now: NOW });
    assert.deepEqual(decide(worker.der), { released: true });
  });

  it('refuses a worker certificate from another mesh CA (a Manifest change)', async () => {
    const worker = await workload(other, 'worker', { now: NOW });
    const d = decide(worker.der);
    assert.deepEqual(checks(d), ['secret-release.chain']);
    assert.match(JSON.stringify(d), /exchanged under another mesh CA/);
  });

  it('refuses the secret-service and secret-store roles, and a certificate without the identity extension', async () => {
    for (const role of ['secret-service', 'secret-store']) {
      const d = decide((await workload(mesh, role, { now: NOW })).der);
      assert.deepEqual(checks(d), ['secret-release.role'], role);
    }
    assert.deepEqual(checks(decide((await workload(mesh, undefined, { now: NOW })).der)), ['secret-release.identity']);
  });

  it('refuses an expired worker certificate, and one not yet valid', async () => {
    const worker = await workload(mesh, 'worker', { now: NOW, lifetimeMs: 60_000 });
    assert.deepEqual(checks(decide(worker.der, new Date(NOW.getTime() + 120_000))), ['secret-release.validity']);
    // Before it (and the mesh CA, made at the same time) became valid: both are named.
    assert.deepEqual(checks(decide(worker.der, new Date(NOW.getTime() - 3_600_000))), [
      'secret-release.validity',
      'secret-release.validity',
    ]);
  });

  it('refuses an expired secret, no certificate, and an unreadable one', async () => {
    const worker = await workload(mesh, 'worker', { now: NOW });
    assert.deepEqual(checks(decide(worker.der, NOW, NOW)), ['secret-release.expired']);
    assert.deepEqual(checks(decide(undefined)), ['secret-release.certificate']);
    assert.deepEqual(checks(decide(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))), ['secret-release.certificate']);
  });

  it('lists every problem at once', async () => {
    const store = await workload(other, 'secret-store', { now: NOW, lifetimeMs: 60_000 });
    const d = decide(store.der, new Date(NOW.getTime() + 120_000), NOW);
    assert.deepEqual(checks(d).sort(), [
      'secret-release.chain',
      'secret-release.expired',
      'secret-release.role',
      'secret-release.validity',
    ]);
  });
});
