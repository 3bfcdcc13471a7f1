// The chain of trust on the real control plane: GPU nodes stay tainted until their agent's
// simulated CVM and GPU evidence is verified against the active Manifest and the GPUs are
// activated with a grant; then the AIWorker's pods are scheduled and run. Bad evidence of every
// kind is refused, with the reason in status and Events, and no grant. A Manifest the node no
// longer meets un-gates it.
// Every test makes the nodes (and AIWorker) it needs and attests what it needs attested, so that
// any one runs alone (--grep) or in any order; the Manifest and the operator are shared.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent } from '../../src/agent/agent.ts';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import { NvmlGpuControl } from '../../src/agent/evidence/nvml/gpu-control.ts';
import {
  createSimulatedPlatform,
  SIMULATED_SNP_MEASUREMENT,
  SimulatedCvmSource,
  SimulatedGpuControl,
  type SimulatedPlatform,
} from '../../src/agent/evidence/simulated.ts';
import type { GpuControl } from '../../src/agent/evidence/source.ts';
import type { AIWorker } from '../../src/api/aiworker.ts';
import type { NodeAttestation } from '../../src/api/node-attestation.ts';
import { GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../../src/api/node-gating.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../../src/dev/agent-identity.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { ATTEST_PATH, type AttestResponse, NONCE_PATH, type NonceResponse } from '../../src/protocol/messages.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import {
  activeManifestHash,
  sharedControlPlane,
  startTestOperator,
  uniqueName,
  writeCurrentAttestation,
} from '../harness/cluster.ts';
import { buildKstatus, kstatus } from '../harness/kstatus.ts';
import { buildLuaHealth, LUA_HEALTH_BUILD_TIMEOUT_MS, luaHealth } from '../harness/lua-health.ts';
import { buildNvmlStub, NvmlStubDir } from '../harness/nvml-stub.ts';
import { matching, value } from '../harness/prometheus-text.ts';
import { simulatedManifestSpec } from '../harness/simulated-manifest.ts';

const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
const group = { group: 'attestor.dev', version: 'v1alpha1' };

