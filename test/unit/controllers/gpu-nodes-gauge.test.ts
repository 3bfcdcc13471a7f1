// attestor_gpu_nodes without a cluster: GPU nodes counted by the state the node gating controller
// acts on (Current: open to AI workers; otherwise the reason they are closed), other nodes not at all.
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import { registerGpuNodesGauge, registerRolloutProgressGauge } from '../../../src/controllers/node-gating/metrics.ts';
import { RolloutProgress } from '../../../src/controllers/node-gating/rollout-progress.ts';
import { manifest, NOW, nodeAttestation } from '../webhook/fixtures.ts';

const node = (name: string, capacity: Record<string, string> = { 'nvidia.com/gpu': '8' }): k8s.V1Node => ({
  metadata: { name },
  status: { capacity },
});

describe('attestor_gpu_nodes gauge', () => {
  it('counts GPU nodes by attestation state at each scrape, and nothing else', async () => {
    const expired = nodeAttestation('gpu-expired');
    expired.status!.expiresAt = '2026-06-01T11:30:00Z';
    const refused = nodeAttestation('gpu-refused');
    refused.status!.conditions![0]!.status = 'False';
    const attestations = new Map<string, NodeAttestation>(
      [nodeAttestation('gpu-open'), nodeAttestation('gpu-open-2'), expired, refused].map((na) => [
        na.metadata.name!,
        na,
      ]),
    );
    const nodes = [
      node('gpu-open'),
      node('gpu-open-2'),
      node('gpu-expired'),
      node('gpu-refused'),
      node('gpu-new'),
      node('dra-new', { cpu: '64' }),
      node('cpu-only', { cpu: '64' }),
    ];
    const slices = [{ spec: { driver: 'gpu.nvidia.com', nodeName: 'dra-new', devices: [{ name: 'gpu-0' }] } }];
    const registry = new Registry();
    registerGpuNodesGauge(
      registry,
      {
        manifests: { list: () => [manifest()] },
        nodes: { list: () => nodes },
        nodeAttestations: { get: (name) => attestations.get(name) },
        resourceSlices: { list: () => slices },
      },
      () => NOW,
    );
    const values = async () =>
      Object.fromEntries(
        (await registry.getSingleMetric('attestor_gpu_nodes')!.get()).values.map((v) => [v.labels.state, v.value]),
      );
    assert.deepEqual(await values(), { Current: 2, Expired: 1, NotAttested: 1, NoAttestation: 2 });

    // Read again at the next scrape: a node that attests moves from NoAttestation to Current.
    attestations.set('gpu-new', nodeAttestation('gpu-new'));
    assert.deepEqual(await values(), { Current: 3, Expired: 1, NotAttested: 1, NoAttestation: 1 });
    assert.match(await registry.metrics(), /attestor_gpu_nodes\{state="Current"\} 3/);
  });

  it('counts every GPU node as ManifestChanged when no Manifest is active', async () => {
    const registry = new Registry();
    registerGpuNodesGauge(
      registry,
      {
        manifests: { list: () => [] },
        nodes: { list: () => [node('gpu-1')] },
        nodeAttestations: { get: (name) => nodeAttestation(name) },
      },
      () => NOW,
    );
    assert.match(await registry.metrics(), /attestor_gpu_nodes\{state="ManifestChanged"\} 1/);
  });
});

describe('attestor_manifest_rollout_last_progress_timestamp_seconds gauge', () => {
  const scrape = async (registry: Registry) =>
    (await registry.getSingleMetric('attestor_manifest_rollout_last_progress_timestamp_seconds')!.get()).values.map(
      (v) => [v.labels.manifest, v.value],
    );

  it('serves the last progress of the active Manifest by its name: its activation, then each rise of the current count', async () => {
    const active = manifest();
    const registry = new Registry();
    const rollout = new RolloutProgress(new Date(NOW.getTime() - 3_600_000));
    registerRolloutProgressGauge(registry, { manifests: { list: () => [active] } }, rollout);
    assert.deepEqual(
      await scrape(registry),
      [],
      'nothing before the controller looked (a replica that is not the leader)',
    );

    const activatedAt = new Date(NOW.getTime() - 60_000);
    rollout.observe(active.status!.hash!, activatedAt, NOW, () => 0);
    assert.deepEqual(await scrape(registry), [['dev', activatedAt.getTime() / 1000]]);
    const later = new Date(NOW.getTime() + 5_000);
    rollout.observe(active.status!.hash!, activatedAt, later, () => 3);
    assert.deepEqual(await scrape(registry), [['dev', later.getTime() / 1000]]);
    // No rise: the time stays, and time() leaves it behind.
    rollout.observe(active.status!.hash!, activatedAt, new Date(NOW.getTime() + 10_000), () => 3);
    assert.deepEqual(await scrape(registry), [['dev', later.getTime() / 1000]]);
    assert.match(
      await registry.metrics(),
      /attestor_manifest_rollout_last_progress_timestamp_seconds\{manifest="dev"\} 1780315205/,
    );
  });

  it('serves nothing for a Manifest that is no longer active, nor when none is', async () => {
    const manifests = [manifest()];
    const registry = new Registry();
    const rollout = new RolloutProgress(new Date(NOW.getTime() - 3_600_000));
    registerRolloutProgressGauge(registry, { manifests: { list: () => manifests } }, rollout);
    rollout.observe('ff'.repeat(32), new Date(NOW.getTime() - 60_000), NOW, () => 0);
    assert.deepEqual(await scrape(registry), [], 'progress of another hash than the active one');
    manifests.length = 0;
    assert.deepEqual(await scrape(registry), []);
  });
});
