/**
 * The workload certificate the mesh CA issues to a pod whose evidence the Coordinator accepted
 * and whose GPUs `attestor init` activated: ECDSA P-256 (the pod's own key; the Coordinator never
 * sees its private half), EKU client and server, a subject naming the AIWorker (or the pod's app, for
 * a secret-service or secret-store pod), its namespace and its role, SANs for the AIWorker's
 * Service (none for a role pod), the pod IP and the policy entry's `sans`, the workload identity
 * extension (src/protocol/workload-certificate.ts), and a lifetime no longer than the evidence's
 * validity (the Manifest's reattestationInterval). Pure: the request, not the signature.
 */
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import {
  encodeWorkloadIdentity,
  WORKLOAD_IDENTITY_OID,
  type WorkloadIdentity,
} from '../protocol/workload-certificate.ts';
import type { LeafRequest } from './certificate-authority.ts';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

export interface WorkloadCertificateInput {
  publicKey: LeafRequest['publicKey'];
  /** The AIWorker, whose Service has the same name; absent for a secret-service or secret-store pod. */
  aiWorker?: string;
  /** The subject's CN; default the AIWorker. */
  commonName?: string;
  namespace: string;
  /** The pod's IP, when it has one. */
  podIp?: string;
  /** The policy entry's `sans`: DNS names and IP addresses. */
  sans?: readonly string[];
  clusterDomain?: string;
  identity: WorkloadIdentity;
  /** How long the evidence stands (the Manifest's reattestationInterval). */
  lifetimeMs: number;
  now: Date;
}

/** The names a Service answers to inside the cluster: `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.<domain>`. */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = DEFAULT_CLUSTER_DOMAIN): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.${clusterDomain}`,
  ];
}

export function workloadLeafRequest(input: WorkloadCertificateInput): LeafRequest {
  const commonName = input.commonName ?? input.aiWorker;
  if (!commonName) throw new Error('a workload certificate needs a common name or an AIWorker');
  const dnsNames = input.aiWorker ? serviceDnsNames(input.aiWorker, input.namespace, input.clusterDomain) : [];
  const ipAddresses = input.podIp ? [input.podIp] : [];
  for (const san of input.sans ?? []) {
    const list = isIP(san) ? ipAddresses : dnsNames;
    if (!list.includes(san)) list.push(san);
  }
  return {
    publicKey: input.publicKey,
    subject: `CN=${commonName}, O=${input.namespace}, OU=${input.identity.role}`,
    dnsNames,
    ipAddresses,
    notAfter: new Date(input.now.getTime() + input.lifetimeMs),
    now: input.now,
    extensions: [new x509.Extension(WORKLOAD_IDENTITY_OID, false, encodeWorkloadIdentity(input.identity))],
  };
}