describe('attestation flow: evidence -> grant -> activation -> schedulable GPUs', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let platform: SimulatedPlatform;
  let operator: RunningOperator;
  let coordinatorUrl: string;
  const ns = uniqueName('attestor-system');
  const runtimeClass = uniqueName('kata-snp');
  const manifestName = uniqueName('flow');
  /** A node name of this file's; each test uses its own. */
  const node = (name: string) => `${ns}-${name}`;
  const createdNodes: string[] = [];
  const clients: CoordinatorClient[] = [];
  // The AI worker tests each schedule onto a pool of nodes of their own: a runtime class whose
  // scheduling.nodeSelector names a label only that pool's nodes carry, so that no node another
  // test opened takes their pods, whatever ran before.
  const POOL_LABEL = 'test.attestor.dev/pool';
  const pools = ['pending', 'snp', 'tdx'] as const;
  type Pool = (typeof pools)[number];
  const poolClass = (pool: Pool) => `${runtimeClass}-${pool}`;

  function manifestSpec(snpMeasurement = SIMULATED_SNP_MEASUREMENT) {
    return simulatedManifestSpec({ policyHash: POLICY_HASH, runtimeClasses: pools.map(poolClass), snpMeasurement });
  }

  before(async function () {
    // Argo CD's health checks (gopher-lua) and kstatus (cli-utils): built on first use (minutes when cold).
    this.timeout(2 * LUA_HEALTH_BUILD_TIMEOUT_MS);
    await buildLuaHealth();
    await buildKstatus();
    cp = await sharedControlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    platform = await createSimulatedPlatform();
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await ensureAgentServiceAccount(kc, ns);
    for (const pool of pools)
      await kc.makeApiClient(k8s.NodeV1Api).createRuntimeClass({
        body: {
          metadata: { name: poolClass(pool) },
          handler: 'kata',
          scheduling: { nodeSelector: { [POOL_LABEL]: node(pool) } },
        },
      });
    await custom.createClusterCustomObject({
      ...group,
      plural: 'manifests',
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: manifestName },
        spec: manifestSpec(),
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
    coordinatorUrl = `https://127.0.0.1:${await operator.coordinatorPort}`;
    await activeManifestHash(operator, manifestName, { description: 'flow Manifest active' });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await operator?.stop();
    await custom
      .deleteClusterCustomObject({ ...group, plural: 'manifests', name: manifestName })
      .catch(() => undefined);
    for (const name of createdNodes) await core.deleteNode({ name }).catch(() => undefined);
    for (const pool of pools)
      await kc
        .makeApiClient(k8s.NodeV1Api)
        .deleteRuntimeClass({ name: poolClass(pool) })
        .catch(() => undefined);
  });

  /** A GPU node (2 GPUs unless said), which the operator taints until it is attested; in a pool when given. */
  async function gpuNode(name: string, options: { gpus?: number; pool?: Pool } = {}): Promise<string> {
    await cp.createGpuNode(name, {
      gpus: options.gpus ?? 2,
      ...(options.pool ? { labels: { [POOL_LABEL]: node(options.pool) } } : {}),
    });
    createdNodes.push(name);
    return name;
  }

  /** An AIWorker of 2 replicas with 2 GPUs each, in a namespace of its own, for a pool's nodes. */
  async function aiWorker(pool: Pool): Promise<string> {
    const namespace = uniqueName('ai');
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'policy' }, data: { 'policy.rego': POLICY } },
    });
    const worker: AIWorker = {
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'AIWorker',
      metadata: { name: 'llama', namespace },
      spec: {
        image: `registry.example/vllm@sha256:${'d4'.repeat(32)}`,
        model: 'm',
        replicas: 2,
        gpusPerReplica: 2,
        runtimeClassName: poolClass(pool),
        // Node CVMs attested by the agent: the model this test is about (pod-cvm is the default).
        deploymentModel: 'confidential-node',
        policy: { configMapRef: { name: 'policy' } },
      },
    };
    await custom.createNamespacedCustomObject({ ...group, plural: 'aiworkers', namespace, body: worker });
    return namespace;
  }

  async function client(node: string): Promise<CoordinatorClient> {
    const c = new CoordinatorClient(coordinatorUrl, cp.caPem, await agentTokenSource(kc, ns, node));
    clients.push(c);
    return c;
  }
  async function agent(
    node: string,
    options: { platform?: 'snp' | 'tdx'; measurement?: string; policyHash?: string; gpus?: GpuControl } = {},
  ) {
    const gpus = options.gpus ?? new SimulatedGpuControl(platform, { uuids: [`${node}-GPU-0`, `${node}-GPU-1`] });
    const cvm = new SimulatedCvmSource(platform, {
      platform: options.platform ?? 'snp',
      measurement: options.measurement,
      policyHash: options.policyHash ?? POLICY_HASH,
    });
    return { agent: new NodeAgent({ nodeName: node, client: await client(node), cvm, gpus, log: silentLogger }), gpus };
  }
  const getNode = (name: string) => core.readNode({ name });
  const attestation = async (name: string) =>
    (await custom.getClusterCustomObject({ ...group, plural: 'nodeattestations', name })) as NodeAttestation;
  const gated = (node: k8s.V1Node) =>
    node.metadata?.labels?.[GPU_ATTESTED_LABEL] !== 'true' &&
    (node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key);
  const schedulable = (node: k8s.V1Node) =>
    node.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true' &&
    !(node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key);
  const condition = (na: NodeAttestation, type: string) => na.status?.conditions?.find((c) => c.type === type);
  const runningOn = async (namespace: string, name: string) =>
    (await core.listNamespacedPod({ namespace })).items.filter(
      (p) => p.status?.phase === 'Running' && p.spec?.nodeName === name,
    ).length;

  /** Attests a node with its simulated agent (its GPUs activated) and waits until it is open for GPU pods. */
  async function attested(name: string, platform: 'snp' | 'tdx' = 'snp'): Promise<void> {
    const { agent: a } = await agent(name, { platform });
    const outcome = await a.attestOnce();
    assert.equal(outcome.accepted && outcome.activated, true, JSON.stringify(outcome));
    await waitFor(async () => schedulable(await getNode(name)), { description: `${name} open for GPU pods` });
  }

  it('taints new GPU nodes until they are attested, so AI worker pods stay Pending', async () => {
    for (const name of [node('pending-0'), node('pending-1')]) {
      await gpuNode(name, { pool: 'pending' });
      await waitFor(async () => gated(await getNode(name)), { description: `${name} tainted` });
    }
    const workloads = await aiWorker('pending');
    const pending = await waitFor(
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: workloads })).items;
        return pods.length === 2 && pods.every((p) => p.status?.phase === 'Pending' && !p.spec?.nodeName)
          ? pods
          : undefined;
      },
      { description: 'two Pending pods' },
    );
    assert.equal(pending.length, 2);
    const waiting = await waitFor(
      async () => {
        const w = (await custom.getNamespacedCustomObject({
          ...group,
          plural: 'aiworkers',
          namespace: workloads,
          name: 'llama',
        })) as AIWorker;
        // The scheduler marks the two pods unschedulable one after the other, so the status may
        // first count one of them: wait for the status that counts both.
        return w.status?.conditions?.find(
          (c) => c.type === 'Ready' && c.reason === 'WaitingForAttestedNodes' && / 2 pods wait /.test(c.message ?? ''),
        );
      },
      { description: 'AIWorker says its two pods wait for attested nodes' },
    );
    assert.match(waiting.message, /2 pods wait for an attested GPU node/);
  });

  it('attests a node (SNP CVM + 2 GPUs), activates its GPUs with the grant, and lets the pods run there', async () => {
    const good = await gpuNode(node('snp'), { pool: 'snp' });
    const workloads = await aiWorker('snp');
    const { agent: a, gpus } = await agent(good);
    const outcome = await a.attestOnce();
    assert.deepEqual(outcome.accepted && outcome.activated, true, JSON.stringify(outcome));
    assert.deepEqual(
      (gpus as SimulatedGpuControl).calls.filter((c) => c.startsWith('nvmlSystem')),
      ['nvmlSystemSetConfComputeGpusReadyState 1', 'nvmlSystemGetConfComputeGpusReadyState'],
    );

    const na = await waitFor(
      async () => {
        const current = await attestation(good);
        return condition(current, 'GPUsActivated')?.status === 'True' ? current : undefined;
      },
      { description: 'GPUs activated in status' },
    );
    assert.equal(condition(na, 'Attested')!.reason, 'VerifiedSimulated');
    assert.equal(na.status!.cvm!.platform, 'snp');
    assert.equal(na.status!.cvm!.simulated, true);
    assert.equal(na.status!.cvm!.measurement, SIMULATED_SNP_MEASUREMENT);
    assert.equal(na.status!.cvm!.policyHash, POLICY_HASH);
    assert.deepEqual(
      na.status!.gpus!.map((g) => [g.uuid, g.verified, g.activated, g.driverVersion, g.vbiosVersion]),
      [
        [`${good}-GPU-0`, true, true, '550.90.07', '96.00.9F.00.01'],
        [`${good}-GPU-1`, true, true, '550.90.07', '96.00.9F.00.01'],
      ],
    );
    // What the API server keeps of the GPU verdict: measurements compared, the mode, the device
    // behind each UUID, and the UUID-to-device bindings later evidence is held to.
    assert.deepEqual(
      na.status!.gpus!.map((g) => [g.measurements, g.mode]),
      [
        ['Matched', 'LEGACY'],
        ['Matched', 'LEGACY'],
      ],
    );
    assert.ok(
      na.status!.gpus!.every((g) => /^[0-9a-f]+$/.test(g.deviceId ?? '')),
      JSON.stringify(na.status!.gpus),
    );
    assert.deepEqual(na.status!.gpuBindings!.map((b) => b.uuid).sort(), [`${good}-GPU-0`, `${good}-GPU-1`]);
    assert.equal(na.status!.manifestHash, operator.informers.manifests.get(manifestName)!.status!.hash);
    assert.ok(new Date(na.status!.expiresAt!).getTime() > Date.now() + 50 * 60_000);
    // kstatus: Ready, observedGeneration, no Reconciling or Stalled once attested and activated.
    assert.equal(condition(na, 'Ready')!.status, 'True');
    assert.equal(condition(na, 'Ready')!.reason, 'Attested');
    assert.equal(na.status!.observedGeneration, na.metadata.generation);
    assert.equal(condition(na, 'Reconciling'), undefined);
    assert.equal(condition(na, 'Stalled'), undefined);
    await waitFor(async () => schedulable(await getNode(good)), { description: 'node labelled and untainted' });
    // The Coordinator's Events name the NodeAttestation by UID, so kubectl describe lists them.
    const described = await waitFor(
      () => {
        const out = execFileSync(
          join(cp.binDir, 'kubectl'),
          ['--kubeconfig', cp.kubeconfigPath, 'describe', 'nodeattestation', good],
          { encoding: 'utf8' },
        );
        return /Normal\s+GPUsActivated\s.*2 GPUs activated for confidential work/.test(out) ? out : undefined;
      },
      { description: 'kubectl describe nodeattestation lists the GPUsActivated Event' },
    );
    assert.doesNotMatch(described, /Events:\s+<none>/);
    // Argo CD's health check, in gopher-lua, on the object as the Coordinator wrote it.
    assert.equal((await luaHealth('charts/attestor/health/nodeattestation.lua', na)).status, 'Healthy');
    assert.equal((await kstatus(na)).status, 'Current', 'kstatus (cli-utils) agrees');
    assert.match(described, /Warning\s+Attested\s.*CVM and 2 GPUs verified/);

    // One replica fits the attested node (2 GPUs); the other waits for the next attested node.
    await waitFor(async () => (await runningOn(workloads, good)) === 1, {
      timeoutMs: 60_000,
      description: 'a pod Running on the attested node',
    });
    const current = await waitFor(
      async () => {
        const worker = (await custom.getNamespacedCustomObject({
          ...group,
          plural: 'aiworkers',
          namespace: workloads,
          name: 'llama',
        })) as AIWorker;
        // Ready comes from the Deployment's status, which its controller may write a moment later.
        return worker.status?.readyReplicas === 1 ? worker : undefined;
      },
      { description: 'AIWorker counts one ready replica' },
    );
    // Attested replicas hold a workload certificate (confidential-node-workloads.test.ts): none
    // without attestor init, whatever the node.
    assert.equal(current.status?.attestedReplicas, 0);
  });

  it('attests a TDX node too, and the second replica runs there', async () => {
    const snp = await gpuNode(node('tdx-pool-snp'), { pool: 'tdx' });
    const tdx = await gpuNode(node('tdx'), { pool: 'tdx' });
    const workloads = await aiWorker('tdx');
    // The first replica runs on an attested SNP node.
    await attested(snp);
    await waitFor(async () => (await runningOn(workloads, snp)) === 1, {
      timeoutMs: 60_000,
      description: 'a pod Running on the SNP node',
    });
    const { agent: a } = await agent(tdx, { platform: 'tdx' });
    const outcome = await a.attestOnce();
    assert.equal(outcome.accepted && outcome.activated, true, JSON.stringify(outcome));
    const cvm = (await attestation(tdx)).status!.cvm!;
    assert.equal(cvm.platform, 'tdx');
    assert.match(
      cvm.tcb ?? '',
      /; TCB UpToDate, QE UpToDate$/,
      "judged with the simulated platform's complete Intel collateral",
    );
    await waitFor(
      async () => {
        const pods = (await core.listNamespacedPod({ namespace: workloads })).items;
        return pods.length === 2 && pods.every((p) => p.status?.phase === 'Running');
      },
      { timeoutMs: 60_000, description: 'both pods Running' },
    );
    assert.equal(await runningOn(workloads, tdx), 1, 'the second replica on the TDX node');
  });

  // Each refusal on a node of its own (`bad`: its name), new and so tainted.
  const refusals: Array<{ name: string; options: (bad: string) => Parameters<typeof agent>[1]; check: string }> = [
    { name: 'a wrong measurement', options: () => ({ measurement: 'ee'.repeat(48) }), check: 'snp.measurement' },
    {
      name: 'a policy hash the Manifest does not list',
      options: () => ({ policyHash: 'ff'.repeat(32) }),
      check: 'snp.host-data',
    },
    {
      name: 'a GPU driver outside the Manifest',
      options: (bad) => ({
        gpus: new SimulatedGpuControl(platform, {
          uuids: [`${bad}-GPU-0`, `${bad}-GPU-1`],
          driverVersion: '535.86.09',
        }),
      }),
      check: 'gpu.driver-version',
    },
    {
      name: 'a VBIOS outside the Manifest',
      options: (bad) => ({
        gpus: new SimulatedGpuControl(platform, {
          uuids: [`${bad}-GPU-0`, `${bad}-GPU-1`],
          vbiosVersion: '96.00.5E.00.01',
        }),
      }),
      check: 'gpu.vbios-version',
    },
    {
      name: 'a missing GPU report',
      options: (bad) => ({ gpus: new SimulatedGpuControl(platform, { uuids: [`${bad}-GPU-0`] }) }),
      check: 'node.gpu.missing',
    },
    {
      name: 'a bad GPU report signature',
      options: (bad) => ({
        gpus: tampered(new SimulatedGpuControl(platform, { uuids: [`${bad}-GPU-0`, `${bad}-GPU-1`] })),
      }),
      check: 'gpu.signature',
    },
  ];
  for (const [i, r] of refusals.entries()) {
    it(`refuses ${r.name}: no grant, no activation, the node stays tainted, status and an Event say why`, async () => {
      const bad = await gpuNode(node(`bad-${i}`));
      await waitFor(async () => gated(await getNode(bad)), { description: `${bad} tainted` });
      const options = r.options(bad);
      const { agent: a, gpus } = await agent(bad, options);
      const outcome = await a.attestOnce();
      assert.equal(outcome.accepted, false);
      assert.ok(
        !outcome.accepted && outcome.reasons.some((reason) => reason.includes(`[${r.check}]`)),
        JSON.stringify(outcome),
      );
      const calls =
        ((options?.gpus ?? gpus) as SimulatedGpuControl).calls ??
        (gpus as unknown as { inner: SimulatedGpuControl }).inner.calls;
      assert.ok(!calls.includes('nvmlSystemSetConfComputeGpusReadyState 1'), 'never activated without a grant');
      const na = await attestation(bad);
      assert.equal(condition(na, 'Attested')!.status, 'False');
      assert.equal(condition(na, 'Attested')!.reason, 'EvidenceRefused');
      assert.match(condition(na, 'Attested')!.message, new RegExp(r.check.replace('.', '\\.')));
      assert.ok(gated(await getNode(bad)));
      assert.equal(condition(na, 'Stalled')!.reason, 'EvidenceRefused');
      const health = await luaHealth('charts/attestor/health/nodeattestation.lua', na);
      assert.equal(health.status, 'Degraded');
      assert.match(health.message, new RegExp(`^EvidenceRefused: .*${r.check.replace('.', '\\.')}`));
      await waitFor(
        async () =>
          (
            await core.listNamespacedEvent({
              namespace: 'default',
              fieldSelector: `involvedObject.name=${bad},reason=AttestationRefused`,
            })
          ).items.some((e) => e.message?.includes(r.check)),
        { description: 'AttestationRefused event' },
      );
    });
  }

  it('binds each GPU UUID to its device: evidence swapped between the UUIDs is refused, and the binding outlives the refusal', async () => {
    const swap = await gpuNode(node('swap'));
    const uuids = [`${swap}-GPU-0`, `${swap}-GPU-1`];
    const honest = await agent(swap, { gpus: new SimulatedGpuControl(platform, { uuids }) });
    assert.equal((await honest.agent.attestOnce()).accepted, true);
    const bound = (await attestation(swap)).status!.gpuBindings!;
    assert.equal(bound.length, 2);

    // The same two GPUs, each one's evidence reported under the other's UUID.
    const { agent: swapped } = await agent(swap, {
      gpus: relabelled(new SimulatedGpuControl(platform, { uuids }), [uuids[1]!, uuids[0]!]),
    });
    const outcome = await swapped.attestOnce();
    assert.equal(outcome.accepted, false);
    assert.ok(
      !outcome.accepted &&
        outcome.reasons.some((r) => r.includes('[node.gpu.uuid]') && r.includes('was attested as device')),
      JSON.stringify(outcome),
    );
    const refused = await attestation(swap);
    assert.equal(condition(refused, 'Attested')!.status, 'False');
    assert.deepEqual(refused.status!.gpuBindings, bound, 'a refusal does not wipe the bindings');

    const again = await agent(swap, { gpus: new SimulatedGpuControl(platform, { uuids }) });
    assert.equal((await again.agent.attestOnce()).accepted, true);
  });

  it("answers a nonce issued to another node, a replayed nonce and a malformed request with 4xx, and leaves the node's verdict as it is", async () => {
    const good = await gpuNode(node('nonce-good'));
    await attested(good);
    const replay = await gpuNode(node('nonce-replay'));
    const goodClient = await client(good);
    const replayClient = await client(replay);
    const before = await attestation(good);
    assert.equal(condition(before, 'Attested')!.status, 'True');
    const agentKey = {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    };
    const request = (nonce: string) => ({ nonce, agentKey, cvm: { platform: 'snp', report: '' }, gpus: [] });
    // Another node presents the good node's nonce: refused, and the nonce stays the good node's.
    const issuedToGood = (await goodClient.post<NonceResponse>(NONCE_PATH, {})).body.nonce;
    await assert.rejects(
      replayClient.post(ATTEST_PATH, request(issuedToGood)),
      new RegExp(`HTTP 409: \\[coordinator\\.nonce\\] the nonce was issued to node ${good}, not ${replay}`),
    );
    // The good node's own agent sends garbage: a malformed request and an unknown nonce.
    await assert.rejects(
      goodClient.post(ATTEST_PATH, { nonce: 'not hex' }),
      /HTTP 400: \[coordinator\.request\] nonce/,
    );
    await assert.rejects(
      goodClient.post(ATTEST_PATH, request('ab'.repeat(32))),
      /HTTP 409: \[coordinator\.nonce\] unknown nonce/,
    );
    const after = await attestation(good);
    assert.equal(
      after.metadata.resourceVersion,
      before.metadata.resourceVersion,
      'the NodeAttestation was not written',
    );
    assert.ok(schedulable(await getNode(good)), 'the node stays schedulable');
    // A replay of a used nonce.
    const own = (await replayClient.post<NonceResponse>(NONCE_PATH, {})).body.nonce;
    assert.equal(
      (await replayClient.post<AttestResponse>(ATTEST_PATH, request(own), [403])).status,
      403,
      'appraised and refused once',
    );
    await assert.rejects(
      replayClient.post(ATTEST_PATH, request(own)),
      /HTTP 409: \[coordinator\.nonce\] unknown nonce: not issued by this Coordinator, already used, or expired/,
    );
  });

  it('refuses GPUs that are attested for another node, naming that node, and the other node keeps them', async () => {
    const owner = await gpuNode(node('owner'));
    await attested(owner);
    const thief = await gpuNode(node('thief'));
    const stolen = new SimulatedGpuControl(platform, { uuids: [`${owner}-GPU-0`, `${owner}-GPU-1`] });
    const { agent: a } = await agent(thief, { gpus: stolen });
    const outcome = await a.attestOnce();
    assert.equal(outcome.accepted, false);
    const inUse = !outcome.accepted ? outcome.reasons.filter((r) => r.startsWith('[coordinator.evidence.in-use]')) : [];
    assert.ok(
      inUse.some((r) => r.includes(`GPU ${owner}-GPU-0`) && r.includes(`node ${owner}`)),
      inUse.join('\n'),
    );
    assert.ok(!stolen.calls.includes('nvmlSystemSetConfComputeGpusReadyState 1'));
    assert.equal(condition(await attestation(owner), 'Attested')!.status, 'True');
    assert.ok(
      (await attestation(owner)).status!.gpus!.every((g) => /^[0-9a-f]+$/.test(g.deviceId ?? '')),
      'device identities recorded',
    );
    assert.ok(schedulable(await getNode(owner)));
  });

  describe('through real FFI: the koffi NVML binding against the stub libnvidia-ml.so, which logs every call', () => {
    let library: string;
    before(async () => {
      library = await buildNvmlStub();
    });
    // Each test has a node and a stub configuration of its own ($NVML_STUB_DIR points at it).
    let stub: NvmlStubDir | undefined;
    async function stubFor(name: string): Promise<{ stub: NvmlStubDir; uuids: string[] }> {
      const uuids = [`${name}-GPU-0`, `${name}-GPU-1`];
      stub = await NvmlStubDir.create({ gpus: uuids.map((uuid) => ({ uuid })), ready: false });
      stub.use();
      return { stub, uuids };
    }
    afterEach(async () => {
      await stub?.remove();
      stub = undefined;
    });

    it('never calls nvmlSystemSetConfComputeGpusReadyState when the evidence is refused', async () => {
      const name = await gpuNode(node('nvml-refused'));
      const { stub, uuids } = await stubFor(name);
      // The stub answers with a signed report for another nonce: the signature no longer covers it.
      const old = await platform.gpu.gpu(uuids[0]!, { nonce: new Uint8Array(32) });
      for (const i of [0, 1]) {
        await writeFile(join(stub.path, `gpu${i}`, 'report.bin'), old.report);
        await writeFile(join(stub.path, `gpu${i}`, 'certchain.pem'), old.certificateChainPem);
        await writeFile(join(stub.path, `gpu${i}`, 'splice-nonce'), '');
      }
      const gpus = await NvmlGpuControl.open({ libraryPath: library });
      try {
        const { agent: a } = await agent(name, { gpus });
        const outcome = await a.attestOnce();
        assert.equal(outcome.accepted, false);
      } finally {
        await gpus.close();
      }
      const calls = await stub.apiCalls();
      assert.ok(
        calls.some((c) => c.startsWith('nvmlDeviceGetConfComputeGpuAttestationReport 1 ')),
        calls.join('\n'),
      );
      assert.ok(!calls.some((c) => c.startsWith('nvmlSystemSetConfComputeGpusReadyState')), calls.join('\n'));
      assert.equal(await stub.readyFile(), '0');
    });

    it('activates the GPUs through NVML only after the grant, and reads the ready state back', async () => {
      const name = await gpuNode(node('nvml'));
      const { stub, uuids } = await stubFor(name);
      const nvml = await NvmlGpuControl.open({ libraryPath: library });
      // The "hardware": for the nonce NVML is asked about, the stub returns a report signed for it.
      const gpus: GpuControl = {
        kind: 'nvml-stub',
        listGpus: () => nvml.listGpus(),
        confComputeState: () => nvml.confComputeState(),
        collect: async (nonce) => {
          for (const [i, uuid] of uuids.entries()) {
            const g = await platform.gpu.gpu(uuid, {
              nonce,
              driverVersion: '550.90.07',
              vbiosVersion: '96.00.9F.00.01',
            });
            await stub.setReportForNonce(i, nonce, g.report);
            await writeFile(join(stub.path, `gpu${i}`, 'certchain.pem'), g.certificateChainPem);
          }
          return nvml.collect(nonce);
        },
        setGpusReady: (ready) => nvml.setGpusReady(ready),
        gpusReady: () => nvml.gpusReady(),
        close: () => nvml.close(),
      };
      try {
        const { agent: a } = await agent(name, { gpus });
        const outcome = await a.attestOnce();
        assert.equal(outcome.accepted && outcome.activated, true, JSON.stringify(outcome));
      } finally {
        await gpus.close();
      }
      const calls = await stub.apiCalls();
      const report = calls.findIndex((c) => c.startsWith('nvmlDeviceGetConfComputeGpuAttestationReport 1 '));
      const activate = calls.indexOf('nvmlSystemSetConfComputeGpusReadyState 1');
      assert.ok(report >= 0 && activate > report, calls.join('\n'));
      assert.ok(
        calls.slice(activate + 1).some((c) => c.startsWith('nvmlSystemGetConfComputeGpusReadyState')),
        'read back after activation',
      );
      assert.equal(await stub.readyFile(), '1');
      await waitFor(async () => schedulable(await getNode(name)), {
        description: 'node schedulable after FFI activation',
      });
    });
  });

  it('un-gates a node when its attestation expires', async () => {
    const expiring = await gpuNode(node('expiry'), { gpus: 1 });
    await waitFor(async () => gated(await getNode(expiring)), { description: 'new node tainted' });
    await writeCurrentAttestation(kc, expiring, operator.informers.manifests.get(manifestName)!.status!.hash!, 1, 4000);
    await waitFor(async () => schedulable(await getNode(expiring)), { description: 'schedulable while current' });
    const expiry = new Date((await attestation(expiring)).status!.expiresAt!).getTime();
    await waitFor(async () => gated(await getNode(expiring)), {
      timeoutMs: 20_000,
      description: 'gated again after expiry',
    });
    assert.ok(Date.now() >= expiry, 'not before the expiry');
    // Nothing else writes the status at expiry: the node gating controller marks it Stalled.
    const expired = await waitFor(
      async () => {
        const na = await attestation(expiring);
        return condition(na, 'Stalled')?.reason === 'Expired' ? na : undefined;
      },
      { description: 'NodeAttestation Stalled (Expired)' },
    );
    assert.equal(condition(expired, 'Ready')!.status, 'False');
    assert.match(condition(expired, 'Ready')!.message, /expired at .* has not attested again/);
    await waitFor(
      async () =>
        (
          await core.listNamespacedEvent({
            namespace: 'default',
            fieldSelector: `involvedObject.name=${expiring},reason=GPUsGated`,
          })
        ).items.some((e) => e.message?.startsWith('Expired')),
      { description: 'GPUsGated event says Expired' },
    );
  });

  it('exports how many GPU nodes are attested and why the others are gated, the token answers and the rollout', async () => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${operator.manager.probePort}/metrics`)).text();
    const before = await scrape();
    // One node of each: attested, refused, and new (no evidence yet).
    const current = await gpuNode(node('metrics-current'));
    await attested(current);
    const refused = await gpuNode(node('metrics-refused'));
    const { agent: a } = await agent(refused, { measurement: 'ee'.repeat(48) });
    assert.equal((await a.attestOnce()).accepted, false);
    const fresh = await gpuNode(node('metrics-new'));
    await waitFor(async () => gated(await getNode(fresh)), { description: `${fresh} tainted` });
    // A token the API server does not accept, from curl: 401 after one TokenReview, counted as refused.
    const ca = join(await mkdtemp(join(tmpdir(), 'coordinator-ca-')), 'ca.crt');
    await writeFile(ca, cp.caPem);
    const refusedCode = await new Promise<string>((resolve, reject) =>
      execFile(
        'curl',
        [
          '-sS',
          '--max-time',
          '10',
          '--cacert',
          ca,
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-X',
          'POST',
          '-H',
          'Authorization: Bearer not-a-token',
          '-H',
          'Content-Type: application/json',
          '-d',
          '{}',
          `${coordinatorUrl}${NONCE_PATH}`,
        ],
        (err, out) => (err ? reject(err) : resolve(out)),
      ),
    );
    assert.equal(refusedCode, '401');
    const text = await scrape();
    assert.match(text, /attestor_gpu_nodes\{state="Current"\} [1-9]/);
    assert.match(text, /attestor_gpu_nodes\{state="NotAttested"\} [1-9]/);
    assert.match(text, /attestor_coordinator_attestations_total\{result="refused"\} [1-9]/);
    // The agents' tokens (audience attestor): each agent's first request a TokenReview, its next
    // ones within the TTL answered from the cache; curl's a refusal. No token is ever a label.
    const reviews = (metrics: string, outcome: string) =>
      value(metrics, 'attestor_token_reviews_total', { audience: 'attestor', outcome }) ?? 0;
    for (const outcome of ['reviewed', 'cached', 'refused'])
      assert.ok(reviews(text, outcome) > reviews(before, outcome), `more ${outcome} token answers`);
    assert.doesNotMatch(text, /not-a-token/);
    // The leader's rollout progress of the active Manifest: its activation or a later rise, not in the future.
    const progress = value(text, 'attestor_manifest_rollout_last_progress_timestamp_seconds', {
      manifest: manifestName,
    });
    assert.ok(progress !== undefined && progress > 0 && progress <= Date.now() / 1000, `progress ${progress}`);
  });

  it("exports each node's attestation expiry, refusals by check ID, the collateral's nextUpdate and its API calls", async () => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${operator.manager.probePort}/metrics`)).text();
    // A TDX node: its appraisal uses the simulated platform's TCB info, QE identity and CRLs, and OCSP answers for its GPUs.
    const tdx = await gpuNode(node('observe-tdx'));
    await attested(tdx, 'tdx');
    const expiresAt = (await attestation(tdx)).status!.expiresAt!;
    const afterAccept = await scrape();
    assert.equal(
      value(afterAccept, 'attestor_node_attestation_expiry_timestamp_seconds', { node: tdx }),
      Date.parse(expiresAt) / 1000,
    );
    const tcbInfo = JSON.parse(String(platform.collateral.tdx!.tcbInfo)).tcbInfo as {
      fmspc: string;
      nextUpdate: string;
    };
    assert.equal(
      value(afterAccept, 'attestor_collateral_next_update_timestamp_seconds', {
        kind: 'tdx-tcb-info',
        item: tcbInfo.fmspc.toLowerCase(),
      }),
      Date.parse(tcbInfo.nextUpdate) / 1000,
    );
    for (const kind of ['tdx-qe-identity', 'tdx-pck-crl', 'tdx-root-crl', 'nvidia-ocsp'])
      assert.ok(
        matching(afterAccept, 'attestor_collateral_next_update_timestamp_seconds', { kind }).some(
          (s) => s.value * 1000 > Date.now(),
        ),
        `a future nextUpdate for ${kind}`,
      );

    // A refusal counts once under each check ID its reasons name.
    const refused = await gpuNode(node('observe-refused'));
    const { agent: a } = await agent(refused, { measurement: 'ee'.repeat(48) });
    const before = await scrape();
    const outcome = await a.attestOnce();
    assert.equal(outcome.accepted, false);
    const checks = new Set((outcome.accepted ? [] : outcome.reasons).map((r) => /^\[([^\]]+)\]/.exec(r)?.[1]));
    assert.ok(checks.size > 0 && !checks.has(undefined), JSON.stringify(outcome));
    const after = await scrape();
    for (const check of checks) {
      const count = (text: string) =>
        value(text, 'attestor_coordinator_refusals_total', { check: check!, subject: 'node' }) ?? 0;
      assert.equal(count(after) - count(before), 1, `refusals of ${check}`);
    }
    assert.equal(
      value(after, 'attestor_node_attestation_expiry_timestamp_seconds', { node: refused }),
      undefined,
      'a node never attested has no expiry',
    );

    // The operator's own API calls, under client-go's names, for the API server it talks to.
    const host = new URL(kc.getCurrentCluster()!.server).host;
    assert.ok((value(after, 'rest_client_requests_total', { code: '200', method: 'GET', host }) ?? 0) > 0);
    assert.ok((value(after, 'rest_client_requests_total', { code: '201', method: 'POST', host }) ?? 0) > 0);
    assert.ok((value(after, 'rest_client_request_duration_seconds_count', { verb: 'PATCH', host }) ?? 0) > 0);
  });

  it('serves /metrics on the probe port only, not on the Coordinator API port', async () => {
    const status = (url: string, ...args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(
          'curl',
          ['-sS', '--max-time', '10', ...args, '-o', '/dev/null', '-w', '%{http_code}', url],
          (err, out) => (err ? reject(err) : resolve(out)),
        ),
      );
    const ca = join(await mkdtemp(join(tmpdir(), 'coordinator-ca-')), 'ca.crt');
    await writeFile(ca, cp.caPem);
    assert.equal(await status(`${coordinatorUrl}/metrics`, '--cacert', ca), '404');
    assert.equal(await status(`http://127.0.0.1:${operator.manager.probePort}/metrics`), '200');
  });

  it('refuses callers that are not node agents', async () => {
    const anonymous = new CoordinatorClient(coordinatorUrl, cp.caPem, async () => 'not-a-token');
    clients.push(anonymous);
    await assert.rejects(anonymous.post(NONCE_PATH, {}), /HTTP 401/);
  });

  it('un-gates a node when a new active Manifest no longer matches its evidence, and keeps nodes that still match', async () => {
    const snp = await gpuNode(node('change-snp'));
    const tdx = await gpuNode(node('change-tdx'));
    await attested(snp);
    await attested(tdx, 'tdx');
    const newer = uniqueName('flow-newer');
    const hash = (name: string) => operator.informers.manifests.get(name)?.status?.hash;
    // Only the TDX reference values change: the SNP node must lose its attestation, the TDX node keep it.
    const spec = manifestSpec('99'.repeat(48));
    await waitFor(
      () =>
        Date.now() - new Date(operator.informers.manifests.get(manifestName)!.metadata.creationTimestamp!).getTime() >
          1000 || undefined,
      { timeoutMs: 5000 },
    );
    await custom.createClusterCustomObject({
      ...group,
      plural: 'manifests',
      body: { apiVersion: 'attestor.dev/v1alpha1', kind: 'Manifest', metadata: { name: newer }, spec },
    });
    try {
      await activeManifestHash(operator, newer, { description: 'newer Manifest active' });
      const na = await waitFor(
        async () => {
          const current = await attestation(snp);
          return condition(current, 'Attested')?.reason === 'ManifestChanged' ? current : undefined;
        },
        { description: 'SNP node loses its attestation' },
      );
      assert.match(condition(na, 'Attested')!.message, /snp\.measurement/);
      await waitFor(async () => gated(await getNode(snp)), { description: 'SNP node tainted again' });
      await waitFor(async () => (await attestation(tdx)).status?.manifestHash === hash(newer), {
        description: 'TDX node re-appraised',
      });
      assert.equal(condition(await attestation(tdx), 'Attested')!.status, 'True');
      // Between the new Manifest becoming active and the re-appraisal the node is closed (fail closed,
      // reason ManifestChanged); it opens again once its attestation names the new hash.
      await waitFor(async () => schedulable(await getNode(tdx)), {
        description: 'the TDX node still meets the new Manifest and is open again',
      });
    } finally {
      await custom.deleteClusterCustomObject({ ...group, plural: 'manifests', name: newer });
      // The other tests attest against this file's Manifest: active again before they run.
      await activeManifestHash(operator, manifestName, { description: 'flow Manifest active again' });
    }
  });
});

