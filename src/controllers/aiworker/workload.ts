/** The Deployment and Service an AIWorker becomes: pure builders, applied with server-side apply. */
import type * as k8s from '@kubernetes/client-node';
import { type AIWorker, DEFAULT_GPUS_PER_REPLICA, DEFAULT_PORT } from '../../api/aiworker.ts';
import {
  GPU_ATTESTED_LABEL,
  KATA_POLICY_ANNOTATION,
  POLICY_HASH_ANNOTATION,
  recommendedLabels,
  selectorLabels,
} from '../../api/aiworker-labels.ts';
import { API_VERSION } from '../../api/common.ts';

export interface ResolvedPolicy {
  document: string;
  hash: string;
}

function ownerReference(worker: AIWorker): k8s.V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'AIWorker',
    name: worker.metadata.name!,
    uid: worker.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/**
 * The Deployment for an AIWorker. `replicas` is the AIWorker's unless the controller must hold
 * it at zero (fail closed: no active Manifest, or the worker breaks it).
 */
export function desiredDeployment(worker: AIWorker, policy: ResolvedPolicy, replicas: number): k8s.V1Deployment {
  const name = worker.metadata.name!;
  const spec = worker.spec;
  const port = spec.port ?? DEFAULT_PORT;
  const gpus = String(spec.gpusPerReplica ?? DEFAULT_GPUS_PER_REPLICA);
  const labels = recommendedLabels(name);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: worker.metadata.namespace!, labels, ownerReferences: [ownerReference(worker)] },
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(name) },
      // GPUs are scarce: replace pods one at a time instead of surging extra ones.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: {
        metadata: {
          labels,
          annotations: {
            [KATA_POLICY_ANNOTATION]: Buffer.from(policy.document, 'utf8').toString('base64'),
            [POLICY_HASH_ANNOTATION]: policy.hash,
          },
        },
        spec: {
          runtimeClassName: spec.runtimeClassName,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          nodeSelector: { [GPU_ATTESTED_LABEL]: 'true' },
          containers: [
            {
              name: 'server',
              image: spec.image,
              args: ['--model', spec.model, '--port', String(port), ...(spec.args ?? [])],
              ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
              resources: {
                requests: { ...spec.resources?.requests, 'nvidia.com/gpu': gpus },
                limits: { ...spec.resources?.limits, 'nvidia.com/gpu': gpus },
              },
              readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 10 },
              securityContext: { allowPrivilegeEscalation: false },
            },
          ],
        },
      },
    },
  };
}

export function desiredService(worker: AIWorker): k8s.V1Service {
  const name = worker.metadata.name!;
  const port = worker.spec.port ?? DEFAULT_PORT;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: worker.metadata.namespace!,
      labels: recommendedLabels(name),
      ownerReferences: [ownerReference(worker)],
    },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(name),
      ports: [{ name: 'http', port, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
