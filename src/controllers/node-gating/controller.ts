/**
 * The node gating controller: a GPU node is open to AI workers (label
 * attestor.dev/gpu-attested=true, no attestor.dev/unattested taint) exactly while its
 * NodeAttestation is current for the active Manifest, and closed (no label, tainted) otherwise;
 * expiry, a refusal or a Manifest the node no longer meets closes it, and its GPU pods are evicted
 * (eviction.ts, evictor.ts). GPU nodes are those api/gpu-node.ts names: device-plugin GPUs or MIG
 * instances, or NVIDIA DRA ResourceSlices. Runs on the leader.
 *
 * Gating runs only while the active Manifest enables the confidential-node model (or none is
 * active: then every GPU node is closed). Under a Manifest that enables only the pod-CVM model, GPU
 * nodes are ungated (no label, no taint, no eviction): each pod is gated by its own evidence.
 */
import * as k8s from '@kubernetes/client-node';
import { selectActiveManifest } from '../../api/active-manifest.ts';
import type { Condition } from '../../api/common.ts';
import { nodesGated } from '../../api/deployment-model.ts';
import { type GpuResourceSlice, gpuNode } from '../../api/gpu-node.ts';
import type { Manifest } from '../../api/manifest.ts';
import { NODE_ATTESTATION_PLURAL, type NodeAttestation } from '../../api/node-attestation.ts';
import { withNodeReadiness } from '../../api/node-attestation-readiness.ts';
import { attestationState } from '../../api/node-gating.ts';
import { errorMessage } from '../../errors.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';
import { Controller } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import { patchStatus } from '../status-writer.ts';
import {
  DEFAULT_PDB_GRACE_MS,
  DEFAULT_PENDING_GRACE_MS,
  DEFAULT_ROLLOUT_MAX_MS,
  evictionDecision,
  manifestActivatedAt,
} from './eviction.ts';
import { GpuPodEvictor } from './evictor.ts';
import { type GatingChange, gatingChange, ungatingChange } from './gating.ts';
import { RolloutProgress } from './rollout-progress.ts';

const SUMMARY_TYPES = new Set(['Ready', 'Reconciling', 'Stalled']);

export interface EvictionOptions {
  /** How long a pending state (awaiting activation, a new Manifest) may last before GPU pods are evicted. Default 60 s. */
  pendingGraceMs?: number;
  /** How long evictions of a pod may be refused (PodDisruptionBudget) before it is deleted. Default 60 s. */
  pdbGraceMs?: number;
  /** The longest a Manifest change may hold pending nodes' GPU pods while the fleet keeps settling. Default 10 min. */
  rolloutMaxMs?: number;
  /** Namespaces whose pods are never evicted. Default kube-system. */
  excludedNamespaces?: readonly string[];
  /** Resource-name prefixes that make a pod a GPU pod (as the webhook judges them). Default: gpu-requests.ts. */
  gpuResourcePrefixes?: readonly string[];
}

export interface NodeGatingDeps {
  kubeConfig: k8s.KubeConfig;
  nodes: Informer<k8s.V1Node>;
  nodeAttestations: Informer<NodeAttestation>;
  manifests: Informer<Manifest>;
  /** NVIDIA DRA ResourceSlices (absent where the cluster serves no resource.k8s.io/v1). */
  resourceSlices?: Informer<k8s.V1ResourceSlice>;
  eviction?: EvictionOptions;
  events: EventRecorder;
  log: Logger;
  metrics?: OperatorMetrics;
  /** The rollout's progress, shared with its gauge (metrics.ts); default: one of its own. */
  rollout?: RolloutProgress;
  now?: () => Date;
}

