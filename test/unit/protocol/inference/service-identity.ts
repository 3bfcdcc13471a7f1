// A secret service's workload identity for the inference protocol tests: a mesh CA made through
// src/pki/ (CoordinatorPki), and a workload certificate with the identity extension for a fresh
// ECDSA P-256 key, as the Coordinator issues one to a certified pod.
import { webcrypto } from 'node:crypto';
import type { CertificateAuthority } from '../../../../src/pki/certificate-authority.ts';
import { CoordinatorPki } from '../../../../src/pki/coordinator-pki.ts';
import { workloadLeafRequest } from '../../../../src/pki/workload-certificate.ts';
import type { WorkloadIdentity } from '../../../../src/protocol/workload-certificate.ts';

export const NOW = new Date('2026-06-01T00:00:00Z');
export const SERVICE_POLICY = 'a1'.repeat(32);
export const WORKER_POLICY = 'b2'.repeat(32);
/** The pinned Manifest's policies: one secret-service policy and one worker policy. */
export const POLICIES = [
  { name: 'secret-service', hash: SERVICE_POLICY, role: 'secret-service' as const },
  { name: 'llama', hash: WORKER_POLICY },
];

export interface ServiceIdentity {
  mesh: CertificateAuthority;
  signingKey: webcrypto.CryptoKey;
  certificateChain: string[];
}

export async function meshCa(): Promise<CertificateAuthority> {
  const pki = await CoordinatorPki.create(NOW);
  return pki.newMeshCa(NOW);
}

export async function serviceIdentity(
  options: { mesh?: CertificateAuthority; identity?: Partial<WorkloadIdentity>; withoutIdentity?: boolean } = {},
): Promise<ServiceIdentity> {
  const mesh = options.mesh ?? (await meshCa());
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const request = workloadLeafRequest({
    publicKey: keys.publicKey,
    aiWorker: 'secret-service',
    namespace: 'attestor',
    identity: {
      role: 'secret-service',
      deploymentModel: 'pod-cvm',
      policyHash: SERVICE_POLICY,
      evidenceDigest: 'c3'.repeat(32),
      manifestHash: 'd4'.repeat(32),
      podUid: '6f1c2d0e-0000-4000-8000-000000000002',
      ...options.identity,
    },
    lifetimeMs: 3_600_000,
    now: NOW,
  });
  if (options.withoutIdentity) request.extensions = [];
  const certificate = await mesh.issue(request);
  return { mesh, signingKey: keys.privateKey, certificateChain: [certificate.toString('pem')] };
}
