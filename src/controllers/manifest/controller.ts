/**
 * The Manifest controller: validates each Manifest, computes its canonical hash, keeps the
 * history of earlier hashes and marks exactly one Manifest active (the newest valid one).
 * Any Manifest change re-evaluates all of them, since activeness depends on the others.
 */

import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { selectActiveManifest } from '../../api/active-manifest.ts';
import { API_VERSION } from '../../api/common.ts';
import { findCondition } from '../../api/conditions.ts';
import { MANIFEST_KIND, MANIFEST_PLURAL, type Manifest } from '../../api/manifest.ts';
import { manifestHash } from '../../api/manifest-hash.ts';
import { manifestRelaxations, relaxationSummary } from '../../api/manifest-relaxations.ts';
import { validateManifestSpec } from '../../api/manifest-validation.ts';
import type { Logger } from '../../observability/log.ts';
import type { OperatorMetrics } from '../../observability/metrics.ts';
import { Controller } from '../runtime/controller.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import { patchStatus } from '../status-writer.ts';
import { desiredManifestStatus } from './status.ts';

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
      const active = selectActiveManifest(deps.manifests.list());
      const isActive = active?.metadata.name === name;
      const relaxations = manifestRelaxations(manifest.spec);
      const status = desiredManifestStatus(manifest, {
        hash,
        problems,
        active: isActive,
        activeName: active?.metadata.name,
        relaxations,
        now: now(),
      });
      if (isDeepStrictEqual(status, manifest.status ?? {})) return;
      await patchStatus(
        custom,
        { plural: MANIFEST_PLURAL, name, resourceVersion: manifest.metadata.resourceVersion },
        status,
      );
      const target = { apiVersion: API_VERSION, kind: MANIFEST_KIND, name, uid: manifest.metadata.uid };
      const wasActive = findCondition(manifest.status?.conditions, 'Active')?.status === 'True';
      const wasValid = findCondition(manifest.status?.conditions, 'Valid')?.status;
      if (isActive && !wasActive) {
        deps.log.info({ manifest: name, hash }, 'manifest is now active');
        await deps.events.record(target, 'Normal', 'Activated', `Manifest ${hash} is now active`);
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
          active ? `Manifest ${active.metadata.name} is now active` : 'no valid Manifest is active',
        );
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
