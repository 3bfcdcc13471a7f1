/**
 * A GPU pod may be bound only to a node whose attestation is current for the active Manifest
 * (the same `attestationState` the node gating controller uses, so the two cannot disagree).
 * The scheduler's bindings and anyone else's (a Binding POSTed by hand) go through here. Pure.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../api/manifest.ts';
import type { NodeAttestation } from '../api/node-attestation.ts';
import { attestationState } from '../api/node-gating.ts';
import { requestsGpus } from './gpu-requests.ts';
import type { Violation } from './review.ts';

export interface BindingFacts {
  binding: k8s.V1Binding;
  /** The bound pod as the API server has it now. */
  pod: k8s.V1Pod;
  /** The NodeAttestation named after the target node, if any. */
  nodeAttestation: NodeAttestation | undefined;
  activeManifest: Manifest | undefined;
  now: Date;
}

/** The name of the node a Binding targets, or undefined when it does not target a node. */
export function bindingTarget(binding: k8s.V1Binding): string | undefined {
  const target = binding.target;
  if (!target || (target.kind !== undefined && target.kind !== '' && target.kind !== 'Node')) return undefined;
  return target.name || undefined;
}

export function judgeBinding(facts: BindingFacts): Violation[] {
  if (!requestsGpus(facts.pod)) return [];
  const node = bindingTarget(facts.binding);
  if (!node) return [{ field: 'target', message: 'does not name a node' }];
  const state = attestationState(facts.nodeAttestation, facts.activeManifest?.status?.hash, facts.now);
  if (state.current) return [];
  return [{ field: 'target.name', message: `node ${JSON.stringify(node)} has no current attestation for GPU pods (${state.reason}: ${state.message})` }];
}
