// One valid object of each kind the webhooks judge; the tables change one thing per case.

import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import type { Manifest } from '../../../src/api/manifest.ts';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';

export const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
export const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
export const RUNTIME_CLASS = 'kata-qemu-nvidia-gpu-snp';
export const IMAGE = `registry.example/vllm@sha256:${'c3'.repeat(32)}`;
export const MANIFEST_HASH = 'ab'.repeat(32);
export const NOW = new Date('2026-06-01T12:00:00Z');
export const OPERATOR = 'system:serviceaccount:attestor-system:attestor-operator';

export function manifest(): Manifest {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'dev', creationTimestamp: new Date('2026-01-01T00:00:00Z') },
    spec: {
      referenceValues: {
        snp: [{ measurements: ['ab'.repeat(48)], minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 } }],
        gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
      },
      policies: [{ name: 'llama', hash: POLICY_HASH }],
      runtimeClasses: [RUNTIME_CLASS],
    },
    status: { hash: MANIFEST_HASH },
  } as Manifest;
}

export function pod(): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'llama-0',
      namespace: 'inference',
      labels: {
        'app.kubernetes.io/managed-by': 'attestor',
        'app.kubernetes.io/name': 'ai-worker',
        'app.kubernetes.io/instance': 'llama',
      },
      annotations: {
        'io.katacontainers.config.agent.policy': Buffer.from(POLICY).toString('base64'),
        'attestor.dev/policy-hash': POLICY_HASH,
      },
    },
    spec: {
      runtimeClassName: RUNTIME_CLASS,
      initContainers: [{ name: 'fetch', image: `registry.example/fetch@sha256:${'0a'.repeat(32)}` }],
      containers: [
        {
          name: 'server',
          image: IMAGE,
          resources: { requests: { 'nvidia.com/gpu': '1' }, limits: { 'nvidia.com/gpu': '1' } },
        },
        { name: 'sidecar', image: `registry.example/proxy:1.2@sha256:${'0b'.repeat(32)}` },
      ],
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
    },
  };
}

export function nodeAttestation(name = 'gpu-1'): NodeAttestation {
  const condition = (type: string) => ({
    type,
    status: 'True' as const,
    reason: 'Verified',
    message: 'ok',
    lastTransitionTime: '2026-06-01T11:00:00Z',
  });
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'NodeAttestation',
    metadata: { name },
    status: {
      manifestHash: MANIFEST_HASH,
      cvm: { platform: 'snp', verified: true },
      gpus: [{ uuid: 'GPU-1', verified: true, activated: true }],
      attestedAt: '2026-06-01T11:00:00Z',
      expiresAt: '2026-06-01T13:00:00Z',
      conditions: [condition('Attested'), condition('GPUsActivated')],
    },
  };
}

export function binding(node = 'gpu-1'): k8s.V1Binding {
  return {
    apiVersion: 'v1',
    kind: 'Binding',
    metadata: { name: 'llama-0', namespace: 'inference' },
    target: { apiVersion: 'v1', kind: 'Node', name: node },
  };
}

export function node(): k8s.V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'gpu-1', labels: { 'kubernetes.io/hostname': 'gpu-1', 'attestor.dev/gpu-attested': 'true' } },
    spec: { taints: [{ key: 'example.com/dedicated', value: 'ai', effect: 'NoSchedule' }] },
  };
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}
