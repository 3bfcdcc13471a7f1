// Faults on the agent's side of the flow, on the real control plane (issue 12, faults 3 and 4):
// an agent that dies after the grant and before the read-back (of a first attestation, and of one
// that renews an activation, D250), a read-back that comes after the
// grant expired, and an agent whose clock is minutes away from the Coordinator's. The agents are
// real NodeAgents; the crash is injected at the one place it matters (the read-back is never sent),
// and the hardware is the simulated GPU control, as everywhere else.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import * as jose from 'jose';
import { NodeAgent } from '../../src/agent/agent.ts';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import {
  createSimulatedPlatform,
  SimulatedCvmSource,
  SimulatedGpuControl,
  type SimulatedPlatform,
} from '../../src/agent/evidence/simulated.ts';
import type { NodeAttestation } from '../../src/api/node-attestation.ts';
import { attestationState, GPU_ATTESTED_LABEL, UNATTESTED_TAINT } from '../../src/api/node-gating.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../../src/dev/agent-identity.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { GRANT_RECEIVER_CLOCK_SKEW_SECONDS } from '../../src/protocol/grant.ts';
import { ACTIVATE_PATH, type ActivationResponse, ATTEST_PATH } from '../../src/protocol/messages.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { activeManifestHash, sharedControlPlane, startTestOperator, uniqueName } from '../harness/cluster.ts';
import { simulatedManifestSpec } from '../harness/simulated-manifest.ts';

const POLICY = 'package agent_policy\ndefault CreateContainerRequest := true\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
const group = { group: 'attestor.dev', version: 'v1alpha1' };
/** Short grants, so that waiting for one to expire costs seconds (the default is 120 s). */
const GRANT_TTL_SECONDS = 6;
const SKEW_MS = 5 * 60_000;

/** The agent process dies where this client would have sent the read-back: nothing after it runs. */
class CrashBeforeReadBack extends CoordinatorClient {
  report: string | undefined;
  override async post<T>(path: string, body: unknown, accept: number[] = []): Promise<{ status: number; body: T }> {
    if (path === ACTIVATE_PATH) {
      this.report = (body as { report: string }).report;
      throw new Error('agent killed before the read-back');
    }
    return super.post<T>(path, body, accept);
  }
}

/** Keeps the grant of the last accepted evidence, so that a test can wait for it to expire. */
class GrantWatchingClient extends CoordinatorClient {
  grantExpiresAtMs: number | undefined;
  override async post<T>(path: string, body: unknown, accept: number[] = []): Promise<{ status: number; body: T }> {
    const answer = await super.post<T>(path, body, accept);
    const grant = (answer.body as { grant?: string }).grant;
    if (path === ATTEST_PATH && grant) this.grantExpiresAtMs = jose.decodeJwt(grant).exp! * 1000;
    return answer;
  }
}

/** GPUs whose read-back of the ready state hangs until the test lets it answer (a slow device). */
class SlowReadBackGpus extends SimulatedGpuControl {
  #release: (() => void) | undefined;
  readonly #released = new Promise<void>((resolve) => {
    this.#release = resolve;
  });
  release(): void {
    this.#release!();
  }
  override async gpusReady(): Promise<boolean> {
    await this.#released;
    return super.gpusReady();
  }
}

