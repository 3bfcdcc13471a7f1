/**
 * The node gating controller: a GPU node is schedulable for AI workers (label
 * attestor.dev/gpu-attested=true, no attestor.dev/unattested taint) exactly while its
 * NodeAttestation is current for the active Manifest; expiry, a refusal or a Manifest the node no
 * longer meets reverses it. Runs on the leader.
 */
import * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../api/manifest.ts';
import type { NodeAttestation } from '../../api/node-attestation.ts';
import { attestationState } from '../../api/node-gating.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';
import { selectActiveManifest } from '../manifest/active.ts';
import { Controller } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import { gatingChange, isGpuNode } from './gating.ts';

export interface NodeGatingDeps {
  kubeConfig: k8s.KubeConfig;
  nodes: Informer<k8s.V1Node>;
  nodeAttestations: Informer<NodeAttestation>;
  manifests: Informer<Manifest>;
  events: EventRecorder;
  log: Logger;
  metrics?: OperatorMetrics;
  now?: () => Date;
}

export function createNodeGatingController(deps: NodeGatingDeps): Controller {
  const core = deps.kubeConfig.makeApiClient(k8s.CoreV1Api);
  const now = deps.now ?? (() => new Date());
  const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
  const controller = new Controller({
    name: 'node-gating',
    log: deps.log,
    metrics: deps.metrics,
    reconcile: async (name) => {
      const node = deps.nodes.get(name);
      if (!node || !isGpuNode(node)) return;
      const active = selectActiveManifest(deps.manifests.list());
      const na = deps.nodeAttestations.get(name);
      const at = now();
      const state = attestationState(na, active?.status?.hash, at);
      const change = gatingChange(node, state);
      if (change) {
        const body: Record<string, unknown> = { metadata: { resourceVersion: node.metadata!.resourceVersion, ...(change.label !== undefined ? { labels: { 'attestor.dev/gpu-attested': change.label } } : {}) } };
        if (change.taints) body.spec = { taints: change.taints };
        await core.patchNode({ name, body }, merge);
        const target = { apiVersion: 'v1', kind: 'Node', name, uid: node.metadata?.uid };
        if (state.current) {
          deps.log.info({ node: name }, 'GPUs attested: node schedulable for AI workers');
          await deps.events.record(target, 'Normal', 'GPUsAttested', 'CVM and GPUs attested and activated: labelled attestor.dev/gpu-attested=true and untainted');
        } else {
          const wasGated = node.metadata?.labels?.['attestor.dev/gpu-attested'] === 'true';
          deps.log.info({ node: name, reason: state.reason }, 'GPU node gated');
          await deps.events.record(target, wasGated ? 'Warning' : 'Normal', wasGated ? 'GPUsGated' : 'AwaitingAttestation', `${state.reason}: ${state.message}; tainted attestor.dev/unattested=true:NoSchedule`);
        }
      }
      // Re-check when the attestation expires, so expiry un-gates the node on time.
      if (state.current && na?.status?.expiresAt) return { requeueAfterMs: Math.max(1000, new Date(na.status.expiresAt).getTime() - at.getTime() + 500) };
      return undefined;
    },
  });
  deps.nodes.onChange((node) => controller.enqueue(node.metadata!.name!));
  deps.nodeAttestations.onChange((na) => controller.enqueue(na.metadata.name!));
  deps.manifests.onChange(() => {
    for (const node of deps.nodes.list()) if (isGpuNode(node)) controller.enqueue(node.metadata!.name!);
  });
  return controller;
}
