// The workload certificate as the mesh CA issues it (names, usages, lifetime, the identity
// extension), read back with @peculiar/x509 and with openssl, and the extension's encoding.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { CoordinatorPki } from '../../../src/pki/coordinator-pki.ts';
import { serviceDnsNames, workloadLeafRequest } from '../../../src/pki/workload-certificate.ts';
import {
  decodeWorkloadIdentity,
  encodeWorkloadIdentity,
  readWorkloadIdentity,
  WORKLOAD_IDENTITY_OID,
  type WorkloadIdentity,
} from '../../../src/protocol/workload-certificate.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const IDENTITY: WorkloadIdentity = {
  role: 'worker',
  deploymentModel: 'pod-cvm',
  policyHash: 'a1'.repeat(32),
  evidenceDigest: 'b2'.repeat(32),
  manifestHash: 'c3'.repeat(32),
  podUid: '6f1c2d0e-0000-4000-8000-000000000001',
};

async function issue(overrides: Partial<Parameters<typeof workloadLeafRequest>[0]> = {}) {
  const pki = await CoordinatorPki.create(NOW);
  const mesh = await pki.newMeshCa(NOW);
  const { publicKey } = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const certificate = await mesh.issue(
    workloadLeafRequest({
      publicKey,
      aiWorker: 'llama',
      namespace: 'ai',
      podIp: '10.1.2.3',
      sans: ['llama.example.com', '192.0.2.7', 'llama'],
      identity: IDENTITY,
      lifetimeMs: 3_600_000,
      now: NOW,
      ...overrides,
    }),
  );
  return { certificate, mesh, publicKey };
}

describe('workload certificate builder', () => {
  it("names the AIWorker's Service (four forms), the pod IP and the policy entry's SANs, each once", async () => {
    const { certificate } = await issue();
    const names = certificate.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
    assert.deepEqual(
      names.map((n) => `${n.type}:${n.value}`),
      [
        'dns:llama',
        'dns:llama.ai',
        'dns:llama.ai.svc',
        'dns:llama.ai.svc.cluster.local',
        'dns:llama.example.com',
        'ip:10.1.2.3',
        'ip:192.0.2.7',
      ],
    );
    assert.equal(certificate.subject, 'CN=llama, O=ai, OU=worker');
    assert.deepEqual(serviceDnsNames('s', 'n', 'corp.internal'), ['s', 's.n', 's.n.svc', 's.n.svc.corp.internal']);
  });

  it("names a secret-service pod by its app, namespace and role, with only the entry's SANs and the pod IP (no Service)", async () => {
    const pki = await CoordinatorPki.create(NOW);
    const mesh = await pki.newMeshCa(NOW);
    const { publicKey } = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const certificate = await mesh.issue(
      workloadLeafRequest({
        publicKey,
        commonName: 'secret-service',
        namespace: 'secrets',
        podIp: '10.1.2.4',
        sans: ['secret-service.attestor-system.svc'],
        identity: { ...IDENTITY, role: 'secret-service' },
        lifetimeMs: 3_600_000,
        now: NOW,
      }),
    );
    assert.equal(certificate.subject, 'CN=secret-service, O=secrets, OU=secret-service');
    const names = certificate.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
    assert.deepEqual(
      names.map((n) => `${n.type}:${n.value}`),
      ['dns:secret-service.attestor-system.svc', 'ip:10.1.2.4'],
    );
  });

  it('is an end-entity ECDSA P-256 certificate for the given key, for TLS servers and clients', async () => {
    const { certificate, mesh, publicKey } = await issue();
    assert.ok(await certificate.verify({ publicKey: mesh.certificate.publicKey, date: NOW }));
    const spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', publicKey));
    assert.deepEqual(new Uint8Array(certificate.publicKey.rawData), spki);
    assert.equal(certificate.getExtension(x509.BasicConstraintsExtension)!.ca, false);
    assert.deepEqual(
      [...certificate.getExtension(x509.ExtendedKeyUsageExtension)!.usages],
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    );
    const dir = mkdtempSync(join(tmpdir(), 'workload-cert-'));
    try {
      writeFileSync(join(dir, 'mesh.pem'), mesh.pem);
      writeFileSync(join(dir, 'cert.pem'), certificate.toString('pem'));
      const text = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-text'], {
        encoding: 'utf8',
      });
      assert.match(text, /ASN1 OID: prime256v1/);
      assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
      assert.match(text, new RegExp(WORKLOAD_IDENTITY_OID.replaceAll('.', '\\.')));
      const verified = execFileSync(
        'openssl',
        [
          'verify',
          '-partial_chain',
          '-attime',
          String(NOW.getTime() / 1000 + 60),
          '-purpose',
          'sslclient',
          '-CAfile',
          join(dir, 'mesh.pem'),
          join(dir, 'cert.pem'),
        ],
        { encoding: 'utf8' },
      );
      assert.match(verified, /cert\.pem: OK/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lives no longer than the evidence's validity, and no longer than the mesh CA", async () => {
    const { certificate } = await issue({ lifetimeMs: 5 * 60_000 });
    assert.equal(certificate.notAfter.getTime(), NOW.getTime() + 5 * 60_000);
    const { certificate: capped, mesh } = await issue({ lifetimeMs: 100 * 365 * 24 * 3_600_000 });
    assert.equal(capped.notAfter.getTime(), mesh.certificate.notAfter.getTime());
  });

  it('carries the workload identity (role, model, policy hash, evidence digest, Manifest hash, pod UID) in its extension', async () => {
    const { certificate } = await issue();
    assert.deepEqual(readWorkloadIdentity(certificate), IDENTITY);
    const extension = certificate.getExtension(WORKLOAD_IDENTITY_OID)!;
    assert.equal(extension.critical, false, 'TLS stacks that do not know it still use the certificate');
  });

  it('refuses to encode a hash that is not 32 bytes of hex, and decodes nothing but version 1 of the structure', () => {
    assert.throws(() => encodeWorkloadIdentity({ ...IDENTITY, policyHash: 'AB'.repeat(32) }), /policyHash/);
    assert.throws(() => encodeWorkloadIdentity({ ...IDENTITY, evidenceDigest: 'ab' }), /evidenceDigest/);
    const der = encodeWorkloadIdentity(IDENTITY);
    assert.deepEqual(decodeWorkloadIdentity(der), IDENTITY);
    assert.ok('error' in (decodeWorkloadIdentity(der.subarray(0, der.length - 1)) as object));
    const bumped = Uint8Array.from(der);
    const version = Buffer.from(bumped).indexOf(Buffer.from([0x02, 0x01, 0x01])); // INTEGER 1, the first member
    bumped[version + 2] = 2;
    assert.deepEqual(decodeWorkloadIdentity(bumped), { error: 'the workload identity is not version 1' });
  });
});
