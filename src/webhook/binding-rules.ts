/**
 * A GPU pod may be placed only on a node whose attestation is current for the active Manifest
 * (the same `attestationState` the node gating controller uses, so the two cannot disagree).
 * Two ways place a pod: a Binding (the scheduler's, or one POSTed by hand), and `spec.nodeName`
 * set when the pod is created, which skips the scheduler and the taints (kubelets ignore
 * NoSchedule taints for such pods). Both get the same check here, while nodes are gated (the
 * active Manifest enables the confidential-node model, or none is active), for every GPU pod but
 * pod-CVM AI worker pods, which their own evidence gates. Pure.
 */
import type * as k8s from '@kubernetes/client-node';
import { gatedByNode } from '../api/deployment-model.ts';
import type { Manifest } from '../api/manifest.ts';
import type { NodeAttestation } from '../api/node-attestation.ts';
import { attestationState } from '../api/node-gating.ts';
import { requestsGpus } from './gpu-requests.ts';
import type { Violation } from './review.ts';

interface PlacementFacts {
  /** The NodeAttestation named after the target node, if any. */
  nodeAttestation: NodeAttestation | undefined;
  activeManifest: Manifest | undefined;
  now: Date;
  /** Resource-name prefixes that count as GPUs (default: gpu-requests.ts). */
  gpuResourcePrefixes?: readonly string[];
}

export interface BindingFacts extends PlacementFacts {
  binding: k8s.V1Binding;
  /** The bound pod as the API server has it now. */
  pod: k8s.V1Pod;
}

export interface NodeNameFacts extends PlacementFacts {
  pod: k8s.V1Pod;
  /** The pod before an UPDATE; undefined for a CREATE. */
  oldPod: k8s.V1Pod | undefined;
}

/** The name of the node a Binding targets, or undefined when it does not target a node. */
export function bindingTarget(binding: k8s.V1Binding): string | undefined {
  const target = binding.target;
  if (!target || (target.kind !== undefined && target.kind !== '' && target.kind !== 'Node')) return undefined;
  return target.name || undefined;
}

export function judgeBinding(facts: BindingFacts): Violation[] {
  if (!requestsGpus(facts.pod, facts.gpuResourcePrefixes) || !gatedBy(facts)) return [];
  const node = bindingTarget(facts.binding);
  if (!node) return [{ field: 'target', message: 'does not name a node' }];
  return judgeNode('target.name', node, facts);
}

/** The node a CREATE (or an UPDATE, should the API server ever allow it) puts a GPU pod on. */
export function judgeNodeName(facts: NodeNameFacts): Violation[] {
  const node = facts.pod.spec?.nodeName;
  if (!node || node === facts.oldPod?.spec?.nodeName) return [];
  if (!requestsGpus(facts.pod, facts.gpuResourcePrefixes) || !gatedBy(facts)) return [];
  return judgeNode('spec.nodeName', node, facts);
}

/** Whether the node's attestation gates this pod. */
function gatedBy(facts: PlacementFacts & { pod: k8s.V1Pod }): boolean {
  return gatedByNode(facts.activeManifest, facts.pod.metadata?.labels);
}

function judgeNode(field: string, node: string, facts: PlacementFacts): Violation[] {
  const state = attestationState(
    facts.nodeAttestation,
    facts.activeManifest?.status?.hash,
    facts.now,
    facts.activeManifest?.metadata.name,
  );
  if (state.current) return [];
  return [
    {
      field,
      message: `node ${JSON.stringify(node)} has no current attestation for GPU pods (${state.reason}: ${state.message})`,
    },
  ];
}
