/**
 * Whether the secret service releases a secret to the worker that asks: its client certificate
 * (the TLS handshake proved it holds the key) must chain to the mesh CA under which the secret was
 * exchanged (not merely to the service's current one: after a Manifest change, workers certified
 * under the new mesh CA get none of the secrets exchanged under the old one), be valid now, be an
 * end-entity certificate and name the `worker` role in its identity extension; and the secret must
 * not have expired. Every problem is listed. Pure: time is a parameter.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { chainToAnchor, validityPeriod, validityProblems } from '../attestation/certificate-chain.ts';
import { type Reason, reason } from '../attestation/verdict.ts';
import { SECRET_RELEASE_ROLE } from '../protocol/inference/secret-release.ts';
import { readWorkloadIdentity } from '../protocol/workload-certificate.ts';

export interface ReleaseRequest {
  /** The worker's client certificate (DER), as the TLS handshake presented it; absent when it sent none. */
  clientCertificate: Uint8Array | undefined;
  /** The mesh CA (PEM) under which the secret was exchanged, from its stored record. */
  meshCa: string;
  /** When the secret expires. */
  expiresAt: Date;
  at: Date;
}

export type ReleaseDecision = { released: true } | { released: false; reasons: Reason[] };

export function releaseDecision(request: ReleaseRequest): ReleaseDecision {
  const reasons = workerCertificateProblems(request.clientCertificate, request.meshCa, request.at);
  if (request.at.getTime() >= request.expiresAt.getTime())
    reasons.push(reason('secret-release.expired', `the secret expired at ${request.expiresAt.toISOString()}`));
  return reasons.length === 0 ? { released: true } : { released: false, reasons };
}

/** What is wrong with a worker's certificate for secrets exchanged under `meshCa`, at `at`; empty when nothing is. */
export function workerCertificateProblems(der: Uint8Array | undefined, meshCa: string, at: Date): Reason[] {
  return workloadCertificateProblems(der, meshCa, at, {
    role: SECRET_RELEASE_ROLE,
    check: 'secret-release',
    anotherCa: "the secret was exchanged under another mesh CA than the worker's",
  });
}

/** The role a certificate must name, the check id its reasons carry, and what a chain failure means. */
export interface ExpectedWorkload {
  role: string;
  /** The registry whose ids the reasons carry (secret-release-checks.ts, storage-key-checks.ts). */
  check: 'secret-release' | 'storage-key';
  anotherCa: string;
}

/**
 * What is wrong with a workload certificate (DER) for `expected.role` under `meshCa` at `at`: it
 * chains to that mesh CA, is valid now (it and the CA), is an end-entity certificate and names the
 * role in its identity extension. Empty when nothing is; every problem listed.
 */
export function workloadCertificateProblems(
  der: Uint8Array | undefined,
  meshCa: string,
  at: Date,
  expected: ExpectedWorkload,
): Reason[] {
  const check = (name: 'certificate' | 'chain' | 'validity' | 'identity' | 'role') =>
    `${expected.check}.${name}` as const;
  if (der === undefined || der.length === 0)
    return [reason(check('certificate'), 'the client presented no certificate')];
  let leaf: X509Certificate;
  let anchor: X509Certificate;
  try {
    leaf = new X509Certificate(der);
  } catch {
    return [reason(check('certificate'), 'the client certificate does not parse')];
  }
  try {
    anchor = new X509Certificate(meshCa);
  } catch {
    return [reason(check('chain'), 'the mesh CA does not parse')];
  }
  const reasons: Reason[] = [];
  const anchored = chainToAnchor([leaf], [anchor], expected.role);
  for (const problem of anchored.problems) reasons.push(reason(check('chain'), `${problem}: ${expected.anotherCa}`));
  for (const problem of validityProblems([validityPeriod(leaf), validityPeriod(anchor)], at))
    reasons.push(reason(check('validity'), problem));
  if (leaf.ca) reasons.push(reason(check('identity'), 'the certificate is a CA certificate'));
  let identity: ReturnType<typeof readWorkloadIdentity>;
  try {
    identity = readWorkloadIdentity(new x509.X509Certificate(leaf.raw));
  } catch {
    identity = { error: 'the certificate does not parse for its extensions' };
  }
  if (identity === undefined)
    reasons.push(reason(check('identity'), 'the certificate has no workload identity extension'));
  else if ('error' in identity) reasons.push(reason(check('identity'), identity.error));
  else if (identity.role !== expected.role)
    reasons.push(reason(check('role'), `the certificate names the role ${identity.role}, not ${expected.role}`));
  return reasons;
}
