/**
 * Whether an AIWorker may run under the active Manifest: runtime class, policy hash, and a
 * deployment model the Manifest enables (pod-cvm needs pod-role CVM entries, confidential-node
 * node-role ones); a pod-CVM worker also needs the operator to know the `attestor init` image.
 */
import type { AIWorker } from '../../api/aiworker.ts';
import { aiWorkerModel, enabledModels } from '../../api/deployment-model.ts';
import type { Manifest } from '../../api/manifest.ts';
import type { WorkloadPodSettings } from './workload.ts';

export interface Violation {
  reason:
    | 'NoActiveManifest'
    | 'RuntimeClassNotAllowed'
    | 'PolicyNotAllowed'
    | 'DeploymentModelNotEnabled'
    | 'InitImageNotConfigured';
  message: string;
}

export function checkCompliance(
  worker: AIWorker,
  policyHash: string,
  active: Manifest | undefined,
  settings?: WorkloadPodSettings,
): Violation[] {
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
  const model = aiWorkerModel(worker.spec);
  if (!enabledModels(active).has(model)) {
    violations.push({
      reason: 'DeploymentModelNotEnabled',
      message:
        model === 'pod-cvm'
          ? `spec.deploymentModel: pod-cvm (the default) is not enabled by Manifest ${manifestName}: it has no pod-role CVM entries (spec.referenceValues.snp[]/tdx[] with role: pod)`
          : `spec.deploymentModel: confidential-node is not enabled by Manifest ${manifestName}: it has no node-role CVM entries`,
    });
  }
  if (model === 'pod-cvm' && !settings?.initImage) {
    violations.push({
      reason: 'InitImageNotConfigured',
      message:
        'spec.deploymentModel: pod-cvm pods need attestor init, and the operator has no --init-image (its own image, pinned by digest; Helm: image.digest or workload.initImage)',
    });
  }
  return violations;
}
