/** What a GPU node's label and taints should be, given its attestation: pure. */
import type * as k8s from '@kubernetes/client-node';
import { type AttestationState, GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../../api/node-gating.ts';

export interface GatingChange {
  /** The label value to set, or null to remove it; undefined: leave it. */
  label?: 'true' | null;
  /** The node's taints after the change; undefined: leave them. */
  taints?: k8s.V1Taint[];
}

/** The change that makes the node match its attestation state; undefined when it already does. */
export function gatingChange(node: k8s.V1Node, state: AttestationState): GatingChange | undefined {
  const labelled = node.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true';
  const taints = node.spec?.taints ?? [];
  const tainted = taints.some((t) => t.key === UNATTESTED_TAINT.key && t.effect === UNATTESTED_TAINT.effect);
  const change: GatingChange = {};
  if (state.current) {
    if (!labelled) change.label = 'true';
    if (tainted) change.taints = taints.filter((t) => t.key !== UNATTESTED_TAINT.key);
  } else {
    if (node.metadata?.labels?.[GPU_ATTESTED_LABEL] !== undefined) change.label = null;
    if (!tainted) change.taints = [...taints.filter((t) => t.key !== UNATTESTED_TAINT.key), { ...UNATTESTED_TAINT }];
  }
  return change.label === undefined && change.taints === undefined ? undefined : change;
}

/**
 * The change that takes a GPU node out of gating (no label, no taint): while the active Manifest
 * does not enable the confidential-node model, nodes are not attested (pod-CVM GPUs are bound to
 * VFIO, out of the host's sight) and each pod is gated by its own evidence instead. Undefined when
 * the node is ungated already.
 */
export function ungatingChange(node: k8s.V1Node): GatingChange | undefined {
  const taints = node.spec?.taints ?? [];
  const change: GatingChange = {};
  if (node.metadata?.labels?.[GPU_ATTESTED_LABEL] !== undefined) change.label = null;
  if (taints.some((t) => t.key === UNATTESTED_TAINT.key))
    change.taints = taints.filter((t) => t.key !== UNATTESTED_TAINT.key);
  return change.label === undefined && change.taints === undefined ? undefined : change;
}
