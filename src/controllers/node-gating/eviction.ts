/**
 * When a GPU node that is not (or no longer) attested must give up its GPU pods, and which pods
 * those are: pure. The taint is NoSchedule only (a NoExecute taint would also evict the NVIDIA
 * device plugin and the node's other daemons), so the operator evicts GPU pods itself.
 *
 * Some states are settled and evict at once: no attestation, expired, evidence refused, GPUs
 * read back not ready. Others are a step of a normal flow and get `pendingGraceMs` to resolve
 * before anything is evicted: GPUs awaiting activation after a re-attestation (a grant is out),
 * and a new active Manifest the node has not been appraised against yet or must attest again for.
 *
 * A Manifest change closes the whole fleet at once, and the Coordinator settles the nodes one after
 * another: on a large fleet the last ones wait longer than `pendingGraceMs` through no fault of
 * theirs. While the fleet keeps settling (`rollout`), a pending node waits until no node has become
 * current for `pendingGraceMs`, and never longer than `rollout.maxMs` after the Manifest's
 * activation. A node is never evicted earlier than without it.
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
/** The longest a Manifest change may hold a pending node's GPU pods while the fleet keeps settling. */
export const DEFAULT_ROLLOUT_MAX_MS = 600_000;

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
  /** How the active Manifest's rollout is coming along (rollout-progress.ts); absent: no extension. */
  rollout?: {
    /** When the active Manifest's hash took effect (manifestActivatedAt). */
    activatedAt: Date;
    /** The last time a node became current under the active Manifest. */
    progressAt: Date;
    /** The most a rollout may extend a pending state, counted from the Manifest's activation. */
    maxMs: number;
  };
}

/**
 * When the active Manifest's hash took effect: when the Manifest became active (or was created,
 * before its status says so), or, for a spec edited in place, when its previous hash was replaced
 * (the Active condition does not change then).
 */
function activeSince(manifest: Manifest): unknown {
  const active = findCondition(manifest.status?.conditions, 'Active');
  const became = active?.status === 'True' ? active.lastTransitionTime : manifest.metadata.creationTimestamp;
  const replaced = manifest.status?.history?.[0]?.replacedAt;
  return replaced !== undefined && millis(replaced) > millis(became) ? replaced : became;
}

/** When the active Manifest became active, if its status or metadata says so readably. */
export function manifestActivatedAt(manifest: Manifest): Date | undefined {
  const at = millis(activeSince(manifest));
  return Number.isFinite(at) ? new Date(at) : undefined;
}

/** Times from the API are strings, or Dates where the typed client parsed them; NaN if neither. */
function millis(time: unknown): number {
  return typeof time === 'string' || time instanceof Date ? new Date(time).getTime() : NaN;
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
      since = activeSince(f.activeManifest);
      break;
    }
  }
  const start = millis(since);
  // An unreadable time is no reason to wait (fail closed).
  if (!Number.isFinite(start)) return evict;
  const now = f.now.getTime();
  const graceEnds = start + f.pendingGraceMs;
  let deadline = graceEnds;
  const activatedAt = f.rollout?.activatedAt.getTime() ?? NaN;
  const progressAt = f.rollout?.progressAt.getTime() ?? NaN;
  if (f.rollout) {
    const whileSettling = Math.max(start, progressAt) + f.pendingGraceMs;
    deadline = Math.max(graceEnds, Math.min(whileSettling, activatedAt + f.rollout.maxMs));
  }
  const left = deadline - now;
  if (left > 0) return { evict: false, recheckAfterMs: left };
  const unresolved = `unresolved for ${Math.round((now - start) / 1000)} s`;
  if (deadline === graceEnds) return { ...evict, message: `${message} (${unresolved})` };
  const settling =
    deadline < activatedAt + (f.rollout?.maxMs ?? 0)
      ? `no node became current under the new Manifest for ${Math.round((now - progressAt) / 1000)} s`
      : `the Manifest became active ${Math.round((now - activatedAt) / 1000)} s ago, the longest a rollout may wait`;
  return { ...evict, message: `${message} (${unresolved}; ${settling})` };
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
