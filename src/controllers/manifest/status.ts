/** The status a Manifest should have: pure, so it is tested without a cluster. */

import { rfc3339, setCondition } from '../../api/conditions.ts';
import type { Manifest, ManifestStatus } from '../../api/manifest.ts';
import { MANIFEST_HISTORY_LIMIT } from '../../api/manifest.ts';
import { type Relaxation, relaxationSummary } from '../../api/manifest-relaxations.ts';
import type { FieldProblem } from '../../api/manifest-validation.ts';

export interface ManifestFacts {
  hash: string;
  problems: readonly FieldProblem[];
  active: boolean;
  /** Name of the active Manifest, when it is another one. */
  activeName: string | undefined;
  /** Fields that weaken the appraisal (manifest-relaxations.ts). */
  relaxations?: readonly Relaxation[];
  now: Date;
}

export function desiredManifestStatus(manifest: Manifest, facts: ManifestFacts): ManifestStatus {
  const current = manifest.status ?? {};
  const generation = manifest.metadata.generation ?? 0;
  let history = [...(current.history ?? [])];
  if (current.hash && current.hash !== facts.hash && history[0]?.hash !== current.hash) {
    history = [
      { hash: current.hash, generation: current.observedGeneration ?? generation - 1, replacedAt: rfc3339(facts.now) },
      ...history,
    ].slice(0, MANIFEST_HISTORY_LIMIT);
  }
  let conditions = setCondition(
    current.conditions,
    facts.problems.length === 0
      ? {
          type: 'Valid',
          status: 'True',
          reason: 'Valid',
          message: 'the spec passed all checks',
          observedGeneration: generation,
        }
      : {
          type: 'Valid',
          status: 'False',
          reason: 'InvalidSpec',
          message: facts.problems.map((p) => `${p.path}: ${p.message}`).join('; '),
          observedGeneration: generation,
        },
    facts.now,
  );
  conditions = setCondition(
    conditions,
    facts.active
      ? {
          type: 'Active',
          status: 'True',
          reason: 'Newest',
          message: 'this is the Manifest the Coordinator appraises evidence against',
          observedGeneration: generation,
        }
      : facts.problems.length > 0
        ? {
            type: 'Active',
            status: 'False',
            reason: 'Invalid',
            message: 'an invalid Manifest cannot become active',
            observedGeneration: generation,
          }
        : {
            type: 'Active',
            status: 'False',
            reason: 'Superseded',
            message: facts.activeName
              ? `Manifest ${facts.activeName} is newer and active`
              : 'another Manifest is active',
            observedGeneration: generation,
          },
    facts.now,
  );
  const relaxations = facts.relaxations ?? [];
  conditions = setCondition(
    conditions,
    relaxations.length > 0
      ? {
          type: 'Relaxed',
          status: 'True',
          reason: 'ChecksRelaxed',
          message: `this Manifest relaxes ${relaxations.length} check(s): ${relaxationSummary(relaxations)}`,
          observedGeneration: generation,
        }
      : {
          type: 'Relaxed',
          status: 'False',
          reason: 'Strict',
          message: 'every check runs with its fail-closed default',
          observedGeneration: generation,
        },
    facts.now,
  );
  const status: ManifestStatus = { hash: facts.hash, observedGeneration: generation, conditions };
  if (history.length > 0) status.history = history;
  if (facts.active)
    status.activeSince = current.activeSince && wasActive(manifest) ? current.activeSince : rfc3339(facts.now);
  return status;
}

function wasActive(manifest: Manifest): boolean {
  return manifest.status?.conditions?.some((c) => c.type === 'Active' && c.status === 'True') ?? false;
}
