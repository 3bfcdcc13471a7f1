/**
 * Which pods of an AIWorker (either deployment model) hold a current workload certificate: the
 * certificate the Coordinator recorded on the pod (WORKLOAD_CERTIFICATE_ANNOTATION) counts only
 * when it verifies under the current mesh CA (whose key lives only in the Coordinator's memory, so
 * nobody who can edit pods can forge one), is valid now, and names this pod's UID in its workload
 * identity extension (a certificate copied from another pod names that pod). A Manifest change
 * replaces the mesh CA, so certificates issued before it stop counting at once.
 */
import 'reflect-metadata'; // @peculiar/x509 needs it (tsyringe)
import type * as k8s from '@kubernetes/client-node';
import * as x509 from '@peculiar/x509';
import { WORKLOAD_CERTIFICATE_ANNOTATION } from '../../api/aiworker-labels.ts';
import { readWorkloadIdentity } from '../../protocol/workload-certificate.ts';

export interface CertifiedPods {
  /** UIDs of the pods whose certificate is current. */
  uids: Set<string>;
  /** When the first of those certificates expires (ms since the epoch), to look again then. */
  firstExpiry?: number;
}

/** Verifications already made, by mesh CA and certificate: a certificate verifies once. */
const verified = new Map<string, { podUid: string; notBefore: number; notAfter: number } | null>();

export async function certifiedPods(
  pods: readonly k8s.V1Pod[],
  meshCa: x509.X509Certificate | undefined,
  now: Date,
): Promise<CertifiedPods> {
  const result: CertifiedPods = { uids: new Set() };
  if (!meshCa) return result;
  for (const pod of pods) {
    const pem = pod.metadata?.annotations?.[WORKLOAD_CERTIFICATE_ANNOTATION];
    const uid = pod.metadata?.uid;
    if (!pem || !uid || pod.metadata?.deletionTimestamp) continue;
    const facts = await readCertificate(pem, meshCa);
    if (!facts || facts.podUid !== uid || facts.notBefore > now.getTime() || facts.notAfter <= now.getTime()) continue;
    result.uids.add(uid);
    result.firstExpiry = Math.min(result.firstExpiry ?? Number.POSITIVE_INFINITY, facts.notAfter);
  }
  return result;
}

/** The pod UID and validity of a certificate the mesh CA issued; null when it did not issue it (or it is no workload certificate). */
async function readCertificate(
  pem: string,
  meshCa: x509.X509Certificate,
): Promise<{ podUid: string; notBefore: number; notAfter: number } | null> {
  const key = `${meshCa.serialNumber}:${pem}`;
  const known = verified.get(key);
  if (known !== undefined) return known;
  let facts: { podUid: string; notBefore: number; notAfter: number } | null = null;
  try {
    const certificate = new x509.X509Certificate(pem);
    const signed =
      certificate.issuer === meshCa.subject &&
      (await certificate.verify({ publicKey: meshCa.publicKey, signatureOnly: true }));
    const identity = readWorkloadIdentity(certificate);
    if (signed && identity && !('error' in identity))
      facts = {
        podUid: identity.podUid,
        notBefore: certificate.notBefore.getTime(),
        notAfter: certificate.notAfter.getTime(),
      };
  } catch {
    facts = null; // not a certificate: counts as none
  }
  if (verified.size > 10_000) verified.clear();
  verified.set(key, facts);
  return facts;
}
