// Workload certificates for pod-CVM AI worker pods on the real control plane: the operator adds
// `attestor init` to the pods of a pod-CVM AIWorker, the pods run on kwok nodes, and each pod's
// init runs here (kwok runs no containers) with the pod's own projected token (TokenRequest,
// TokenReview), a simulated pod VM and simulated GPUs. What is checked: a certificate only for
// evidence that meets the Manifest's pod entries and carries the pod's own policy; attestedReplicas
// counts the pods holding a current one; a Manifest change leaves old certificates unchained and
// renewal gets one from the new mesh CA; an AIWorker whose model the Manifest does not enable is
// held at zero; and no key shows up in a Kubernetes object or a log line.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_POD_MEASUREMENT,
  SIMULATED_POD_MRTD,
  SIMULATED_SNP_MEASUREMENT,
  SimulatedCvmSource,
  SimulatedGpuControl,
  type SimulatedPlatform,
} from '../../src/agent/evidence/simulated.ts';
import { type CertifyOutcome, WorkloadInit } from '../../src/agent/workload-init.ts';
import type { AIWorker } from '../../src/api/aiworker.ts';
import { WORKLOAD_CERTIFICATE_ANNOTATION } from '../../src/api/aiworker-labels.ts';
import { noSecrets } from '../../src/cli/worker-proxy.ts';
import { FIELD_MANAGER } from '../../src/controllers/aiworker/controller.ts';
import { policyHash } from '../../src/controllers/aiworker/policy.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import { requestPodToken } from '../../src/dev/pod-token.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { createLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { CertificateAuthority } from '../../src/pki/certificate-authority.ts';
import { WORKLOAD_AUDIENCE } from '../../src/protocol/workload.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { startWorkerProxy } from '../../src/worker/worker-proxy.ts';
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
const POLICY = 'package agent_policy\n# the workload test pods\ndefault CreateContainerRequest := true\n';
const OTHER_POLICY_HASH = createHash('sha256').update('another workload').digest('hex');
const IMAGE = `registry.example/vllm@sha256:${'e5'.repeat(32)}`;
const INIT_IMAGE = `registry.example/attestor@sha256:${'e6'.repeat(32)}`;
const manifests = { group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' };
const aiWorkers = { group: 'attestor.dev', version: 'v1alpha1', plural: 'aiworkers' };

/** Pod VMs (SNP and TDX), the Coordinator, and (a) node CVMs: both models enabled. */
function manifestSpec(
  runtimeClass: string,
  withNodes: boolean,
  reattestationInterval: string,
  podMeasurement = SIMULATED_POD_MEASUREMENT,
) {
  const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
  return {
    referenceValues: {
      snp: [
        { name: 'pod-vm', role: 'pod', measurements: [podMeasurement], minimumTCB: tcb },
        {
          name: 'coordinator',
          role: 'coordinator',
          measurements: [SIMULATED_COORDINATOR_MEASUREMENT],
          minimumTCB: tcb,
        },
        ...(withNodes
          ? [{ name: 'node-cvm', role: 'node', measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: tcb }]
          : []),
      ],
      tdx: [{ name: 'pod-vm-tdx', role: 'pod', mrTd: [SIMULATED_POD_MRTD] }],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [
      { name: 'workers', hash: policyHash(POLICY), sans: ['llm.example.com'] },
      { name: 'other-workers', hash: OTHER_POLICY_HASH },
      { name: 'coordinator', role: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH },
    ],
    runtimeClasses: [runtimeClass],
    attestation: { reattestationInterval },
    development: { acceptSimulatedEvidence: true },
  };
}

const SECRET_SERVICE_URL = 'https://secret-service.attestor-system.svc:8443';

describe('workload certificates on the control plane (pod-CVM model)', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: RunningOperator;
  let platform: SimulatedPlatform;
  let url = '';
  let log = '';
  const dir = mkdtempSync(join(tmpdir(), 'workload-certificates-'));
  const namespace = uniqueName('pod-cvm');
  const runtimeClass = uniqueName('kata-pod');
  const [manifestA, manifestB, manifestC] = [
    uniqueName('workload-a'),
    uniqueName('workload-b'),
    uniqueName('workload-c'),
  ];
  const nodes = [`${namespace}-gpu-a`, `${namespace}-gpu-b`];
  const inits = new Map<string, WorkloadInit>();
  const podGpus = new Map<string, SimulatedGpuControl>();
  const clients: CoordinatorClient[] = [];

  const activeHash = (name: string) => activeManifestHash(custom, name, { description: `${name} active` });
  const getWorker = async (name: string) =>
    (await custom.getNamespacedCustomObject({ ...aiWorkers, namespace, name })) as AIWorker;
  const workerPods = async (name: string) =>
    (await core.listNamespacedPod({ namespace, labelSelector: `app.kubernetes.io/instance=${name}` })).items.filter(
      (p) => p.spec?.nodeName && !p.metadata?.deletionTimestamp,
    );
  const podEvents = (pod: string, reason: string) => podEventsEventually(core, namespace, pod, reason);

  /** What the pod's `attestor init` does, with this pod VM (a new one each call: a new launch). */
  const podInit = (
    pod: k8s.V1Pod,
    vm: { platform?: 'snp' | 'tdx'; measurement?: string; policyHash?: string } = {},
  ): WorkloadInit => {
    const { name, uid } = pod.metadata as { name: string; uid: string };
    const out = join(dir, name);
    mkdirSync(out, { recursive: true });
    const client = new CoordinatorClient(url, cp.caPem, () =>
      requestPodToken(core, { namespace, name, uid, serviceAccount: pod.spec?.serviceAccountName }, WORKLOAD_AUDIENCE),
    );
    clients.push(client);
    const platformKind = vm.platform ?? 'snp';
    const gpus = new SimulatedGpuControl(platform, { uuids: [`GPU-${uid}`] });
    podGpus.set(name, gpus);
    const init = new WorkloadInit({
      pod: { namespace, name },
      client,
      cvm: new SimulatedCvmSource(platform, {
        platform: platformKind,
        measurement: vm.measurement ?? (platformKind === 'snp' ? SIMULATED_POD_MEASUREMENT : SIMULATED_POD_MRTD),
        policyHash: vm.policyHash ?? policyHash(POLICY),
      }),
      gpus,
      out,
      log: createLogger({ level: 'debug', destination: logSink() }),
    });
    inits.set(name, init);
    return init;
  };
  const logSink = () => {
    const lines = new PassThrough();
    lines.on('data', (chunk) => {
      log += chunk;
    });
    return lines;
  };
  const attested = (name: string, count: number) =>
    waitFor(async () => (await getWorker(name)).status?.attestedReplicas === count, {
      timeoutMs: 30_000,
      description: `AIWorker ${name} with attestedReplicas ${count}`,
    });

  before(async () => {
    cp = await sharedControlPlane();
    const kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    platform = await createSimulatedPlatform();
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await kc
      .makeApiClient(k8s.NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'kata' } });
    for (const node of nodes) await cp.createGpuNode(node, { gpus: 4 });
    await custom.createClusterCustomObject({
      ...manifests,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: manifestA },
        spec: manifestSpec(runtimeClass, true, '1h'),
      },
    });
    const serving = await issueCertificate(cp.certificateAuthority, {
      commonName: 'attestor-coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    operator = await startTestOperator(kc, {
      log: createLogger({ level: 'debug', destination: logSink() }),
      coordinator: localCoordinatorOptions(serving, platform, 'default'),
      workload: {
        initImage: INIT_IMAGE,
        coordinatorUrl: 'https://attestor-coordinator.test.svc:8443',
        coordinatorCaPem: cp.caPem,
        secretServiceUrl: SECRET_SERVICE_URL,
      },
    });
    url = `https://127.0.0.1:${await operator.coordinatorPort}`;
    const hash = await activeHash(manifestA);
    // Manifest A enables the confidential-node model too, so GPU nodes are gated: open them (the
    // node side is attestation-flow.test.ts's), so that the scheduler places the pods.
    for (const node of nodes) await writeCurrentAttestation(kc, node, hash as string, 4);
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
          deploymentModel: 'pod-cvm',
        },
      },
    });
  });
  after(async () => {
    for (const client of clients) await client.close();
    await operator?.stop();
    for (const name of [manifestA, manifestB, manifestC])
      await custom?.deleteClusterCustomObject({ ...manifests, name }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('adds attestor init (pinned image, workload token, memory-backed volume), its attestor init --renew sidecar and the attestor worker-proxy sidecar to the pods, does not select attested nodes, and serves only the sidecar on the Service', async () => {
    const pods = await waitFor(async () => ((await workerPods('llm')).length === 2 ? workerPods('llm') : undefined), {
      description: 'two scheduled pods',
    });
    for (const pod of pods) {
      const init = pod.spec!.initContainers![0]!;
      assert.equal(init.name, 'attestor-init');
      assert.equal(init.image, INIT_IMAGE);
      assert.equal(init.args![0], 'init');
      assert.ok(pod.spec!.volumes!.some((v) => v.emptyDir?.medium === 'Memory'));
      assert.ok(
        pod.spec!.volumes!.some((v) => v.projected?.sources?.[0]?.serviceAccountToken?.audience === WORKLOAD_AUDIENCE),
      );
      assert.equal(pod.spec!.nodeSelector?.['attestor.dev/gpu-attested'], undefined);
      // The worker proxy: a native sidecar after attestor init, the same image, the certificate read-only.
      // The renewer: attestor init --renew, a native sidecar between attestor init and the worker proxy.
      const renew = pod.spec!.initContainers![1]!;
      assert.deepEqual([renew.name, renew.restartPolicy, renew.image], ['attestor-renew', 'Always', INIT_IMAGE]);
      assert.deepEqual(renew.args, [...init.args!, '--renew']);
      assert.equal(renew.resources?.limits?.['nvidia.com/gpu'], undefined, 'no GPUs of its own: the pod counts 1');
      const proxy = pod.spec!.initContainers![2]!;
      assert.equal(proxy.name, 'attestor-worker-proxy');
      assert.equal(proxy.restartPolicy, 'Always');
      assert.equal(proxy.image, INIT_IMAGE);
      assert.equal(proxy.args![0], 'worker-proxy');
      assert.ok(proxy.args!.includes(`--secret-service=${SECRET_SERVICE_URL}`), proxy.args!.join(' '));
      const modelPort = pod.spec!.containers[0]!.ports![0]!.containerPort;
      assert.ok(proxy.args!.includes(`--upstream=http://127.0.0.1:${modelPort}`), proxy.args!.join(' '));
      assert.ok(proxy.volumeMounts!.every((m) => m.readOnly));
    }
    // Clients reach only the worker proxy's TLS port, never the model server's.
    const service = await waitFor(() => core.readNamespacedService({ name: 'llm', namespace }), {
      description: 'Service',
    });
    assert.deepEqual(
      service.spec!.ports!.map((p) => [p.name, p.port, p.targetPort]),
      [['https', 443, 'https']],
    );
    // No certificate yet: the controller writes status 0 (it may not have written any status yet).
    await attested('llm', 0);
  });

  it("retargets a Service an older operator applied at the model server's port to the worker proxy's TLS port", async () => {
    // As the operator before the sidecar applied it: the same field manager, the model server's port.
    await core.patchNamespacedService(
      {
        name: 'llm',
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'llm', namespace },
          spec: { ports: [{ name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP' }] },
        },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply),
    );
    const ports = await waitFor(
      async () => {
        const service = await core.readNamespacedService({ name: 'llm', namespace });
        const list = service.spec!.ports!.map((p) => [p.name, p.port, p.targetPort]);
        return list.length === 1 && list[0]![0] === 'https' ? list : undefined;
      },
      { description: "the Service retargeted at the worker proxy's port" },
    );
    assert.deepEqual(ports, [['https', 443, 'https']]);
  });

  it("certifies a pod whose evidence meets the pod entries and carries its policy, and refuses a node CVM's report and another policy's HOST_DATA", async () => {
    const [first, second] = await workerPods('llm');
    const ok = await podInit(first!).certify();
    assert.ok(ok.certified, JSON.stringify(ok));
    const certFile = join(dir, first!.metadata!.name!, 'cert.pem');
    const { stdout } = await run('openssl', ['x509', '-in', certFile, '-noout', '-text']);
    assert.match(
      stdout,
      /DNS:llm, DNS:llm\.[^,]+, DNS:llm\.[^,]+\.svc, DNS:llm\.[^,]+\.svc\.cluster\.local, DNS:llm\.example\.com/,
    );
    assert.match(stdout, /1\.3\.6\.1\.4\.1\.2147483647\.1\.1/, 'the workload identity extension');
    await attested('llm', 1);
    assert.equal((await podEvents(first!.metadata!.name!, 'WorkloadCertified')).length, 1);
    const annotated = await core.readNamespacedPod({ name: first!.metadata!.name!, namespace });
    assert.equal(annotated.metadata?.annotations?.[WORKLOAD_CERTIFICATE_ANNOTATION], readFileSync(certFile, 'utf8'));

    const nodeReport = (await podInit(second!, { measurement: SIMULATED_SNP_MEASUREMENT }).certify()) as CertifyOutcome;
    assert.equal(nodeReport.certified, false);
    assert.match((nodeReport as { reasons: string[] }).reasons.join('\n'), /\[snp\.measurement\]/);
    const otherPolicy = (await podInit(second!, { policyHash: OTHER_POLICY_HASH }).certify()) as CertifyOutcome;
    assert.equal(otherPolicy.certified, false);
    assert.match((otherPolicy as { reasons: string[] }).reasons.join('\n'), /\[snp\.host-data\]/);
    assert.ok((await podEvents(second!.metadata!.name!, 'WorkloadRefused')).length >= 1);
    assert.equal((await getWorker('llm')).status?.attestedReplicas, 1, 'refusals certify nothing');

    const tdx = await podInit(second!, { platform: 'tdx' }).certify();
    assert.ok(tdx.certified, JSON.stringify(tdx));
    await attested('llm', 2);
  });

  it('after a Manifest change, old certificates no longer chain to the new mesh CA and stop counting; a renewer started on the volume (as the attestor-renew sidecar is) keeps a current certificate, then gets one from the new mesh CA, which the worker proxy then serves, or none once the pod VM no longer complies', async () => {
    const [first] = await workerPods('llm');
    const name = first!.metadata!.name!;
    const oldCert = join(dir, name, 'old-cert.pem');
    await run('cp', [join(dir, name, 'cert.pem'), oldCert]);
    // The worker proxy of the pod, on the volume attestor init wrote; openssl s_client is its client.
    const workerProxy = await startWorkerProxy({
      host: '127.0.0.1',
      port: 0,
      certificateDir: join(dir, name),
      upstream: 'http://127.0.0.1:9',
      secrets: noSecrets,
    });
    const servedCertificate = () =>
      new Promise<string | undefined>((resolve) => {
        const client = execFile(
          'openssl',
          ['s_client', '-connect', `127.0.0.1:${workerProxy.port}`],
          { timeout: 10_000 },
          (_err, stdout) => resolve(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0]),
        );
        client.stdin?.end(); // nothing to send: s_client prints the handshake and exits
      });
    const fingerprint = (pem: string | undefined) => (pem ? new X509Certificate(pem).fingerprint256 : undefined);
    try {
      assert.equal(fingerprint(await servedCertificate()), fingerprint(readFileSync(oldCert, 'utf8')));
      // A renewer started beside a current certificate (the sidecar after attestor init) keeps it
      // until half its life: no second attestation round at pod start.
      const early = new AbortController();
      const keeping = podInit(first!).renew(early.signal, 250);
      try {
        await waitFor(() => log.includes('a current workload certificate is on the volume'), {
          timeoutMs: 10_000,
          description: 'the renewer keeping the certificate it found',
        });
        assert.equal(
          fingerprint(readFileSync(join(dir, name, 'cert.pem'), 'utf8')),
          fingerprint(readFileSync(oldCert, 'utf8')),
        );
      } finally {
        early.abort();
        await keeping;
      }
      await renewUnderNewManifests(name, oldCert, first!, servedCertificate, fingerprint);
    } finally {
      await workerProxy.close();
    }
  });

  /** The rest of the Manifest-change test: Manifest B (renewed, served), then C (refused). */
  async function renewUnderNewManifests(
    name: string,
    oldCert: string,
    first: k8s.V1Pod,
    servedCertificate: () => Promise<string | undefined>,
    fingerprint: (pem: string | undefined) => string | undefined,
  ): Promise<void> {
    // Manifest B: pod-CVM only (no node entries), another interval: a new Manifest, a new mesh CA.
    await custom.createClusterCustomObject({
      ...manifests,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name: manifestB },
        spec: manifestSpec(runtimeClass, false, '2h'),
      },
    });
    const hashB = await activeHash(manifestB);
    const meshCa = await waitFor(
      () => {
        const identity = operator.identity();
        return identity?.history.at(-1)?.manifestHash === hashB ? identity.meshCa : undefined;
      },
      { description: 'the Coordinator following Manifest B' },
    );
    const newCaFile = join(dir, 'new-mesh-ca.pem');
    writeFileSync(newCaFile, meshCa.pem);
    await assert.rejects(
      run('openssl', ['verify', '-partial_chain', '-CAfile', newCaFile, oldCert]),
      'the old certificate does not chain to the new mesh CA',
    );
    await attested('llm', 0);

    // The sidecar is a process of its own: a new WorkloadInit on the volume (the same pod VM), which
    // keeps the certificate it finds there until half its life, but renews at once on a new mesh CA.
    const abort = new AbortController();
    const renewing = podInit(first).renew(abort.signal, 250);
    try {
      await waitFor(() => readFileSync(join(dir, name, 'mesh-ca.pem'), 'utf8') === meshCa.pem, {
        timeoutMs: 30_000,
        description: 'renewal wrote the new mesh CA',
      });
      await waitFor(
        async () =>
          run('openssl', ['verify', '-partial_chain', '-CAfile', newCaFile, join(dir, name, 'cert.pem')]).then(
            (r) => /OK/.test(r.stdout),
            () => false,
          ),
        { timeoutMs: 30_000, description: 'a renewed certificate from the new mesh CA' },
      );
      await attested('llm', 1);
      // The worker proxy now serves the renewed certificate: it chains to the new mesh CA.
      const renewed = readFileSync(join(dir, name, 'cert.pem'), 'utf8');
      await waitFor(async () => fingerprint(await servedCertificate()) === fingerprint(renewed), {
        timeoutMs: 30_000,
        description: 'the worker proxy serving the renewed certificate',
      });
      const servedFile = join(dir, 'served.pem');
      writeFileSync(servedFile, (await servedCertificate())!);
      assert.match((await run('openssl', ['verify', '-partial_chain', '-CAfile', newCaFile, servedFile])).stdout, /OK/);
      assert.equal(await podGpus.get(name)!.gpusReady(), true);

      // Manifest C no longer allows this pod VM's launch measurement: renewal gets no certificate,
      // removes the one it held and sets the GPUs not ready (fail closed).
      await custom.createClusterCustomObject({
        ...manifests,
        body: {
          apiVersion: 'attestor.dev/v1alpha1',
          kind: 'Manifest',
          metadata: { name: manifestC },
          spec: manifestSpec(runtimeClass, false, '2h', 'c2'.repeat(48)),
        },
      });
      await activeHash(manifestC);
      await waitFor(() => !existsSync(join(dir, name, 'cert.pem')), {
        timeoutMs: 30_000,
        description: 'renewal refused under Manifest C: cert.pem removed',
      });
      // init removes cert.pem first, then sets the GPUs not ready.
      await waitFor(async () => (await podGpus.get(name)!.gpusReady()) === false, {
        timeoutMs: 30_000,
        description: 'GPUs set not ready',
      });
      await attested('llm', 0);
      assert.ok((await podEvents(name, 'WorkloadRefused')).length >= 1);
    } finally {
      abort.abort();
      await renewing;
    }
  }

  it('holds an AIWorker whose deployment model the active Manifest does not enable at zero replicas, saying why', async () => {
    await custom.createNamespacedCustomObject({
      ...aiWorkers,
      namespace,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'AIWorker',
        metadata: { name: 'on-nodes', namespace },
        spec: {
          image: IMAGE,
          model: 'm',
          replicas: 1,
          runtimeClassName: runtimeClass,
          policy: { inline: POLICY },
          deploymentModel: 'confidential-node',
        },
      },
    });
    const condition = await waitFor(
      async () =>
        (await getWorker('on-nodes')).status?.conditions?.find(
          (c) => c.type === 'PolicyCompliant' && c.reason === 'DeploymentModelNotEnabled',
        ),
      { description: 'PolicyCompliant False (DeploymentModelNotEnabled)' },
    );
    assert.equal(condition.status, 'False');
    assert.match(condition.message, /confidential-node is not enabled by Manifest/);
    const deployment = await cp
      .kubeConfig()
      .makeApiClient(k8s.AppsV1Api)
      .readNamespacedDeployment({ name: 'on-nodes', namespace });
    assert.equal(deployment.spec?.replicas, 0);
  });

  it("puts neither the pods' keys nor the mesh CA's key in any Kubernetes object or log line", async () => {
    const secrets: string[] = [];
    for (const name of inits.keys()) {
      try {
        const pem = readFileSync(join(dir, name, 'key.pem'), 'utf8');
        secrets.push(...secretEncodings(createPrivateKey(pem)));
      } catch {
        // a pod whose init never got as far as its key
      }
    }
    const meshCa = operator.identity()!.meshCa!;
    secrets.push(...secretEncodings(CertificateAuthority.privateKeyForTests(meshCa)));
    assert.ok(secrets.length >= 10);
    const everything = await everyListableObject(cp.kubeconfigPath);
    assert.ok(everything.includes(WORKLOAD_CERTIFICATE_ANNOTATION), 'the search covers the pods');
    for (const secret of secrets) {
      assert.ok(!everything.includes(secret), 'a key in a Kubernetes object');
      assert.ok(!log.includes(secret), 'a key in a log line');
    }
  });
});
