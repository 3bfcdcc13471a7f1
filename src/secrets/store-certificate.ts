/**
 * The secret service's check of the etcd it dials, beyond the chain to the current mesh CA that
 * TLS checks (the only CA it trusts for etcd): the server certificate is an end-entity
 * certificate whose identity extension names the `secret-store` role, so that an etcd the admin
 * supplies (with no mesh certificate), or a certified pod of another role, is never dialled.
 * Names are not checked: which member answers does not matter, only that it is a certified
 * secret store. Pure.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import { X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { readWorkloadIdentity } from '../protocol/workload-certificate.ts';

export const SECRET_STORE_ROLE = 'secret-store';

/** Why `der` is not a secret store's certificate; undefined when it is one. */
export function secretStoreCertificateProblem(der: Uint8Array): string | undefined {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(der);
  } catch {
    return "the secret store's certificate does not parse";
  }
  if (leaf.ca) return "the secret store's certificate is a CA certificate";
  let identity: ReturnType<typeof readWorkloadIdentity>;
  try {
    identity = readWorkloadIdentity(new x509.X509Certificate(leaf.raw));
  } catch {
    return "the secret store's certificate does not parse for its extensions";
  }
  if (identity === undefined) return "the secret store's certificate has no workload identity extension";
  if ('error' in identity) return `the secret store's certificate: ${identity.error}`;
  if (identity.role !== SECRET_STORE_ROLE)
    return `the secret store's certificate names the role ${identity.role}, not ${SECRET_STORE_ROLE}`;
  return undefined;
}
