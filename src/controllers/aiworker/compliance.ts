/** Whether an AIWorker may run under the active Manifest: runtime class and policy hash. */
import type { AIWorker } from '../../api/aiworker.ts';
import type { Manifest } from '../../api/manifest.ts';

export interface Violation {
  reason: 'NoActiveManifest' | 'RuntimeClassNotAllowed' | 'PolicyNotAllowed';
  message: string;
}

export function checkCompliance(worker: AIWorker, policyHash: string, active: Manifest | undefined): Violation[] {
  if (!active) return [{ reason: 'NoActiveManifest', message: 'no valid Manifest is active, so nothing may run' }];
  const violations: Violation[] = [];
  const manifestName = active.metadata.name;
  if (!active.spec.runtimeClasses.includes(worker.spec.runtimeClassName)) {
    violations.push({
      reason: 'RuntimeClassNotAllowed',
      message: `spec.runtimeClassName: "${worker.spec.runtimeClassName}" is not one of the runtime classes Manifest ${manifestName} allows (${active.spec.runtimeClasses.join(', ')})`,
    });
  }
  if (!active.spec.policies.some((p) => p.hash === policyHash)) {
    violations.push({
      reason: 'PolicyNotAllowed',
      message: `spec.policy: SHA-256 ${policyHash} is not among the policies Manifest ${manifestName} allows`,
    });
  }
  return violations;
}
