// Issue 7, item 18 on the real control plane: rolling a Manifest forward closes the GPU nodes that
// no longer meet it at once (their agents set the GPUs not ready), and deleting it brings them back
// within seconds (opens them again): the Coordinator appraises their retained evidence again and hands each agent,
// through its watch, a grant it redeems; no agent waits for its re-attestation interval (30 min).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent } from '../../src/agent/agent.ts';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import {
  createSimulatedPlatform,
  SIMULATED_SNP_MEASUREMENT,
  SIMULATED_TDX_MRTD,
  SimulatedCvmSource,
  SimulatedGpuControl,
  type SimulatedPlatform,
} from '../../src/agent/evidence/simulated.ts';
import type { NodeAttestation } from '../../src/api/node-attestation.ts';
import { GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../../src/api/node-gating.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../../src/dev/agent-identity.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { sharedControlPlane, startTestOperator, uniqueName } from '../harness/cluster.ts';
import { simulatedManifestSpec } from '../harness/simulated-manifest.ts';

const POLICY_HASH = createHash('sha256').update('rollback policy').digest('hex');
const group = { group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' };

function spec(snpMeasurement: string, tdxMrTd: string) {
  return simulatedManifestSpec({ policyHash: POLICY_HASH, runtimeClasses: ['kata'], snpMeasurement, tdxMrTd });
}

describe('Manifest roll-forward and roll-back: nodes closed at once, open again within seconds', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let platform: SimulatedPlatform;
  let operator: RunningOperator;
  const ns = uniqueName('attestor-rollback');
  const base = uniqueName('rollback-base');
  const strict = uniqueName('rollback-strict');
  const nodes = [`${ns}-snp`, `${ns}-tdx`];
  const abort = new AbortController();
  const runs: Promise<void>[] = [];
  const agents: Array<{ node: string; cvm: SimulatedCvmSource; gpus: SimulatedGpuControl }> = [];
  const clients: CoordinatorClient[] = [];

  const getNode = (name: string) => core.readNode({ name });
  const attestation = async (name: string) =>
    (await custom.getClusterCustomObject({
      group: 'attestor.dev',
      version: 'v1alpha1',
      plural: 'nodeattestations',
      name,
    })) as NodeAttestation;
  const attested = (na: NodeAttestation) => na.status?.conditions?.find((c) => c.type === 'Attested');
  const open = (node: k8s.V1Node) =>
    node.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true' &&
    !(node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key);
  const closed = (node: k8s.V1Node) =>
    node.metadata?.labels?.[GPU_ATTESTED_LABEL] !== 'true' &&
    (node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key);
  const active = (name: string) =>
    operator.informers.manifests.get(name)?.status?.conditions?.some((c) => c.type === 'Active' && c.status === 'True');

  before(async () => {
    cp = await sharedControlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    platform = await createSimulatedPlatform();
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await ensureAgentServiceAccount(kc, ns);
    await custom.createClusterCustomObject({
      ...group,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: base },
        spec: spec(SIMULATED_SNP_MEASUREMENT, SIMULATED_TDX_MRTD),
      },
    });
    const serving = await issueCertificate(cp.certificateAuthority, {
      commonName: 'attestor-coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    operator = await startTestOperator(kc, {
      namespace: ns,
      coordinator: localCoordinatorOptions(serving, platform, ns),
    });
    await waitFor(() => active(base), { description: 'base Manifest active' });
    const url = `https://127.0.0.1:${await operator.coordinatorPort}`;
    for (const [i, node] of nodes.entries()) {
      await cp.createGpuNode(node, { gpus: 2 });
      const client = new CoordinatorClient(url, cp.caPem, await agentTokenSource(kc, ns, node));
      clients.push(client);
      const cvm = new SimulatedCvmSource(platform, { platform: i === 0 ? 'snp' : 'tdx', policyHash: POLICY_HASH });
      const gpus = new SimulatedGpuControl(platform, { uuids: [`${node}-GPU-0`, `${node}-GPU-1`] });
      agents.push({ node, cvm, gpus });
      runs.push(new NodeAgent({ nodeName: node, client, cvm, gpus, log: silentLogger }).run(abort.signal));
    }
  });
  after(async () => {
    abort.abort();
    await Promise.all(runs);
    for (const c of clients) await c.close();
    await operator?.stop();
    for (const name of [strict, base])
      await custom.deleteClusterCustomObject({ ...group, name }).catch(() => undefined);
  });

  it('attests both nodes with running agents', async () => {
    for (const node of nodes)
      await waitFor(async () => open(await getNode(node)), {
        timeoutMs: 60_000,
        description: `${node} open`,
      });
  });

  it('closes the nodes at once when a stricter Manifest becomes active, and the agents set their GPUs not ready', async () => {
    await waitFor(
      () =>
        Date.now() - new Date(operator.informers.manifests.get(base)!.metadata.creationTimestamp!).getTime() > 1000 ||
        undefined,
      { timeoutMs: 5000 },
    );
    await custom.createClusterCustomObject({
      ...group,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: strict },
        spec: spec('99'.repeat(48), '98'.repeat(48)),
      },
    });
    const roundsBefore = agents.map((a) => a.cvm.requests.length);
    await waitFor(() => active(strict), { description: 'strict Manifest active' });
    for (const [i, node] of nodes.entries()) {
      const na = await waitFor(
        async () => {
          const current = await attestation(node);
          return attested(current)?.status === 'False' ? current : undefined;
        },
        { timeoutMs: 20_000, description: `${node} not attested under the strict Manifest` },
      );
      assert.match(attested(na)!.message, i === 0 ? /snp\.measurement/ : /tdx\.mrtd/);
      await waitFor(async () => closed(await getNode(node)), { description: `${node} closed` });
      await waitFor(() => agents[i]!.gpus.calls.includes('nvmlSystemSetConfComputeGpusReadyState 0') || undefined, {
        timeoutMs: 10_000,
        description: `${node}: GPUs set not ready`,
      });
      // The agent attests again within the Coordinator's window and is refused; its next round is a
      // minute away. Waiting for that here keeps the roll-back below to the re-appraisal path alone.
      await waitFor(() => agents[i]!.cvm.requests.length > roundsBefore[i]! || undefined, {
        timeoutMs: 70_000,
        description: `${node} attests again under the strict Manifest`,
      });
      await waitFor(
        async () =>
          (
            await core.listNamespacedEvent({
              namespace: 'default',
              fieldSelector: `involvedObject.name=${node},reason=AttestationRefused`,
            })
          ).items.length > 0 || undefined,
        { timeoutMs: 20_000, description: `${node}: that attestation refused` },
      );
    }
  });

  it('brings the nodes back within seconds when the stricter Manifest is deleted, through grants the agents redeem', async () => {
    const activations = agents.map(
      (a) => a.gpus.calls.filter((c) => c === 'nvmlSystemSetConfComputeGpusReadyState 1').length,
    );
    const rounds = agents.map((a) => a.cvm.requests.length);
    const t0 = Date.now();
    await custom.deleteClusterCustomObject({ ...group, name: strict });
    for (const node of nodes)
      await waitFor(async () => open(await getNode(node)), {
        timeoutMs: 15_000,
        intervalMs: 50,
        description: `${node} open again`,
      });
    const seconds = (Date.now() - t0) / 1000;
    assert.ok(seconds < 15, `back after ${seconds} s`);
    for (const [i, node] of nodes.entries()) {
      const na = await attestation(node);
      assert.equal(attested(na)?.status, 'True');
      assert.equal(na.status!.manifestHash, operator.informers.manifests.get(base)!.status!.hash);
      assert.ok(
        agents[i]!.gpus.calls.filter((c) => c === 'nvmlSystemSetConfComputeGpusReadyState 1').length > activations[i]!,
        `${node}: GPUs activated again`,
      );
      // Events are written after the fact (the recorder's queue): wait for it.
      await waitFor(
        async () =>
          (
            await core.listNamespacedEvent({
              namespace: 'default',
              fieldSelector: `involvedObject.name=${node},reason=Attested`,
            })
          ).items.some((e) => e.message?.includes('on re-appraisal of its last evidence')),
        { timeoutMs: 15_000, description: `${node}: accepted again on its retained evidence` },
      );
    }
    // And every agent attests again soon (spread over the Coordinator's window), not after 30 minutes.
    for (const [i, a] of agents.entries())
      await waitFor(() => a.cvm.requests.length > rounds[i]! || undefined, {
        timeoutMs: 15_000,
        description: `${a.node} attests again`,
      });
  });
});
