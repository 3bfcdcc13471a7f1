/**
 * `attestor_gpu_nodes{state}`: how many GPU nodes are open to AI workers (state Current) and how
 * many are closed, by reason (NoAttestation, NotAttested, NotActivated, ManifestChanged, Expired).
 * Read from the informer caches at each scrape, by the same functions the node gating controller
 * decides with, so the gauge and the nodes' labels cannot disagree for long.
 */
import type * as k8s from '@kubernetes/client-node';
import { Gauge, type Registry } from 'prom-client';
import { selectActiveManifest } from '../../api/active-manifest.ts';
import { type GpuResourceSlice, gpuNode } from '../../api/gpu-node.ts';
import type { Manifest } from '../../api/manifest.ts';
import type { NodeAttestation } from '../../api/node-attestation.ts';
import { attestationState } from '../../api/node-gating.ts';
import type { RolloutProgress } from './rollout-progress.ts';

/** What the gauge reads: the informers' caches (narrowed to what it uses). */
export interface GpuNodeSources {
  manifests: { list(): readonly Manifest[] };
  nodes: { list(): readonly k8s.V1Node[] };
  nodeAttestations: { get(name: string): NodeAttestation | undefined };
  resourceSlices?: { list(): readonly GpuResourceSlice[] };
}

export function registerGpuNodesGauge(
  registry: Registry,
  sources: GpuNodeSources,
  now: () => Date = () => new Date(),
): Gauge<'state'> {
  return new Gauge({
    name: 'attestor_gpu_nodes',
    help: 'GPU nodes by attestation state: Current (open to AI workers), or the reason they are closed',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      const hash = selectActiveManifest(sources.manifests.list())?.status?.hash;
      const at = now();
      const slices = sources.resourceSlices?.list() ?? [];
      for (const node of sources.nodes.list()) {
        if (!gpuNode(node, slices).gpuNode) continue;
        const state = attestationState(sources.nodeAttestations.get(node.metadata!.name!), hash, at);
        this.inc({ state: state.current ? 'Current' : state.reason });
      }
    },
  });
}

/**
 * `attestor_node_attestation_expiry_timestamp_seconds{node}`: when each node's attestation
 * expires (NodeAttestation status.expiresAt, Unix seconds), read from the informer cache at each
 * scrape. A node whose agent stopped re-attesting shows as a timestamp that time() overtakes.
 */
export function registerAttestationExpiryGauge(
  registry: Registry,
  sources: { nodeAttestations: { list(): readonly NodeAttestation[] } },
): Gauge<'node'> {
  return new Gauge({
    name: 'attestor_node_attestation_expiry_timestamp_seconds',
    help: "When each node's attestation expires (NodeAttestation status.expiresAt, Unix seconds); absent for nodes never attested",
    labelNames: ['node'],
    registers: [registry],
    collect() {
      this.reset();
      for (const attestation of sources.nodeAttestations.list()) {
        const expires = Date.parse(attestation.status?.expiresAt ?? '');
        if (Number.isNaN(expires) || !attestation.metadata?.name) continue;
        this.set({ node: attestation.metadata.name }, expires / 1000);
      }
    },
  });
}

/**
 * `attestor_manifest_rollout_last_progress_timestamp_seconds{manifest}`: when the number of GPU
 * nodes current for the active Manifest last rose, or when it became active (rollout-progress.ts:
 * what the node gating controller extends the eviction grace by). Only on the leader (the replica
 * that gates nodes), and only once it has looked at the active Manifest. During a Manifest change,
 * a timestamp that time() leaves behind while nodes are still ManifestChanged is a stalled rollout.
 */
export function registerRolloutProgressGauge(
  registry: Registry,
  sources: { manifests: { list(): readonly Manifest[] } },
  rollout: Pick<RolloutProgress, 'last'>,
): Gauge<'manifest'> {
  return new Gauge({
    name: 'attestor_manifest_rollout_last_progress_timestamp_seconds',
    help: 'When the number of GPU nodes current for the active Manifest last rose, or when it became active (Unix seconds); on the leader only',
    labelNames: ['manifest'],
    registers: [registry],
    collect() {
      this.reset();
      const active = selectActiveManifest(sources.manifests.list());
      const last = rollout.last;
      if (!active?.metadata.name || !last || last.hash !== active.status?.hash) return;
      this.set({ manifest: active.metadata.name }, last.progressAt.getTime() / 1000);
    },
  });
}
