/**
 * Every `check` a client's refusal of the Coordinator can carry (`attestor verify coordinator`,
 * src/client/verify-coordinator.ts), and a replica's refusal of a peer (peer recovery), besides
 * the CVM checks of its evidence (snp.*, tdx.*, among them snp.report-data / tdx.report-data for
 * REPORT_DATA), with its kind (check-registry.ts).
 */
import type { CheckRegistry } from './check-registry.ts';

export const COORDINATOR_CHECKS = {
  'coordinator.response': { kind: 'authenticity', about: "the Coordinator's answer is not an attestation response" },
  'coordinator.manifest': {
    kind: 'authenticity',
    about: 'the Manifest the Coordinator serves does not hash to the hash it claims, or is no Manifest spec',
  },
  'coordinator.ca': {
    kind: 'authenticity',
    about: 'the root or mesh CA is not a valid CA certificate, or the mesh CA is not issued by the root',
  },
  'coordinator.history.chain': {
    kind: 'authenticity',
    about: 'the transition chain does not follow from its Manifest hashes, or does not end at the active Manifest',
  },
  'coordinator.simulated-roots': {
    kind: 'authenticity',
    about: 'simulated evidence, and the caller did not pass the simulated roots (--simulated-roots)',
  },
  'coordinator.manifest-hash': { kind: 'comparison', about: "the Coordinator's active Manifest is not the pinned one" },
  'coordinator.history': {
    kind: 'comparison',
    about: 'the Coordinator followed earlier Manifests, and the caller did not allow a history (--allow-history)',
  },
  'coordinator.admin-trusted': {
    kind: 'comparison',
    about:
      'the pinned Manifest enables the confidential-node model, which trusts the cluster admin, and the caller did not allow it (--allow-admin-trusted)',
  },
  // Peer recovery (src/coordinator/peer-*.ts): one replica's refusal of another.
  'coordinator.peer.policy': {
    kind: 'comparison',
    about:
      "the peer replica's HOST_DATA / MRCONFIGID is not the policy of this Coordinator's own pod VM (and no owner-signed Manifest lists both)",
  },
  'coordinator.peer.bundle': {
    kind: 'authenticity',
    about:
      "the leader's identity bundle does not hold together: its chain, its Manifests, or a CA key that does not open or is not its certificate's",
  },
} as const satisfies CheckRegistry;

export type CoordinatorCheck = keyof typeof COORDINATOR_CHECKS;
