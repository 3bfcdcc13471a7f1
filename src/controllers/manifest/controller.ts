/**
 * The Manifest controller: validates each Manifest, computes its canonical hash, keeps the
 * history of earlier hashes and marks exactly one Manifest active (active-manifest.ts: the newest
 * valid one, unless the current one lists owners). Any Manifest change re-evaluates all of them,
 * since activeness depends on the others.
 *
 * Its status writes are the cluster's record of which Manifest is current, which the owner rule
 * starts from: a successor is marked active before its predecessor is marked inactive, so the
 * record is never empty during a hand-over, and a current Manifest with owners carries the
 * finalizer attestor.dev/owners, so that deleting it (a roll-back) cannot erase the record.
 */

import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { manifestSelection, manifestStanding, recordedCurrentManifest } from '../../api/active-manifest.ts';
import { API_VERSION } from '../../api/common.ts';
import { findCondition } from '../../api/conditions.ts';
import { MANIFEST_KIND, MANIFEST_PLURAL, type Manifest } from '../../api/manifest.ts';
import { manifestHash } from '../../api/manifest-hash.ts';
import { OWNERS_FINALIZER } from '../../api/manifest-owners.ts';
import { manifestRelaxations, relaxationSummary } from '../../api/manifest-relaxations.ts';
import { validateManifestSpec } from '../../api/manifest-validation.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';
import { Controller } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import { patchStatus } from '../status-writer.ts';
import { patchFinalizers } from './finalizer.ts';
import { activeCondition, desiredManifestStatus } from './status.ts';

export interface ManifestControllerDeps {
  kubeConfig: k8s.KubeConfig;
  manifests: Informer<Manifest>;
  events: EventRecorder;
  log: Logger;
  metrics?: OperatorMetrics;
  now?: () => Date;
}

export function createManifestController(deps: ManifestControllerDeps): Controller {
  const custom = deps.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
  const now = deps.now ?? (() => new Date());
  const controller = new Controller({
    name: 'manifest',
    log: deps.log,
    metrics: deps.metrics,
    reconcile: async (name) => {
      const manifest = deps.manifests.get(name);
      if (!manifest) return;
      const problems = validateManifestSpec(manifest.spec);
      const hash = manifestHash(manifest.spec);
      const manifests = deps.manifests.list();
      const selection = manifestSelection(manifests);
      const standing = manifestStanding(manifest, selection);
      const isActive = standing.active;
      const staysCurrent = standing.active || standing.reason === 'InvalidCurrent';
      const wasCurrent = isRecordedCurrent(manifest);
      const finalizers = manifest.metadata.finalizers ?? [];
      const held = finalizers.includes(OWNERS_FINALIZER);
      const rv = manifest.metadata.resourceVersion;
      // A current Manifest with owners is held before it is recorded: deleting it must not erase the record.
      if (staysCurrent && manifest.spec.owners !== undefined && !held && !manifest.metadata.deletionTimestamp) {
        await patchFinalizers(custom, name, rv, [...finalizers, OWNERS_FINALIZER]);
        return;
      }
      // Hand-over: the successor is recorded first, then this one is cleared (its status update re-enqueues us).
      if (wasCurrent && !staysCurrent && selection.active && !isRecordedCurrent(selection.active)) return;
      const relaxations = manifestRelaxations(manifest.spec);
      const status = desiredManifestStatus(manifest, { hash, problems, standing, relaxations, now: now() });
      if (isDeepStrictEqual(status, manifest.status ?? {})) {
        if (held && !staysCurrent && !wasCurrent)
          await patchFinalizers(
            custom,
            name,
            rv,
            finalizers.filter((f) => f !== OWNERS_FINALIZER),
          );
        return;
      }
      // A merge patch keeps what it does not name: activeSince goes only when set to null.
      const patch = manifest.status?.activeSince && !status.activeSince ? { ...status, activeSince: null } : status;
      await patchStatus(custom, { plural: MANIFEST_PLURAL, name, resourceVersion: rv }, patch);
      const target = { apiVersion: API_VERSION, kind: MANIFEST_KIND, name, uid: manifest.metadata.uid };
      const wasActive = findCondition(manifest.status?.conditions, 'Active')?.status === 'True';
      const wasValid = findCondition(manifest.status?.conditions, 'Valid')?.status;
      const reason = findCondition(status.conditions, 'Active')?.reason;
      const wasReason = findCondition(manifest.status?.conditions, 'Active')?.reason;
      if (isActive && !wasActive) {
        const signer = standing.step?.signer ? ` (${activeCondition(manifest, standing).message})` : '';
        deps.log.info({ manifest: name, hash, signed: signer !== '' }, 'manifest is now active');
        await deps.events.record(target, 'Normal', 'Activated', `Manifest ${hash} is now active${signer}`);
        if (manifest.spec.development?.acceptSimulatedEvidence) {
          await deps.events.record(
            target,
            'Warning',
            'SimulatedEvidenceAccepted',
            'this Manifest accepts simulated evidence signed by development roots: never use it in production',
          );
        }
        if (relaxations.length > 0)
          await deps.events.record(
            target,
            'Warning',
            'ChecksRelaxed',
            `the active Manifest relaxes fail-closed checks: ${relaxationSummary(relaxations)}`,
          );
      } else if (isActive && manifest.status?.hash && manifest.status.hash !== hash) {
        await deps.events.record(
          target,
          'Normal',
          'HashChanged',
          `active Manifest changed from ${manifest.status.hash} to ${hash}`,
        );
        if (relaxations.length > 0)
          await deps.events.record(
            target,
            'Warning',
            'ChecksRelaxed',
            `the active Manifest relaxes fail-closed checks: ${relaxationSummary(relaxations)}`,
          );
      }
      if (!isActive && wasActive)
        await deps.events.record(
          target,
          'Normal',
          'Deactivated',
          selection.active ? `Manifest ${selection.active.metadata.name} is now active` : 'no valid Manifest is active',
        );
      // Refusals that need an owner's signature are Warnings: someone tried to change or roll back the Manifest.
      if ((reason === 'NotSignedByOwner' || reason === 'AwaitingSignedSuccessor') && wasReason !== reason)
        await deps.events.record(target, 'Warning', reason, findCondition(status.conditions, 'Active')!.message);
      if (problems.length > 0 && wasValid !== 'False') {
        await deps.events.record(
          target,
          'Warning',
          'InvalidSpec',
          problems.map((p) => `${p.path}: ${p.message}`).join('; '),
        );
      }
    },
  });
  // Activeness of one Manifest depends on all others: any change re-evaluates every Manifest.
  const enqueueAll = () => {
    for (const m of deps.manifests.list()) controller.enqueue(m.metadata!.name!);
  };
  deps.manifests.onChange(enqueueAll);
  return controller;
}

function isRecordedCurrent(manifest: Manifest): boolean {
  return recordedCurrentManifest([manifest]) === manifest;
}
