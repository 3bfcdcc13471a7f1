/**
 * The client's check of the worker it is about to send a prompt to. TLS (with the attested mesh CA
 * as the only trust anchor) proves the chain and the validity period; this adds what TLS cannot:
 * the certificate is a workload's end-entity certificate, its identity extension names the `worker`
 * role, and its policy hash is a worker policy of the pinned Manifest. The host name is not what
 * identifies a worker (the endpoint may be a load balancer's address): the mesh CA and the policy
 * are. Pure.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { type WorkloadRole, workloadRole } from '../api/manifest-roles.ts';
import { readWorkloadIdentity } from '../protocol/workload-certificate.ts';

export const WORKER_ROLE: WorkloadRole = 'worker';

/** Every reason the certificate (DER) is not a worker's under the pinned Manifest; empty when it is. */
export function workerCertificateProblems(
  der: Uint8Array,
  policies: ReadonlyArray<{ hash: string; role?: WorkloadRole }>,
): string[] {
  const problems: string[] = [];
  let identity: ReturnType<typeof readWorkloadIdentity>;
  try {
    if (new X509Certificate(der).ca) problems.push('the certificate is a CA certificate, not a workload certificate');
    identity = readWorkloadIdentity(new x509.X509Certificate(der));
  } catch {
    return ['the certificate does not parse'];
  }
  if (identity === undefined) return [...problems, 'the certificate has no workload identity extension'];
  if ('error' in identity) return [...problems, identity.error];
  if (identity.role !== WORKER_ROLE) problems.push(`the certificate names the role ${identity.role}, not worker`);
  const allowed = policies.filter((p) => workloadRole(p) === WORKER_ROLE);
  if (!allowed.some((p) => p.hash === identity.policyHash))
    problems.push(
      `the certificate's policy hash ${identity.policyHash} is not a worker policy of the pinned Manifest (${allowed.map((p) => p.hash).join(', ') || 'it has none'})`,
    );
  return problems;
}