describe('agent faults: a crash between grant and read-back, a late read-back, clock skew', function () {
  this.timeout(120_000);
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let platform: SimulatedPlatform;
  let operator: RunningOperator;
  let coordinatorUrl: string;
  const ns = uniqueName('attestor-faults');
  const manifestName = uniqueName('faults');
  const createdNodes: string[] = [];
  const clients: CoordinatorClient[] = [];

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
      plural: 'manifests',
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: manifestName },
        spec: simulatedManifestSpec({ policyHash: POLICY_HASH, runtimeClasses: [uniqueName('kata')] }),
      },
    });
    const serving = await issueCertificate(cp.certificateAuthority, {
      commonName: 'attestor-coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    operator = await startTestOperator(kc, {
      namespace: ns,
      coordinator: { ...localCoordinatorOptions(serving, platform, ns), grantTtlSeconds: GRANT_TTL_SECONDS },
    });
    coordinatorUrl = `https://127.0.0.1:${await operator.coordinatorPort}`;
    await activeManifestHash(operator, manifestName, { description: 'faults Manifest active' });
  });
  after(async () => {
    for (const c of clients) await c.close();
    await operator?.stop();
    await custom
      .deleteClusterCustomObject({ ...group, plural: 'manifests', name: manifestName })
      .catch(() => undefined);
    for (const name of createdNodes) await core.deleteNode({ name }).catch(() => undefined);
  });

  async function gpuNode(suffix: string): Promise<string> {
    const name = `${ns}-${suffix}`;
    await cp.createGpuNode(name, { gpus: 2 });
    createdNodes.push(name);
    return name;
  }
  async function client<C extends CoordinatorClient>(
    Kind: new (...args: ConstructorParameters<typeof CoordinatorClient>) => C,
    node: string,
  ): Promise<C> {
    const c = new Kind(coordinatorUrl, cp.caPem, await agentTokenSource(kc, ns, node));
    clients.push(c);
    return c;
  }
  const gpusOf = (node: string) => new SimulatedGpuControl(platform, { uuids: [`${node}-GPU-0`, `${node}-GPU-1`] });
  const agent = (node: string, c: CoordinatorClient, gpus: SimulatedGpuControl, now?: () => Date) =>
    new NodeAgent({
      nodeName: node,
      client: c,
      cvm: new SimulatedCvmSource(platform, { platform: 'snp', policyHash: POLICY_HASH }),
      gpus,
      log: silentLogger,
      ...(now ? { now } : {}),
    });
  const attestation = async (name: string) =>
    (await custom.getClusterCustomObject({ ...group, plural: 'nodeattestations', name })) as NodeAttestation;
  const condition = (na: NodeAttestation, type: string) => na.status?.conditions?.find((c) => c.type === type);
  const gated = (node: k8s.V1Node) =>
    node.metadata?.labels?.[GPU_ATTESTED_LABEL] !== 'true' &&
    (node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key);
  const schedulable = (node: k8s.V1Node) =>
    node.metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true' &&
    !(node.spec?.taints ?? []).some((t) => t.key === UNATTESTED_TAINT.key);
  const activatedGpus = (na: NodeAttestation) => (na.status?.gpus ?? []).filter((g) => g.activated).length;
  /** Waits until the wall clock is past a grant's expiry (the condition is the time itself). */
  const pastExpiry = (expiresAtMs: number) =>
    waitFor(() => Date.now() > expiresAtMs + 1000, {
      timeoutMs: (GRANT_TTL_SECONDS + 10) * 1000,
      description: 'the grant expired',
    });

  it('an agent killed after the grant and before the read-back leaves the node closed; its grant expires unredeemed, and a restarted agent attests again', async () => {
    const node = await gpuNode('crash');
    await waitFor(async () => gated(await core.readNode({ name: node })), { description: `${node} tainted` });
    const gpus = gpusOf(node);
    const crashing = await client(CrashBeforeReadBack, node);
    await assert.rejects(agent(node, crashing, gpus).attestOnce(), /agent killed before the read-back/);
    assert.ok(crashing.report, 'the agent got a grant and set its GPUs ready before it died');
    assert.equal(await gpus.gpusReady(), true, 'the crash came after the local activation');

    // Accepted, but the activation was never read back: not activated, the node stays closed.
    await waitFor(async () => condition(await attestation(node), 'Attested')?.status === 'True', {
      description: `${node} evidence accepted`,
    });
    let status = await attestation(node);
    assert.notEqual(condition(status, 'GPUsActivated')?.status, 'True');
    assert.equal(activatedGpus(status), 0);
    assert.ok(gated(await core.readNode({ name: node })), 'no read-back, no opening');

    // The grant expires. The report the dead agent signed, sent late, is refused for that.
    const grant = jose.decodeJwt((jose.decodeJwt(crashing.report) as { grant: string }).grant);
    assert.equal(grant.exp! - grant.iat!, GRANT_TTL_SECONDS);
    await pastExpiry(grant.exp! * 1000);
    const late = await client(CoordinatorClient, node);
    const { status: code, body } = await late.post<ActivationResponse>(
      ACTIVATE_PATH,
      { report: crashing.report },
      [403],
    );
    assert.equal(code, 403);
    assert.equal(body.activated, false);
    assert.match((body as { reason: string }).reason, /invalid grant: "exp" claim timestamp check failed/);
    status = await attestation(node);
    assert.notEqual(condition(status, 'GPUsActivated')?.status, 'True', 'an expired grant activates nothing');
    assert.equal(activatedGpus(status), 0);
    assert.ok(gated(await core.readNode({ name: node })), 'still closed after the grant expired');

    // The agent restarts (a new process: a new key) on the same GPUs and attests again.
    const restarted = await agent(node, await client(CoordinatorClient, node), gpus).attestOnce();
    assert.deepEqual(
      { accepted: restarted.accepted, activated: restarted.accepted && restarted.activated },
      { accepted: true, activated: true },
      JSON.stringify(restarted),
    );
    await waitFor(async () => schedulable(await core.readNode({ name: node })), { description: `${node} open` });
    assert.equal(activatedGpus(await attestation(node)), 2);
  });

  it('an activated node whose agent attests again stays open throughout, also when the agent dies before the new read-back; the read-back extends the expiry (D250)', async () => {
    const node = await gpuNode('again');
    const gpus = gpusOf(node);
    const first = await agent(node, await client(CoordinatorClient, node), gpus).attestOnce();
    assert.equal(first.accepted && first.activated, true, JSON.stringify(first));
    await waitFor(async () => schedulable(await core.readNode({ name: node })), { description: `${node} open` });
    const opened = await attestation(node);

    // Every version of the NodeAttestation and of the node from here on, as the API server sends them.
    const versions: { attestations: NodeAttestation[]; nodes: k8s.V1Node[] } = { attestations: [], nodes: [] };
    const watch = new k8s.Watch(kc);
    const watches = [
      await watch.watch(
        '/apis/attestor.dev/v1alpha1/nodeattestations',
        { fieldSelector: `metadata.name=${node}`, resourceVersion: opened.metadata.resourceVersion },
        (phase, na: NodeAttestation) => phase === 'MODIFIED' && versions.attestations.push(na),
        () => undefined,
      ),
      await watch.watch(
        '/api/v1/nodes',
        { fieldSelector: `metadata.name=${node}`, resourceVersion: opened.metadata.resourceVersion },
        (phase, n: k8s.V1Node) => phase === 'MODIFIED' && versions.nodes.push(n),
        () => undefined,
      ),
    ];
    // Times in status have second precision: attest again in a later second than the first time.
    await waitFor(() => Date.now() >= Date.parse(opened.status!.attestedAt!) + 1000, {
      description: 'a second after the first verdict',
    });
    try {
      // The agent dies after the grant of its re-attestation: the node stays open on its activation.
      const crashing = await client(CrashBeforeReadBack, node);
      await assert.rejects(agent(node, crashing, gpus).attestOnce(), /agent killed before the read-back/);
      // The Coordinator answered the evidence after it recorded the verdict.
      const renewed = await attestation(node);
      assert.notEqual(renewed.status?.attestedAt, opened.status?.attestedAt, 'the new verdict recorded');
      assert.equal(condition(renewed, 'GPUsActivated')?.status, 'True');
      assert.equal(renewed.status?.expiresAt, opened.status?.expiresAt, 'open until the activation it has expires');
      assert.ok(schedulable(await core.readNode({ name: node })));

      // A restarted agent attests again and reads back: the expiry moves to the new verdict's.
      const again = await agent(node, await client(CoordinatorClient, node), gpus).attestOnce();
      assert.equal(again.accepted && again.activated, true, JSON.stringify(again));
      await waitFor(
        () =>
          versions.attestations.some(
            (na) => Date.parse(na.status?.expiresAt ?? '') > Date.parse(opened.status?.expiresAt ?? ''),
          ),
        { description: 'the expiry extended by the read-back' },
      );
      const hash = (
        (await custom.getClusterCustomObject({ ...group, plural: 'manifests', name: manifestName })) as {
          status: { hash: string };
        }
      ).status.hash;
      for (const na of versions.attestations)
        assert.ok(
          attestationState(na, hash, new Date()).current,
          `a version of the NodeAttestation closes the node: ${JSON.stringify(na.status?.conditions)}`,
        );
      for (const n of versions.nodes) assert.ok(schedulable(n), 'a version of the node is closed');
      assert.ok(versions.attestations.length >= 2, `${versions.attestations.length} versions`);
    } finally {
      for (const w of watches) w.abort();
    }
  });

  it('a read-back that arrives after the grant expired is refused, and the agent sets its GPUs back to not ready', async () => {
    const node = await gpuNode('late');
    const gpus = new SlowReadBackGpus(platform, { uuids: [`${node}-GPU-0`, `${node}-GPU-1`] });
    const watching = await client(GrantWatchingClient, node);
    const round = agent(node, watching, gpus).attestOnce();
    await waitFor(() => watching.grantExpiresAtMs !== undefined, { description: 'the grant issued' });
    await pastExpiry(watching.grantExpiresAtMs!);
    gpus.release();
    const outcome = await round;
    assert.equal(outcome.accepted, true);
    assert.equal(outcome.accepted && outcome.activated, false);
    assert.match(outcome.accepted ? (outcome.reason ?? '') : '', /invalid grant: "exp" claim timestamp check failed/);
    assert.equal(await gpus.gpusReady(), false, 'the GPUs the Coordinator did not record as activated are not ready');
    assert.deepEqual(
      gpus.calls.filter((c) => c.startsWith('nvmlSystemSetConfComputeGpusReadyState')),
      ['nvmlSystemSetConfComputeGpusReadyState 1', 'nvmlSystemSetConfComputeGpusReadyState 0'],
    );
    const status = await attestation(node);
    assert.notEqual(condition(status, 'GPUsActivated')?.status, 'True');
    assert.ok(gated(await core.readNode({ name: node })), 'the node stays closed');
  });

  for (const [name, skewMs] of [
    ['ahead of', SKEW_MS],
    ['behind', -SKEW_MS],
  ] as const) {
    it(`an agent whose clock is 5 minutes ${name} the Coordinator's attests and activates: evidence age and grant expiry run on the Coordinator's clock`, async () => {
      const node = await gpuNode(`skew-${skewMs > 0 ? 'ahead' : 'behind'}`);
      const outcome = await agent(
        node,
        await client(CoordinatorClient, node),
        gpusOf(node),
        () => new Date(Date.now() + skewMs),
      ).attestOnce();
      assert.deepEqual(
        { accepted: outcome.accepted, activated: outcome.accepted && outcome.activated },
        { accepted: true, activated: true },
        JSON.stringify(outcome),
      );
      await waitFor(async () => schedulable(await core.readNode({ name: node })), { description: `${node} open` });
      const status = await attestation(node);
      assert.equal(activatedGpus(status), 2);
      // The attestation's expiry is the Coordinator's reattestation interval from the Coordinator's now, not the agent's.
      const expiresInMs = Date.parse(status.status!.expiresAt!) - Date.now();
      assert.ok(expiresInMs > 50 * 60_000 && expiresInMs <= 60 * 60_000, `expires in ${expiresInMs} ms`);
    });
  }

  it('an agent whose clock is further ahead than the tolerated skew refuses the grant and never touches the GPUs; the node stays closed', async () => {
    const node = await gpuNode('skew-beyond');
    const gpus = gpusOf(node);
    const beyondMs = (GRANT_RECEIVER_CLOCK_SKEW_SECONDS + GRANT_TTL_SECONDS + 60) * 1000;
    const outcome = await agent(
      node,
      await client(CoordinatorClient, node),
      gpus,
      () => new Date(Date.now() + beyondMs),
    ).attestOnce();
    assert.equal(outcome.accepted, true, 'the evidence itself is fine: its age is the Coordinator’s to measure');
    assert.equal(outcome.accepted && outcome.activated, false);
    assert.match(
      outcome.accepted ? (outcome.reason ?? '') : '',
      /grant signature or lifetime: "exp" claim timestamp check failed/,
    );
    assert.deepEqual(
      gpus.calls.filter((c) => c.startsWith('nvmlSystemSetConfComputeGpusReadyState')),
      [],
      'a grant the agent cannot accept leaves the GPUs alone',
    );
    assert.ok(gated(await core.readNode({ name: node })), 'the node stays closed');
  });
});
