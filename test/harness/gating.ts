/**
 * What the node gating tests (and others on written attestations) on the real control plane
 * share: a Manifest whose reference values the harness's written attestations claim to meet,
 * whether a node is open or closed to AI workers, and an AI worker's Deployment pinned to one node.
 */
import type * as k8s from '@kubernetes/client-node';
import { GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../../src/api/node-gating.ts';

/**
 * A Manifest whose reference values the harness's written attestations (writeCurrentAttestation)
 * meet. Another `measurement` makes another hash (a roll-forward); `policy` and `runtimeClass` are
 * what the AI workers of a test use.
 */
export function gatingManifest(
  name: string,
  options: { measurement?: string; policy?: { name: string; hash: string }; runtimeClass?: string } = {},
) {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name },
    spec: {
      referenceValues: {
        snp: [
          {
            measurements: [options.measurement ?? 'ab'.repeat(48)],
            minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
          },
        ],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      policies: [options.policy ?? { name: 'p', hash: 'cd'.repeat(32) }],
      runtimeClasses: [options.runtimeClass ?? 'kata'],
    },
  };
}

/** Open to AI workers: labelled attested, without the unattested taint. */
export const isOpen = (node: k8s.V1Node) =>
  node.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true' &&
  !(node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key);

/** Closed: no attested label, the unattested NoSchedule taint. */
export const isClosed = (node: k8s.V1Node) =>
  node.metadata?.labels?.[GPU_ATTESTED_LABEL] === undefined &&
  (node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key && t.effect === 'NoSchedule');

/** An AI worker's Deployment (the labels the AIWorker controller gives its pods), pinned to one node. */
export function gpuWorkerDeployment(name: string, node: string, gpus = 1): k8s.V1Deployment {
  const labels = {
    'app.kubernetes.io/managed-by': 'attestor',
    'app.kubernetes.io/name': 'ai-worker',
    'app.kubernetes.io/instance': name,
  };
  return {
    metadata: { name, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { [GPU_ATTESTED_LABEL]: 'true', 'kubernetes.io/hostname': node },
          containers: [
            {
              name: 'server',
              image: `registry.example/vllm@sha256:${'c3'.repeat(32)}`,
              resources: { limits: { 'nvidia.com/gpu': String(gpus) } },
            },
          ],
        },
      },
    },
  };
}
