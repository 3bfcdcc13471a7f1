/**
 * The Coordinator's PKI: a root CA for the Coordinator's lifetime, and a mesh CA per active
 * Manifest issued by it, both with keys generated in memory (certificate-authority.ts). Workload
 * certificates come from the mesh CA. The Coordinator replaces the mesh CA whenever the active
 * Manifest changes and drops the old one with its key, so a certificate issued under an earlier
 * Manifest no longer chains to the mesh CA clients receive. With peer recovery the keys are
 * transferable (sealed only for an attested peer), and a replica may take over its leader's root
 * (`of`).
 */
import { CertificateAuthority } from './certificate-authority.ts';

export const ROOT_CA_SUBJECT = 'CN=attestor root CA, O=attestor';
export const MESH_CA_SUBJECT = 'CN=attestor mesh CA, O=attestor';
/** The curves of the root and mesh CAs (a sealed CA must open as its own curve). */
export const ROOT_CA_CURVE = 'P-384';
export const MESH_CA_CURVE = 'P-256';

export class CoordinatorPki {
  readonly root: CertificateAuthority;

  private constructor(root: CertificateAuthority) {
    this.root = root;
  }

  /** A new root CA (ECDSA P-384) with a fresh key, transferable only for peer recovery. */
  static async create(now: Date, options: { transferable?: boolean } = {}): Promise<CoordinatorPki> {
    return new CoordinatorPki(await CertificateAuthority.root(ROOT_CA_SUBJECT, ROOT_CA_CURVE, now, options));
  }

  /** The PKI under a root received from a peer. */
  static of(root: CertificateAuthority): CoordinatorPki {
    return new CoordinatorPki(root);
  }

  /** A new mesh CA (ECDSA P-256, a fresh key) under the root. */
  newMeshCa(now: Date): Promise<CertificateAuthority> {
    return this.root.intermediate(MESH_CA_SUBJECT, MESH_CA_CURVE, now);
  }
}