export function createNodeGatingController(deps: NodeGatingDeps): Controller {
  const core = deps.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const custom = deps.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const now = deps.now ?? (() => new Date());
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const slices = (): readonly GpuResourceSlice[] => deps.resourceSlices?.list() ?? [];
  const isGpuNode = (node: k8s.V1Node) => gpuNode(node, slices()).gpuNode;
  const pendingGraceMs = deps.eviction?.pendingGraceMs ?? DEFAULT_PENDING_GRACE_MS;
  const rolloutMaxMs = deps.eviction?.rolloutMaxMs ?? DEFAULT_ROLLOUT_MAX_MS;
  const rollout = deps.rollout ?? new RolloutProgress(now());
  const currentNodes = (hash: string, at: Date) =>
    deps.nodeAttestations.list().filter((na) => attestationState(na, hash, at).current).length;
  const evictor = new GpuPodEvictor({
    kubeConfig: deps.kubeConfig,
    events: deps.events,
    log: deps.log.child({ controller: 'node-gating' }),
    pdbGraceMs: deps.eviction?.pdbGraceMs ?? DEFAULT_PDB_GRACE_MS,
    excludedNamespaces: deps.eviction?.excludedNamespaces ?? ['kube-system'],
    ...(deps.eviction?.gpuResourcePrefixes ? { gpuResourcePrefixes: deps.eviction.gpuResourcePrefixes } : {}),
    now,
  });
  // Ready, Reconciling and Stalled as the status's own conditions imply now: the Coordinator sets
  // them with each verdict, and this writes the one change that comes with time alone (expiry),
  // and the summary of a status written before there was one.
  const syncReadiness = async (na: NodeAttestation | undefined, at: Date) => {
    if (!na?.status) return;
    const conditions = withNodeReadiness(na.status, at).conditions!;
    const summary = (list: readonly Condition[] | undefined) =>
      JSON.stringify(
        (list ?? [])
          .filter((c) => SUMMARY_TYPES.has(c.type))
          .map((c) => [c.type, c.status, c.reason, c.message])
          .sort(),
      );
    if (summary(conditions) === summary(na.status.conditions)) return;
    // Never in the way of gating: a refused write (409: the Coordinator wrote meanwhile) comes back
    // as an informer update, which reconciles the node again.
    try {
      await patchStatus(
        custom,
        { plural: NODE_ATTESTATION_PLURAL, name: na.metadata.name!, resourceVersion: na.metadata.resourceVersion },
        { conditions },
      );
    } catch (err) {
      deps.log.warn({ node: na.metadata.name, err: errorMessage(err) }, 'could not write NodeAttestation readiness');
    }
  };
  const controller = new Controller({
    name: 'node-gating',
    log: deps.log,
    metrics: deps.metrics,
    // Each node's reconcile waits on its own patch and eviction calls: a fleet's nodes open side by side.
    workers: 8,
    reconcile: async (name) => {
      const node = deps.nodes.get(name);
      if (!node || !isGpuNode(node)) return;
      await syncReadiness(deps.nodeAttestations.get(name), now());
      const active = selectActiveManifest(deps.manifests.list());
      const target = { apiVersion: 'v1', kind: 'Node', name, uid: node.metadata?.uid };
      const patch = async (change: GatingChange) => {
        const body: Record<string, unknown> = {
          metadata: {
            resourceVersion: node.metadata!.resourceVersion,
            ...(change.label !== undefined ? { labels: { 'attestor.dev/gpu-attested': change.label } } : {}),
          },
        };
        if (change.taints) body.spec = { taints: change.taints };
        await core.patchNode({ name, body }, merge);
      };
      if (!nodesGated(active)) {
        // The pod-CVM model only: nothing about this node gates a pod (attestor init does).
        evictor.forget(name);
        const change = ungatingChange(node);
        if (!change) return;
        await patch(change);
        deps.log.info({ node: name }, 'GPU node not gated: the active Manifest enables only the pod-CVM model');
        await deps.events.record(
          target,
          'Normal',
          'NotGated',
          `Manifest ${active?.metadata.name} enables only the pod-CVM model: GPU nodes are not gated by attestation (each pod is, by attestor init); label and taint removed`,
        );
        return;
      }
      const na = deps.nodeAttestations.get(name);
      const at = now();
      const state = attestationState(na, active?.status?.hash, at, active?.metadata.name);
      const change = gatingChange(node, state);
      if (change) {
        await patch(change);
        if (state.current) {
          deps.log.info({ node: name }, 'GPU node opened to AI workers');
          await deps.events.record(
            target,
            'Normal',
            'GPUsAttested',
            'CVM and GPUs attested and activated: open to AI workers (labelled attestor.dev/gpu-attested=true, untainted)',
          );
        } else {
          const wasOpen = node.metadata?.labels?.['attestor.dev/gpu-attested'] === 'true';
          deps.log.info({ node: name, reason: state.reason }, 'GPU node closed to AI workers');
          // Users match on the reasons, so they keep their names: GPUsGated means "closed after being open".
          await deps.events.record(
            target,
            wasOpen ? 'Warning' : 'Normal',
            wasOpen ? 'GPUsGated' : 'AwaitingAttestation',
            `${state.reason}: ${state.message}; closed to AI workers (tainted attestor.dev/unattested=true:NoSchedule)`,
          );
        }
      }
      const requeue: number[] = [];
      // Re-check when the attestation expires, so that expiry closes the node on time.
      if (state.current && na?.status?.expiresAt)
        requeue.push(Math.max(1000, new Date(na.status.expiresAt).getTime() - at.getTime() + 500));
      // Every reconcile looks (at most once a second), so that a node becoming current is seen when it does.
      const hash = active?.status?.hash;
      const activatedAt = active && manifestActivatedAt(active);
      const progressAt =
        hash && activatedAt ? rollout.observe(hash, activatedAt, at, () => currentNodes(hash, at)) : undefined;
      const decision = evictionDecision({
        state,
        nodeAttestation: na,
        activeManifest: active,
        now: at,
        pendingGraceMs,
        ...(activatedAt && progressAt ? { rollout: { activatedAt, progressAt, maxMs: rolloutMaxMs } } : {}),
      });
      if (decision.evict) {
        const round = await evictor.evict(name, decision, active);
        if (round.recheckAfterMs !== undefined) requeue.push(round.recheckAfterMs);
      } else {
        evictor.forget(name);
        if (decision.recheckAfterMs !== undefined) requeue.push(decision.recheckAfterMs + 100);
      }
      return requeue.length > 0 ? { requeueAfterMs: Math.min(...requeue) } : undefined;
    },
  });
  deps.nodes.onChange((node) => controller.enqueue(node.metadata!.name!));
  deps.nodeAttestations.onChange((na) => controller.enqueue(na.metadata.name!));
  deps.resourceSlices?.onChange((slice) => {
    if (slice.spec?.nodeName) controller.enqueue(slice.spec.nodeName);
  });
  deps.manifests.onChange(() => {
    for (const node of deps.nodes.list()) if (isGpuNode(node)) controller.enqueue(node.metadata!.name!);
  });
  return controller;
}
