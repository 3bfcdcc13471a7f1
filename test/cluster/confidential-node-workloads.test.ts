// Workload certificates for confidential-node AI worker pods on the real control plane: the node
// agents run here with simulated CVM and GPU evidence (as in attestation-flow.test.ts) and serve
// their countersigning endpoint; each pod's `attestor init --confidential-node` runs here too
// (kwok runs no containers) with the pod's own projected tokens (TokenRequest, TokenReview). What
// is checked: a pod on an attested node gets a certificate whose extension says confidential-node;
// a pod on an unattested node gets none, even with a forged NodeAttestation; a countersignature by
// another node's agent is refused; an agent refuses a token for another pod; renewal follows a
// Manifest change and yields nothing once the node is no longer attested; the certificate carries
// no key material of the agent; and no key shows up in a Kubernetes object or a log line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import * as x509 from '@peculiar/x509';
import { NodeAgent } from '../../src/agent/agent.ts';
import { createAgentKey } from '../../src/agent/agent-key.ts';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import { type RunningCountersignServer, startCountersignServer } from '../../src/agent/countersign-server.ts';
import { Countersigner } from '../../src/agent/countersigner.ts';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_SNP_MEASUREMENT,
  SimulatedCvmSource,
  SimulatedGpuControl,
  type SimulatedPlatform,
} from '../../src/agent/evidence/simulated.ts';
import { type CertifyOutcome, WorkloadInit } from '../../src/agent/workload-init.ts';
import type { AIWorker } from '../../src/api/aiworker.ts';
import { WORKLOAD_CERTIFICATE_ANNOTATION } from '../../src/api/aiworker-labels.ts';
import { GPU_ATTESTED_LABEL } from '../../src/api/node-gating.ts';
import { policyHash } from '../../src/controllers/aiworker/policy.ts';
import { TokenReviewWorkloadAuthenticator } from '../../src/coordinator/workload-auth.ts';
import { ApiWorkloadPods } from '../../src/coordinator/workload-pods.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../../src/dev/agent-identity.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import { requestPodToken } from '../../src/dev/pod-token.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { createLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { CertificateAuthority } from '../../src/pki/certificate-authority.ts';
import {
  COUNTERSIGN_PATH,
  NODE_AGENT_AUDIENCE,
  signProof,
  WORKLOAD_COUNTERSIGNED_PATH,
} from '../../src/protocol/countersignature.ts';
import type { NonceResponse } from '../../src/protocol/messages.ts';
import {
  WORKLOAD_AUDIENCE,
  WORKLOAD_NONCE_PATH,
  type WorkloadCertificateResponse,
} from '../../src/protocol/workload.ts';
import { readWorkloadIdentity } from '../../src/protocol/workload-certificate.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import {
  activeManifestHash,
  podEventsEventually,
  sharedControlPlane,
  startTestOperator,
  uniqueName,
  writeCurrentAttestation,
} from '../harness/cluster.ts';
import { everyListableObject, secretEncodings } from '../harness/plaintext-search.ts';