/** A GPU control that reports each GPU's evidence under another UUID (the evidence itself untouched). */
function relabelled(inner: SimulatedGpuControl, uuids: readonly string[]): GpuControl {
  return {
    kind: 'relabelled',
    listGpus: async () => (await inner.listGpus()).map((g, i) => ({ ...g, uuid: uuids[i]! })),
    confComputeState: () => inner.confComputeState(),
    collect: async (nonce) => (await inner.collect(nonce)).map((g, i) => ({ ...g, uuid: uuids[i]! })),
    setGpusReady: (ready) => inner.setGpusReady(ready),
    gpusReady: () => inner.gpusReady(),
    close: () => inner.close(),
  };
}

/** A GPU control whose reports have one signature byte flipped. */
function tampered(inner: SimulatedGpuControl): GpuControl & { calls: string[] } {
  return {
    kind: 'tampered',
    calls: inner.calls,
    listGpus: () => inner.listGpus(),
    confComputeState: () => inner.confComputeState(),
    collect: async (nonce) =>
      (await inner.collect(nonce)).map((g, i) => {
        if (i !== 0) return g;
        const report = new Uint8Array(g.report);
        report[report.length - 5]! ^= 0x01;
        return { ...g, report };
      }),
    setGpusReady: (ready) => inner.setGpusReady(ready),
    gpusReady: () => inner.gpusReady(),
    close: () => inner.close(),
  };
}
