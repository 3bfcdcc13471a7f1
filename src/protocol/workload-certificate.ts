/**
 * What a workload certificate says about the workload beyond its names, in one non-critical
 * extension under a private OID (WORKLOAD_IDENTITY_OID):
 *
 *   WorkloadIdentity ::= SEQUENCE {
 *     version          INTEGER (1),
 *     role             UTF8String,               -- the policy entry's role: worker, secret-service, secret-store
 *     deploymentModel  UTF8String,               -- pod-cvm (confidential-node: later)
 *     policyHash       OCTET STRING (SIZE (32)), -- SHA-256 of the pod's policy, as HOST_DATA / MRCONFIGID carried it
 *     evidenceDigest   OCTET STRING (SIZE (32)), -- SHA-256 of the evidence the Coordinator accepted
 *     manifestHash     OCTET STRING (SIZE (32)), -- the Manifest it was appraised against
 *     podUid           UTF8String                -- the pod the certificate was issued to
 *   }
 *
 * The Coordinator writes it, `attestor init`, the AIWorker controller and clients read it with
 * this file. Non-critical, so that TLS stacks that do not know it still use the certificate. Pure.
 */
import * as asn1js from 'asn1js';

/**
 * A private arc: attestor has no IANA Private Enterprise Number yet, so this one sits in the PEN
 * space at a number far beyond any assigned (IANA has assigned fewer than 70 000), to be replaced
 * by attestor's own once registered. Not a 2.25.<UUID> OID: @peculiar/x509 (asn1js) cannot carry
 * an arc above 2^53 through certificate generation. No arc above 2^31 - 1 either: Go's crypto/x509
 * (cryptobyte) refuses a whole certificate with such an arc ("malformed extension OID field"), so
 * etcd, the Kubernetes components and any Go client could not use a workload certificate.
 */
export const WORKLOAD_IDENTITY_OID = '1.3.6.1.4.1.2147483647.1.1';
export const WORKLOAD_IDENTITY_VERSION = 1;

export interface WorkloadIdentity {
  role: string;
  deploymentModel: string;
  /** Hex, 32 bytes. */
  policyHash: string;
  /** Hex, 32 bytes. */
  evidenceDigest: string;
  /** Hex, 32 bytes. */
  manifestHash: string;
  podUid: string;
}

const HEX32 = /^[0-9a-f]{64}$/;

/**
 * The workload identity of a certificate (@peculiar/x509's X509Certificate is one): undefined
 * when it has no such extension, an error when it has a malformed one.
 */
export function readWorkloadIdentity(certificate: {
  getExtension(type: string): { value: ArrayBuffer } | null;
}): WorkloadIdentity | { error: string } | undefined {
  const extension = certificate.getExtension(WORKLOAD_IDENTITY_OID);
  return extension ? decodeWorkloadIdentity(new Uint8Array(extension.value)) : undefined;
}

/** The extension's value (DER). Throws for a hash that is not 32 bytes of lower-case hex (a bug). */
export function encodeWorkloadIdentity(identity: WorkloadIdentity): Uint8Array {
  for (const field of ['policyHash', 'evidenceDigest', 'manifestHash'] as const)
    if (!HEX32.test(identity[field])) throw new Error(`${field} is not 32 bytes of lower-case hex`);
  const octets = (hex: string) => new asn1js.OctetString({ valueHex: Buffer.from(hex, 'hex') });
  const sequence = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: WORKLOAD_IDENTITY_VERSION }),
      new asn1js.Utf8String({ value: identity.role }),
      new asn1js.Utf8String({ value: identity.deploymentModel }),
      octets(identity.policyHash),
      octets(identity.evidenceDigest),
      octets(identity.manifestHash),
      new asn1js.Utf8String({ value: identity.podUid }),
    ],
  });
  return new Uint8Array(sequence.toBER());
}

/** Reads the extension's value; an error for anything but version 1 of the structure above. */
export function decodeWorkloadIdentity(der: Uint8Array): WorkloadIdentity | { error: string } {
  const parsed = asn1js.fromBER(Uint8Array.from(der));
  if (parsed.offset === -1 || parsed.offset !== der.length || !(parsed.result instanceof asn1js.Sequence))
    return { error: 'the workload identity extension is not one DER SEQUENCE' };
  const items = parsed.result.valueBlock.value;
  if (items.length !== 7) return { error: `the workload identity has ${items.length} members, not 7` };
  const [version, role, model, policy, evidence, manifest, podUid] = items;
  if (!(version instanceof asn1js.Integer) || version.valueBlock.valueDec !== WORKLOAD_IDENTITY_VERSION)
    return { error: 'the workload identity is not version 1' };
  const text = (v: unknown) => (v instanceof asn1js.Utf8String ? v.valueBlock.value : undefined);
  const hex = (v: unknown) => {
    if (!(v instanceof asn1js.OctetString)) return undefined;
    const bytes = Buffer.from(v.valueBlock.valueHexView);
    return bytes.length === 32 ? bytes.toString('hex') : undefined;
  };
  const identity = {
    role: text(role),
    deploymentModel: text(model),
    policyHash: hex(policy),
    evidenceDigest: hex(evidence),
    manifestHash: hex(manifest),
    podUid: text(podUid),
  };
  for (const [field, value] of Object.entries(identity))
    if (value === undefined) return { error: `the workload identity's ${field} is malformed` };
  return identity as WorkloadIdentity;
}
