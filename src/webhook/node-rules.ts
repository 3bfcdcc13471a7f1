/**
 * Who may open a GPU node to AI workers: only the operator's identities may set (or change) the
 * attestor.dev/gpu-attested label or lift the attestor.dev/unattested taint. Closing a node
 * (removing the label, adding the taint) is open to anyone: it can only make the cluster safer.
 * Pure.
 */
import type * as k8s from '@kubernetes/client-node';
import { GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../api/node-gating.ts';
import type { Operation, Violation } from './review.ts';

export interface NodeChange {
  operation: Operation;
  node: k8s.V1Node;
  /** The node before an UPDATE. */
  oldNode?: k8s.V1Node;
  username: string | undefined;
  operatorUsernames: readonly string[];
}

const labelField = `metadata.labels[${GPU_ATTESTED_LABEL}]`;

export function judgeNodeChange(change: NodeChange): Violation[] {
  if (change.username !== undefined && change.operatorUsernames.includes(change.username)) return [];
  const who = JSON.stringify(change.username ?? '(anonymous)');
  const violations: Violation[] = [];
  const before = change.operation === 'UPDATE' ? change.oldNode?.metadata?.labels?.[GPU_ATTESTED_LABEL] : undefined;
  const after = change.node.metadata?.labels?.[GPU_ATTESTED_LABEL];
  // Any value counts, not only "true": a value other than the operator's is never legitimate.
  if (after !== undefined && after !== before) {
    violations.push({ field: labelField, message: `only the attestor operator may set this label (set to ${JSON.stringify(after)} by ${who})` });
  }
  if (change.operation === 'UPDATE' && change.oldNode) {
    const kept = new Set(unattestedTaints(change.node).map((t) => t.effect));
    change.oldNode.spec?.taints?.forEach((t) => {
      if (t.key === UNATTESTED_TAINT.key && !kept.has(t.effect)) {
        violations.push({ field: 'spec.taints', message: `only the attestor operator may lift the ${UNATTESTED_TAINT.key}:${t.effect} taint (lifted by ${who})` });
      }
    });
  }
  return violations;
}

function unattestedTaints(node: k8s.V1Node): k8s.V1Taint[] {
  return (node.spec?.taints ?? []).filter((t) => t.key === UNATTESTED_TAINT.key);
}
