/**
 * When a GPU node that is not (or no longer) attested must give up its GPU pods, and which pods
 * those are: pure. The taint is NoSchedule only (a NoExecute taint would also evict the NVIDIA
 * device plugin and the node's other daemons), so the operator evicts GPU pods itself.
 *
 * Some states are settled and evict at once: no attestation, expired, evidence refused, GPUs
 * read back not ready. Others are a step of a normal flow and get `pendingGraceMs` to resolve
 * before anything is evicted: GPUs awaiting activation after a re-attestation (a grant is out),
 * and a new active Manifest the node has not been appraised against yet or must attest again for.
 */
import type * as k8s from '@kubernetes/client-node';
import { findCondition } from '../../api/conditions.ts';
import { gatedByNode } from '../../api/deployment-model.ts';
import type { Manifest } from '../../api/manifest.ts';
import type { NodeAttestation } from '../../api/node-attestation.ts';
import type { AttestationState } from '../../api/node-gating.ts';
import { DEFAULT_GPU_RESOURCE_PREFIXES, requestsGpus } from '../../webhook/gpu-requests.ts';

/** How long a pending state may last before the node's GPU pods are evicted. */
export const DEFAULT_PENDING_GRACE_MS = 60_000;
/** How long evictions of a pod may be refused (PodDisruptionBudget) before it is deleted. */
export const DEFAULT_PDB_GRACE_MS = 60_000;

export type EvictionDecision =
  | { evict: true; reason: string; message: string }
  /** Nothing to evict now; look again after recheckAfterMs (when a pending state runs out). */
  | { evict: false; recheckAfterMs?: number };

export interface EvictionFacts {
  state: AttestationState;
  nodeAttestation: NodeAttestation | undefined;
  activeManifest: Manifest | undefined;
  now: Date;
  pendingGraceMs: number;
}

export function evictionDecision(f: EvictionFacts): EvictionDecision {
  if (f.state.current) return { evict: false };
  const { reason, message } = f.state;
  const evict = { evict: true as const, reason, message };
  const conditions = f.nodeAttestation?.status?.conditions;
  let since: unknown;
  switch (reason) {
    case 'NoAttestation':
    case 'Expired':
      return evict;
    case 'NotAttested': {
      const attested = findCondition(conditions, 'Attested');
      // A Manifest change the node must attest again for is pending; refused evidence is not.
      if (attested?.reason !== 'ManifestChanged') return evict;
      since = attested.lastTransitionTime;
      break;
    }
    case 'NotActivated': {
      const activated = findCondition(conditions, 'GPUsActivated');
      if (activated?.reason === 'ActivationFailed') return evict;
      since = activated?.lastTransitionTime ?? f.nodeAttestation?.status?.attestedAt;
      break;
    }
    case 'ManifestChanged': {
      // Attested against another Manifest: the re-appraisal under the new one is under way.
      if (!f.activeManifest) return evict;
      const active = findCondition(f.activeManifest.status?.conditions, 'Active');
      since = active?.status === 'True' ? active.lastTransitionTime : f.activeManifest.metadata.creationTimestamp;
      break;
    }
  }
  // Times from the API are strings, or Dates where the typed client parsed them.
  const start = typeof since === 'string' || since instanceof Date ? new Date(since).getTime() : NaN;
  // An unreadable time is no reason to wait (fail closed).
  if (!Number.isFinite(start)) return evict;
  const left = start + f.pendingGraceMs - f.now.getTime();
  if (left <= 0)
    return { ...evict, message: `${message} (unresolved for ${Math.round((f.now.getTime() - start) / 1000)} s)` };
  return { evict: false, recheckAfterMs: left };
}

/**
 * The pods on a node that must leave it: GPU pods that still run or wait to run, are not already
 * being deleted, and are outside the excluded namespaces (those the binding webhook leaves alone,
 * so that the control plane's and the operator's own pods are never touched). Pod-CVM AI worker
 * pods stay while the active Manifest enables that model: their own evidence gates them.
 */
export function podsToEvict(
  pods: readonly k8s.V1Pod[],
  excludedNamespaces: readonly string[],
  gpuResourcePrefixes: readonly string[] = DEFAULT_GPU_RESOURCE_PREFIXES,
  /** The active Manifest: pod-CVM AI worker pods stay only while it enables that model. */
  active?: Pick<Manifest, 'spec'>,
): k8s.V1Pod[] {
  return pods.filter(
    (p) =>
      requestsGpus(p, gpuResourcePrefixes) &&
      !p.metadata?.deletionTimestamp &&
      gatedByNode(active, p.metadata?.labels) &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed' &&
      !excludedNamespaces.includes(p.metadata?.namespace ?? ''),
  );
}
