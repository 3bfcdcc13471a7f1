/**
 * The Coordinator's PKI: a root CA for the Coordinator's lifetime, and a mesh CA per active
 * Manifest issued by it, both with keys generated in memory (certificate-authority.ts). Workload
 * certificates come from the mesh CA. The Coordinator replaces the mesh CA whenever the active
 * Manifest changes and drops the old one with its key, so a certificate issued under an earlier
 * Manifest no longer chains to the mesh CA clients receive.
 */
import { CertificateAuthority } from './certificate-authority.ts';

export const ROOT_CA_SUBJECT = 'CN=attestor root CA, O=attestor';
export const MESH_CA_SUBJECT = 'CN=attestor mesh CA, O=attestor';

export class CoordinatorPki {
  readonly root: CertificateAuthority;

  private constructor(root: CertificateAuthority) {
    this.root = root;
  }

  /** A new root CA (ECDSA P-384) with a fresh key. */
  static async create(now: Date): Promise<CoordinatorPki> {
    return new CoordinatorPki(await CertificateAuthority.root(ROOT_CA_SUBJECT, 'P-384', now));
  }

  /** A new mesh CA (ECDSA P-256, a fresh key) under the root. */
  newMeshCa(now: Date): Promise<CertificateAuthority> {
    return this.root.intermediate(MESH_CA_SUBJECT, 'P-256', now);
  }
}
