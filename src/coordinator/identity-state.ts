/**
 * What the Coordinator's identity holds (identity.ts): the state of the Manifest it follows,
 * replaced as a whole so that one answer never mixes two Manifests; what it claims when it
 * answers a client or a peer; what a replica receives from its leader; and how a replica names
 * the identity it holds, to see whether it has its leader's (peer recovery). Pure.
 */
import type { Manifest } from '../api/manifest.ts';
import { canonicalManifestJson } from '../api/manifest-hash.ts';
import type { CertificateAuthority } from '../pki/certificate-authority.ts';
import { certificateFingerprint, type PeerIdentityState } from '../protocol/peer-recovery.ts';
import { type HistoryEntry, latestTransition } from '../protocol/transition-chain.ts';
import type { Standing } from './coordinator-evidence.ts';

/** The Manifest followed and everything an answer needs. */
export interface Followed {
  /** The chain's head, as the Manifest whose owners decide what may follow it. */
  readonly manifest: Manifest;
  /** The head's predecessor in the chain, if any: whether its owners signed the step (peer-policy.ts). */
  readonly predecessor: Manifest | undefined;
  readonly manifestName: string;
  readonly hash: string;
  readonly canonical: string;
  readonly history: readonly HistoryEntry[];
  readonly mesh: CertificateAuthority;
  standing: Standing;
}

/** The identity as it can be claimed now: one consistent view, for a client's answer or a peer. */
export interface ClaimedIdentity {
  readonly root: CertificateAuthority;
  readonly mesh: CertificateAuthority;
  readonly manifest: Manifest;
  readonly predecessor: Manifest | undefined;
  readonly hash: string;
  readonly canonical: string;
  readonly history: readonly HistoryEntry[];
  /** The policy the own HOST_DATA / MRCONFIGID carries. */
  readonly policyHash: string;
}

/** An identity received from the leader (peer-sync.ts): its bundle checked, its keys opened, this replica's own evidence accepted under it. */
export interface RecoveredIdentity {
  root: CertificateAuthority;
  mesh: CertificateAuthority;
  manifest: Manifest;
  predecessor: Manifest | undefined;
  history: readonly HistoryEntry[];
  standing: Extract<Standing, { state: 'accepted' }>;
}

/** The followed state of a chain ending at `manifest` (the last entry of `history`). */
export function followedState(
  manifest: Manifest,
  predecessor: Manifest | undefined,
  history: readonly HistoryEntry[],
  mesh: CertificateAuthority,
  standing: Standing,
): Followed {
  return {
    manifest,
    predecessor,
    manifestName: manifest.metadata.name ?? '',
    hash: history.at(-1)!.manifestHash,
    canonical: canonicalManifestJson(manifest.spec),
    history: [...history],
    mesh,
    standing,
  };
}

/** Which identity this is: its CAs' fingerprints and latest transition. */
export function identityState(root: CertificateAuthority, followed: Followed): PeerIdentityState {
  return {
    rootCA: certificateFingerprint(root.der),
    meshCA: certificateFingerprint(followed.mesh.der),
    transition: Buffer.from(latestTransition(followed.history)).toString('hex'),
  };
}