const run = promisify(execFile);
const POLICY = 'package agent_policy\n# the confidential-node test pods\ndefault CreateContainerRequest := true\n';
const IMAGE = `registry.example/vllm@sha256:${'f5'.repeat(32)}`;
const INIT_IMAGE = `registry.example/attestor@sha256:${'f6'.repeat(32)}`;
const manifests = { group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' };
const aiWorkers = { group: 'attestor.dev', version: 'v1alpha1', plural: 'aiworkers' };
/** Long enough for a machine shared with other test runs. */
const SLOW = 90_000;

/** Node CVMs and the Coordinator, no pod VMs: the confidential-node model only. */
function manifestSpec(
  runtimeClass: string,
  reattestationInterval: string,
  nodeMeasurement = SIMULATED_SNP_MEASUREMENT,
) {
  const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
  return {
    referenceValues: {
      snp: [
        { name: 'node-cvm', role: 'node', measurements: [nodeMeasurement], minimumTCB: tcb },
        {
          name: 'coordinator',
          role: 'coordinator',
          measurements: [SIMULATED_COORDINATOR_MEASUREMENT],
          minimumTCB: tcb,
        },
      ],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [
      { name: 'workers', hash: policyHash(POLICY), sans: ['llm.example.com'] },
      { name: 'coordinator', role: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH },
    ],
    runtimeClasses: [runtimeClass],
    attestation: { reattestationInterval },
    development: { acceptSimulatedEvidence: true },
  };
}

describe('workload certificates on the control plane (confidential-node model)', function () {
  this.timeout(300_000);
  let cp: ControlPlane;
  let kc: k8s.KubeConfig;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: RunningOperator;
  let platform: SimulatedPlatform;
  let url = '';
  let log = '';
  const dir = mkdtempSync(join(tmpdir(), 'confidential-node-workloads-'));
  const namespace = uniqueName('cnode');
  const runtimeClass = uniqueName('cnode-rc');
  const [manifestA, manifestB, manifestC] = [uniqueName('cnode-a'), uniqueName('cnode-b'), uniqueName('cnode-c')];
  const [nodeX, nodeY, nodeUnattested] = [`${namespace}-x`, `${namespace}-y`, `${namespace}-unattested`];
  const agents = new Map<string, { agent: NodeAgent; server: RunningCountersignServer }>();
  const inits = new Map<string, WorkloadInit>();
  const clients: CoordinatorClient[] = [];
  const abort = new AbortController();
  const running: Promise<void>[] = [];

  const logSink = () => {
    const lines = new PassThrough();
    lines.on('data', (chunk) => {
      log += chunk;
    });
    return lines;
  };
  const activeHash = (name: string) =>
    activeManifestHash(custom, name, { timeoutMs: SLOW, description: `${name} active` });
  const getWorker = async (name: string) =>
    (await custom.getNamespacedCustomObject({ ...aiWorkers, namespace, name })) as AIWorker;
  const workerPods = async () =>
    (await core.listNamespacedPod({ namespace, labelSelector: 'app.kubernetes.io/instance=llm' })).items.filter(
      (p) => p.spec?.nodeName && !p.metadata?.deletionTimestamp && !p.metadata?.labels?.stray,
    );
  const podEvents = (pod: string, reason: string) => podEventsEventually(core, namespace, pod, reason);
  const attested = (count: number) =>
    waitFor(async () => (await getWorker('llm')).status?.attestedReplicas === count, {
      timeoutMs: SLOW,
      description: `AIWorker llm with attestedReplicas ${count}`,
    });
  /** A token bound to the pod, for an audience. */
  const podToken = (pod: k8s.V1Pod, audience: string) => () => {
    const { name, uid } = pod.metadata as { name: string; uid: string };
    return requestPodToken(core, { namespace, name, uid, serviceAccount: pod.spec?.serviceAccountName }, audience);
  };
  const coordinatorClient = (pod: k8s.V1Pod) => {
    const client = new CoordinatorClient(url, cp.caPem, podToken(pod, WORKLOAD_AUDIENCE));
    clients.push(client);
    return client;
  };
  const agentUrl = (node: string) => `http://127.0.0.1:${agents.get(node)?.server.port ?? 9}`;

  /** What the pod's `attestor init --confidential-node` does, against the agent of `node` (its own by default). */
  const podInit = (pod: k8s.V1Pod, node = pod.spec!.nodeName!): WorkloadInit => {
    const name = pod.metadata!.name!;
    const out = join(dir, name);
    mkdirSync(out, { recursive: true });
    const init = new WorkloadInit({
      pod: { namespace, name },
      client: coordinatorClient(pod),
      node: { url: agentUrl(node), token: podToken(pod, NODE_AGENT_AUDIENCE) },
      out,
      log: createLogger({ level: 'debug', destination: logSink() }),
    });
    inits.set(name, init);
    return init;
  };
  /** The agent's endpoint, asked directly with this token. */
  const askAgent = async (node: string, token: string, body: unknown) => {
    const response = await fetch(new URL(COUNTERSIGN_PATH, agentUrl(node)), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { error?: string; countersignature?: string } };
  };
  /**
   * A pod's request to the Coordinator with a countersignature made by `agent` directly (as a
   * compromised agent could, without its endpoint's checks): the pod's own nonce, key and proof.
   */
  const submitCountersignedBy = async (pod: k8s.V1Pod, agent: NodeAgent) => {
    const client = coordinatorClient(pod);
    const key = await createAgentKey();
    const { nonce } = (await client.post<NonceResponse>(WORKLOAD_NONCE_PATH, {})).body;
    const spki = Buffer.from(key.spkiDer).toString('base64url');
    const proof = await signProof(nonce, key.spkiDer, key.privateKey);
    const signed = await agent.countersign(
      {
        namespace,
        pod: pod.metadata!.name!,
        podUid: pod.metadata!.uid!,
        spkiSha256: createHash('sha256').update(key.spkiDer).digest('hex'),
        nonce,
      },
      new Date(),
    );
    assert.ok(signed.ok, 'the agent is attested and signs');
    const { body } = await client.post<WorkloadCertificateResponse>(
      WORKLOAD_COUNTERSIGNED_PATH,
      { nonce, spki, proof, countersignature: signed.countersignature },
      [403],
    );
    return body;
  };

  /** A node agent that attests `node` with simulated evidence, keeps running, and serves its countersigning endpoint. */
  async function startAgent(node: string): Promise<void> {
    const client = new CoordinatorClient(url, cp.caPem, await agentTokenSource(kc, namespace, node));
    clients.push(client);
    const agent = new NodeAgent({
      nodeName: node,
      client,
      cvm: new SimulatedCvmSource(platform, { platform: 'snp', policyHash: policyHash(POLICY) }),
      gpus: new SimulatedGpuControl(platform, { uuids: [`${node}-GPU-0`, `${node}-GPU-1`] }),
      log: createLogger({ level: 'debug', destination: logSink() }),
    });
    const authenticator = new TokenReviewWorkloadAuthenticator(kc, [NODE_AGENT_AUDIENCE]);
    const pods = new ApiWorkloadPods(kc);
    const server = await startCountersignServer({
      host: '127.0.0.1',
      port: 0,
      log: createLogger({ level: 'debug', destination: logSink() }),
      countersigner: new Countersigner({
        node,
        authenticate: (authorization) => authenticator.authenticate(authorization),
        readPod: (ns, name) => pods.read(ns, name),
        sign: (pod, now) => agent.countersign(pod, now),
      }),
    });
    agents.set(node, { agent, server });
    running.push(agent.run(abort.signal));
    await waitFor(async () => (await core.readNode({ name: node })).metadata?.labels?.[GPU_ATTESTED_LABEL] === 'true', {
      timeoutMs: SLOW,
      description: `${node} attested and open`,
    });
  }

  before(async () => {
    cp = await sharedControlPlane();
    kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    platform = await createSimulatedPlatform();
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await ensureAgentServiceAccount(kc, namespace);
    await kc
      .makeApiClient(k8s.NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'kata' } });
    for (const node of [nodeX, nodeY, nodeUnattested]) await cp.createGpuNode(node, { gpus: 2 });
    await custom.createClusterCustomObject({
      ...manifests,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: manifestA },
        spec: manifestSpec(runtimeClass, '1h'),
      },
    });
    const serving = await issueCertificate(cp.certificateAuthority, {
      commonName: 'attestor-coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    operator = await startTestOperator(kc, {
      namespace,
      log: createLogger({ level: 'debug', destination: logSink() }),
      coordinator: localCoordinatorOptions(serving, platform, namespace),
      workload: {
        initImage: INIT_IMAGE,
        coordinatorUrl: 'https://attestor-coordinator.test.svc:8443',
        coordinatorCaPem: cp.caPem,
      },
    });
    url = `https://127.0.0.1:${await operator.coordinatorPort}`;
    await activeHash(manifestA);
    for (const node of [nodeX, nodeY]) await startAgent(node);
    await custom.createNamespacedCustomObject({
      ...aiWorkers,
      namespace,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'AIWorker',
        metadata: { name: 'llm', namespace },
        spec: {
          image: IMAGE,
          model: 'm',
          replicas: 2,
          gpusPerReplica: 1,
          runtimeClassName: runtimeClass,
          policy: { inline: POLICY },
          deploymentModel: 'confidential-node',
        },
      },
    });
  });
  after(async () => {
    abort.abort();
    await Promise.allSettled(running);
    for (const { server } of agents.values()) await server.close();
    for (const client of clients) await client.close();
    await operator?.stop();
    for (const name of [manifestA, manifestB, manifestC])
      await custom?.deleteClusterCustomObject({ ...manifests, name }).catch(() => undefined);
    for (const name of [nodeX, nodeY, nodeUnattested]) await core?.deleteNode({ name }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds attestor init --confidential-node (no GPUs, a token for the node agent), its --renew sidecar and the attestor worker-proxy sidecar to the pods, which select attested nodes', async () => {
    const pods = await waitFor(async () => ((await workerPods()).length === 2 ? workerPods() : undefined), {
      timeoutMs: SLOW,
      description: 'two scheduled pods',
    });
    for (const pod of pods) {
      assert.ok([nodeX, nodeY].includes(pod.spec!.nodeName!), 'on an attested node');
      assert.equal(pod.spec!.nodeSelector?.[GPU_ATTESTED_LABEL], 'true');
      const init = pod.spec!.initContainers![0]!;
      assert.equal(init.name, 'attestor-init');
      assert.equal(init.image, INIT_IMAGE);
      assert.ok(init.args!.includes('--confidential-node'));
      assert.equal(init.resources?.limits?.['nvidia.com/gpu'], undefined, 'the node agent activated the GPUs');
      const renew = pod.spec!.initContainers![1]!;
      assert.deepEqual([renew.name, renew.restartPolicy], ['attestor-renew', 'Always']);
      assert.deepEqual(renew.args, [...init.args!, '--renew'], 'attestor init --confidential-node --renew');
      const proxy = pod.spec!.initContainers![2]!;
      assert.deepEqual([proxy.name, proxy.image, proxy.restartPolicy], ['attestor-worker-proxy', INIT_IMAGE, 'Always']);
      const audiences = pod.spec!.volumes!.flatMap((v) =>
        (v.projected?.sources ?? []).map((s) => s.serviceAccountToken?.audience),
      );
      assert.deepEqual(audiences.sort(), [WORKLOAD_AUDIENCE, NODE_AGENT_AUDIENCE].sort());
    }
    await attested(0); // no certificate yet
  });

  it('certifies a pod on an attested node through its agent: the extension says confidential-node, the certificate holds no key material of the agent', async () => {
    const [first, second] = await workerPods();
    const outcome = await podInit(first!).certify();
    assert.ok(outcome.certified, JSON.stringify(outcome));
    const certFile = join(dir, first!.metadata!.name!, 'cert.pem');
    const { stdout } = await run('openssl', ['x509', '-in', certFile, '-noout', '-text']);
    assert.match(
      stdout,
      /DNS:llm, DNS:llm\.[^,]+, DNS:llm\.[^,]+\.svc, DNS:llm\.[^,]+\.svc\.cluster\.local, DNS:llm\.example\.com/,
    );
    const pem = readFileSync(certFile, 'utf8');
    const certificate = new x509.X509Certificate(pem);
    const identity = readWorkloadIdentity(certificate);
    assert.ok(identity && !('error' in identity), JSON.stringify(identity));
    assert.equal(identity.deploymentModel, 'confidential-node');
    assert.equal(identity.role, 'worker');
    assert.equal(identity.podUid, first!.metadata!.uid);
    assert.equal(identity.policyHash, policyHash(POLICY));
    // The certificate is for the pod's key, and carries nothing of the agent's.
    const podKey = createPublicKey(
      createPrivateKey(readFileSync(join(dir, first!.metadata!.name!, 'key.pem'), 'utf8')),
    );
    assert.ok(Buffer.from(certificate.publicKey.rawData).equals(podKey.export({ format: 'der', type: 'spki' })));
    const der = Buffer.from(certificate.rawData);
    const agentJwk = agents.get(first!.spec!.nodeName!)!.agent.publicJwk as { x: string; y: string };
    for (const coordinate of [agentJwk.x, agentJwk.y])
      assert.equal(der.indexOf(Buffer.from(coordinate, 'base64url')), -1, "the agent's key is not in the certificate");
    assert.equal((await podEvents(first!.metadata!.name!, 'WorkloadCertified')).length, 1);
    const annotated = await core.readNamespacedPod({ name: first!.metadata!.name!, namespace });
    assert.equal(annotated.metadata?.annotations?.[WORKLOAD_CERTIFICATE_ANNOTATION], pem);
    await attested(1);

    const again = await podInit(second!).certify();
    assert.ok(again.certified, JSON.stringify(again));
    await attested(2);
  });

  it("refuses a countersignature by another node's agent, and the agents refuse a token for another pod or audience", async () => {
    const [pod] = await workerPods();
    const own = pod!.spec!.nodeName!;
    const other = own === nodeX ? nodeY : nodeX;
    const refused = await submitCountersignedBy(pod!, agents.get(other)!.agent);
    assert.equal(refused.certified, false);
    assert.match((refused as { reason: string }).reason, /\[workload\.countersignature\]/);
    assert.ok((await podEvents(pod!.metadata!.name!, 'WorkloadRefused')).length >= 1);

    const key = await createAgentKey();
    const nonce = 'ab'.repeat(32);
    const body = {
      nonce,
      spki: Buffer.from(key.spkiDer).toString('base64url'),
      proof: await signProof(nonce, key.spkiDer, key.privateKey),
    };
    // The pod's own agent countersigns for it (the request is well formed) ...
    const ok = await askAgent(own, await podToken(pod!, NODE_AGENT_AUDIENCE)(), body);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    // ... the other node's agent does not: the token names a pod that runs elsewhere.
    const elsewhere = await askAgent(other, await podToken(pod!, NODE_AGENT_AUDIENCE)(), body);
    assert.equal(elsewhere.status, 403);
    assert.match(elsewhere.body.error!, new RegExp(`runs on ${own}, not on node ${other}`));
    // A token for the Coordinator (the workload audience) is not one for the agent.
    const wrongAudience = await askAgent(own, await podToken(pod!, WORKLOAD_AUDIENCE)(), body);
    assert.equal(wrongAudience.status, 401);
    // A proof of possession by another key is refused.
    const stranger = await createAgentKey();
    const foreign = await askAgent(own, await podToken(pod!, NODE_AGENT_AUDIENCE)(), {
      ...body,
      proof: await signProof(nonce, key.spkiDer, stranger.privateKey),
    });
    assert.equal(foreign.status, 403);
  });

  it('gives a pod on an unattested node no certificate, even when its NodeAttestation is forged', async () => {
    const [template] = await workerPods();
    const labels = { ...template!.metadata!.labels };
    delete labels['pod-template-hash'];
    // A pod of the AIWorker on the unattested node, without GPUs (node gating leaves it alone),
    // controlled by something else, so that the ReplicaSet does not adopt it.
    const owner = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'stray-owner' } } });
    const stray = await core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name: 'stray',
          namespace,
          labels: { ...labels, stray: 'true' },
          annotations: template!.metadata!.annotations,
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: 'stray-owner', uid: owner.metadata!.uid!, controller: true },
          ],
        },
        spec: {
          nodeName: nodeUnattested,
          runtimeClassName: runtimeClass,
          automountServiceAccountToken: false,
          containers: [{ name: 'server', image: IMAGE }],
        },
      },
    });
    // No agent of its own node vouches; a (compromised) agent of another node may sign, but names itself.
    const viaOther = await submitCountersignedBy(stray, agents.get(nodeX)!.agent);
    assert.equal(viaOther.certified, false);
    assert.match(
      (viaOther as { reason: string }).reason,
      new RegExp(`\\[workload\\.node\\] node ${nodeUnattested} is not currently attested`),
    );
    // An admin can write a NodeAttestation that looks current; the Coordinator holds no accepted evidence of the node.
    await writeCurrentAttestation(kc, nodeUnattested, (await activeHash(manifestA)) as string, 2);
    const forged = await submitCountersignedBy(stray, agents.get(nodeX)!.agent);
    assert.equal(forged.certified, false);
    assert.match(
      (forged as { reason: string }).reason,
      /\[workload\.node\] this Coordinator holds no accepted evidence/,
    );
    assert.ok((await podEvents('stray', 'WorkloadRefused')).length >= 1);
    await core.deleteNamespacedPod({ name: 'stray', namespace, gracePeriodSeconds: 0 });
    await custom
      .deleteClusterCustomObject({
        group: 'attestor.dev',
        version: 'v1alpha1',
        plural: 'nodeattestations',
        name: nodeUnattested,
      })
      .catch(() => undefined);
  });

  it('renews from the new mesh CA after a Manifest change the node still meets, and yields no certificate once the node is no longer attested', async () => {
    const [pod] = await workerPods();
    const name = pod!.metadata!.name!;
    const oldCa = readFileSync(join(dir, name, 'mesh-ca.pem'), 'utf8');
    const renewal = new AbortController();
    const renewing = inits.get(name)!.renew(renewal.signal, 250);
    try {
      await custom.createClusterCustomObject({
        ...manifests,
        body: {
          apiVersion: 'attestor.dev/v1alpha1',
          kind: 'Manifest',
          metadata: { name: manifestB },
          spec: manifestSpec(runtimeClass, '2h'),
        },
      });
      const hashB = await activeHash(manifestB);
      const meshCa = await waitFor(
        () => {
          const identity = operator.identity();
          return identity?.history.at(-1)?.manifestHash !== undefined && identity.meshCa?.pem !== oldCa
            ? identity.meshCa
            : undefined;
        },
        { timeoutMs: SLOW, description: `the Coordinator following Manifest B (${hashB})` },
      );
      const newCa = new x509.X509Certificate(meshCa.pem);
      // mesh-ca.pem is written before cert.pem: wait for the certificate the new mesh CA signed.
      const renewed = await waitFor(
        async () => {
          if (!existsSync(join(dir, name, 'cert.pem'))) return undefined;
          const cert = new x509.X509Certificate(readFileSync(join(dir, name, 'cert.pem'), 'utf8'));
          return (await cert.verify({ publicKey: newCa.publicKey, signatureOnly: true }).catch(() => false))
            ? cert
            : undefined;
        },
        { timeoutMs: SLOW, description: 'renewal wrote a certificate from the new mesh CA' },
      );
      assert.equal(readFileSync(join(dir, name, 'mesh-ca.pem'), 'utf8'), meshCa.pem);
      assert.equal((readWorkloadIdentity(renewed) as { deploymentModel: string }).deploymentModel, 'confidential-node');

      // Manifest C no longer allows the nodes' launch measurement: the nodes lose their
      // attestation, and renewal gets no certificate (cert.pem removed).
      await custom.createClusterCustomObject({
        ...manifests,
        body: {
          apiVersion: 'attestor.dev/v1alpha1',
          kind: 'Manifest',
          metadata: { name: manifestC },
          spec: manifestSpec(runtimeClass, '2h', 'c3'.repeat(48)),
        },
      });
      await activeHash(manifestC);
      // The new mesh CA alone starts a renewal at once, which may still be certified while the
      // nodes await re-appraisal under C; wait for the refusal that follows, not the first attempt.
      await waitFor(
        () =>
          !existsSync(join(dir, name, 'cert.pem')) &&
          (inits.get(name)!.lastOutcome as CertifyOutcome | undefined)?.certified === false,
        { timeoutMs: SLOW, description: 'renewal refused under Manifest C: cert.pem removed' },
      );
      const last = inits.get(name)!.lastOutcome as CertifyOutcome;
      assert.equal(last.certified, false);
      assert.match((last as { reasons: string[] }).reasons.join('\n'), /\[workload\.(node|pod)\]|node agent refused/);
      await attested(0);
    } finally {
      renewal.abort();
      await renewing;
    }
  });

  it("puts neither the pods' keys nor the mesh CA's key in any Kubernetes object or log line", async () => {
    const secrets: string[] = [];
    for (const name of inits.keys()) {
      const file = join(dir, name, 'key.pem');
      if (existsSync(file)) secrets.push(...secretEncodings(createPrivateKey(readFileSync(file, 'utf8'))));
    }
    const meshCa = operator.identity()!.meshCa!;
    secrets.push(...secretEncodings(CertificateAuthority.privateKeyForTests(meshCa)));
    assert.ok(secrets.length >= 10);
    const everything = await everyListableObject(cp.kubeconfigPath);
    assert.ok(everything.includes('WorkloadCertified'), 'the search covers the Events');
    for (const secret of secrets) {
      assert.ok(!everything.includes(secret), 'a key in a Kubernetes object');
      assert.ok(!log.includes(secret), 'a key in a log line');
    }
  });
});
