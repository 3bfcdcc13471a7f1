// The Coordinator's workload side without a cluster: pods, AIWorkers and the mesh CA are the small
// interfaces it uses, kept in memory; evidence is the simulated platform's (real byte formats,
// real verifiers). A pod is played by `certify`, which does what `attestor init` does. Each case
// changes one thing about a pod that gets a certificate, and says why it must then get none.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import * as x509 from '@peculiar/x509';
import * as jose from 'jose';
import {
  createSimulatedPlatform,
  SIMULATED_POD_MEASUREMENT,
  SIMULATED_POD_MRTD,
  SIMULATED_SNP_MEASUREMENT,
  SimulatedCvmSource,
  SimulatedGpuControl,
  type SimulatedPlatform,
} from '../../../src/agent/evidence/simulated.ts';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import { KATA_POLICY_ANNOTATION } from '../../../src/api/aiworker-labels.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import type { PodCaller } from '../../../src/coordinator/workload-auth.ts';
import { type MeshSource, WorkloadCoordinator } from '../../../src/coordinator/workloads.ts';
import { simulatedCollateral } from '../../../src/dev/local-coordinator.ts';
import { waitFor } from '../../../src/dev/wait.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import type { CertificateAuthority } from '../../../src/pki/certificate-authority.ts';
import { CoordinatorPki } from '../../../src/pki/coordinator-pki.ts';
import { signActivationReport } from '../../../src/protocol/activation-report.ts';
import { encodeEvidenceRequest, reportDataFor } from '../../../src/protocol/evidence-request.ts';
import { transitionChain } from '../../../src/protocol/transition-chain.ts';
import type { WorkloadCertificateResponse } from '../../../src/protocol/workload.ts';
import { readWorkloadIdentity } from '../../../src/protocol/workload-certificate.ts';

const POLICY = 'package agent_policy\n# the llama pod\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
const OTHER_POLICY_HASH = createHash('sha256').update('another workload').digest('hex');
const SECRETS_POLICY = 'package agent_policy\n# the secret service\n';
const SECRETS_POLICY_HASH = createHash('sha256').update(SECRETS_POLICY).digest('hex');
const NOW = new Date('2026-06-01T00:00:00Z');

function spec(): ManifestSpec {
  return {
    referenceValues: {
      snp: [
        {
          name: 'pod-vm',
          role: 'pod',
          measurements: [SIMULATED_POD_MEASUREMENT],
          minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
        },
        {
          name: 'node-cvm',
          role: 'node',
          measurements: [SIMULATED_SNP_MEASUREMENT],
          minimumTCB: { bootloader: 0, tee: 0, snp: 0, microcode: 0 },
        },
      ],
      tdx: [{ name: 'pod-vm-tdx', role: 'pod', mrTd: [SIMULATED_POD_MRTD] }],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [
      { name: 'llama', hash: POLICY_HASH, sans: ['llama.example.com', '192.0.2.7'] },
      { name: 'other', hash: OTHER_POLICY_HASH },
      { name: 'secrets', hash: SECRETS_POLICY_HASH, role: 'secret-service', sans: ['secrets.example.com'] },
    ],
    runtimeClasses: ['kata'],
    attestation: { evidenceMaxAge: '5m', reattestationInterval: '1h' },
    development: { acceptSimulatedEvidence: true },
  };
}

interface World {
  platform: SimulatedPlatform;
  manifests: Map<string, Manifest>;
  pods: Map<string, k8s.V1Pod>;
  /** Pods the informer behind `podExists` does not watch (not the operator's own). */
  unwatched: Set<string>;
  workers: Map<string, AIWorker>;
  nodeAttestations: NodeAttestation[];
  recorded: Map<string, string>;
  /** Certificate records that fail before one is written (an API server answering 429). */
  recordFailures: number;
  events: Array<{ pod: string; type: string; reason: string; message: string }>;
  mesh: { ca: CertificateAuthority; root: CertificateAuthority; history: MeshSource['history'] };
  workloads: WorkloadCoordinator;
}

let platform: Promise<SimulatedPlatform> | undefined;

async function world(): Promise<World> {
  platform ??= createSimulatedPlatform();
  const manifest: Manifest = {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: 'pods', creationTimestamp: new Date('2026-01-01T00:00:00Z') },
    spec: spec(),
    status: { hash: manifestHash(spec()) },
  };
  const pki = await CoordinatorPki.create(NOW);
  const w: World = {
    platform: await platform,
    manifests: new Map([['pods', manifest]]),
    pods: new Map(),
    unwatched: new Set(),
    workers: new Map(),
    nodeAttestations: [],
    recorded: new Map(),
    recordFailures: 0,
    events: [],
    mesh: { ca: await pki.newMeshCa(NOW), root: pki.root, history: transitionChain([manifestHash(spec())]) },
    workloads: undefined as never,
  };
  w.workloads = await WorkloadCoordinator.create({
    manifests: { list: () => [...w.manifests.values()] },
    aiWorkers: { get: (name, namespace) => w.workers.get(`${namespace}/${name}`) },
    pods: {
      read: async (namespace, name) => structuredClone(w.pods.get(`${namespace}/${name}`)),
      recordCertificate: async (namespace, name, _uid, pem) => {
        if (w.recordFailures-- > 0) throw Object.assign(new Error('HTTP-Code: 429'), { code: 429 });
        w.recorded.set(`${namespace}/${name}`, pem);
      },
    },
    podExists: (namespace, name, uid) =>
      !w.unwatched.has(`${namespace}/${name}`) && w.pods.get(`${namespace}/${name}`)?.metadata?.uid === uid,
    nodes: { get: (name) => ({ metadata: { name } }) },
    nodeAttestations: { list: () => w.nodeAttestations },
    identity: () => ({ meshCa: w.mesh.ca, history: w.mesh.history }),
    trust: {
      production: {},
      simulated: w.platform.trust,
      simulatedCollateral: simulatedCollateral(w.platform),
    },
    events: {
      record: async (target, type, reason, message) => {
        w.events.push({ pod: `${target.namespace}/${target.name}`, type, reason, message });
      },
    },
    log: silentLogger,
    now: () => NOW,
  });
  w.workers.set('ai/llama', {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name: 'llama', namespace: 'ai', uid: 'worker-uid' },
    spec: { image: 'x', model: 'm', runtimeClassName: 'kata', policy: { inline: POLICY } },
  });
  return w;
}

function addPod(w: World, name: string, options: { policy?: string; model?: string; gpus?: number } = {}): PodCaller {
  const uid = `uid-${name}`;
  w.pods.set(`ai/${name}`, {
    metadata: {
      name,
      namespace: 'ai',
      uid,
      labels: {
        'app.kubernetes.io/name': 'ai-worker',
        'app.kubernetes.io/instance': 'llama',
        'app.kubernetes.io/managed-by': 'attestor',
        'attestor.dev/deployment-model': options.model ?? 'pod-cvm',
      },
      annotations: { [KATA_POLICY_ANNOTATION]: Buffer.from(options.policy ?? POLICY).toString('base64') },
    },
    spec: {
      containers: [
        { name: 'server', image: 'x', resources: { limits: { 'nvidia.com/gpu': String(options.gpus ?? 1) } } },
      ],
    },
    status: { podIP: '10.0.0.9' },
  });
  return { namespace: 'ai', name, uid };
}

/** A pod of no AIWorker (a secret-service Deployment's), which the operator's informer does not watch. */
function addRolePod(w: World, name: string, options: { policy?: string; gpus?: number } = {}): PodCaller {
  const uid = `uid-${name}`;
  w.pods.set(`ai/${name}`, {
    metadata: {
      name,
      namespace: 'ai',
      uid,
      labels: { 'app.kubernetes.io/name': 'secret-service' },
      annotations: { [KATA_POLICY_ANNOTATION]: Buffer.from(options.policy ?? SECRETS_POLICY).toString('base64') },
    },
    spec: {
      containers: [
        { name: 'secret-service', image: 's', resources: { limits: { 'nvidia.com/gpu': String(options.gpus ?? 0) } } },
      ],
    },
    status: { podIP: '10.0.0.7' },
  });
  w.unwatched.add(`ai/${name}`);
  return { namespace: 'ai', name, uid };
}

interface PodVm {
  platform?: 'snp' | 'tdx';
  measurement?: string;
  policyHash?: string;
  uuids?: string[];
}

/** What `attestor init` does: nonce, evidence, grant, activation read-back, certificate. */
async function certify(
  w: World,
  caller: PodCaller,
  vm: PodVm = {},
  options: { signWith?: jose.CryptoKey } = {},
): Promise<{
  attest: Awaited<ReturnType<WorkloadCoordinator['attest']>>;
  issued?: WorkloadCertificateResponse;
  key: jose.JWK;
  spki: Uint8Array;
}> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const jwk = await jose.exportJWK(publicKey);
  const spki = new Uint8Array(
    Buffer.from((await jose.exportSPKI(publicKey)).replace(/-----[^-]+-----|\s/g, ''), 'base64'),
  );
  const cvm = new SimulatedCvmSource(w.platform, {
    platform: vm.platform ?? 'snp',
    measurement: vm.measurement ?? (vm.platform === 'tdx' ? SIMULATED_POD_MRTD : SIMULATED_POD_MEASUREMENT),
    policyHash: vm.policyHash ?? POLICY_HASH,
  });
  const gpus = new SimulatedGpuControl(w.platform, { uuids: vm.uuids ?? [`GPU-${caller.name}-0`] });
  const { nonce } = await w.workloads.issueNonce(caller);
  const nonceBytes = new Uint8Array(Buffer.from(nonce, 'hex'));
  const request = encodeEvidenceRequest(nonce, jwk as Record<string, unknown>, {
    cvm: await cvm.collect(reportDataFor(nonceBytes, spki)),
    gpus: (await gpus.collect(nonceBytes)).map((g) => ({
      uuid: g.uuid,
      report: g.report,
      certificateChain: g.certificateChainPem,
    })),
  });
  const attest = await w.workloads.attest(caller, request);
  if (!attest.accepted) return { attest, key: jwk, spki };
  const report = await signActivationReport(
    { grant: attest.grant, gpusReady: true, gpus: request.gpus.map((g) => g.uuid) },
    options.signWith ?? privateKey,
  );
  return { attest, issued: await w.workloads.activate(caller, report), key: jwk, spki };
}

const reasonsOf = (r: Awaited<ReturnType<typeof certify>>) => (r.attest.accepted ? [] : r.attest.reasons).join('\n');

describe('workload certificates (the Coordinator, without a cluster)', function () {
  this.timeout(60_000);

  it('certifies a pod-CVM pod: a certificate from the mesh CA for the key its evidence bound, only after the signed GPU read-back, recorded on the pod, with an Event', async () => {
    const w = await world();
    const pod = addPod(w, 'llama-1');
    const r = await certify(w, pod);
    assert.ok(r.attest.accepted, reasonsOf(r));
    assert.ok(r.issued?.certified, JSON.stringify(r.issued));
    const certificate = new x509.X509Certificate(r.issued.certificate);
    assert.ok(
      await certificate.verify({ publicKey: w.mesh.ca.certificate.publicKey, date: NOW }),
      'issued by the mesh CA',
    );
    assert.deepEqual(Buffer.from(certificate.publicKey.rawData), Buffer.from(r.spki), "the pod's own key");
    assert.equal(r.issued.meshCA, w.mesh.ca.pem);
    assert.equal(
      r.issued.notAfter,
      new Date(NOW.getTime() + 3_600_000).toISOString(),
      'as long as reattestationInterval',
    );
    const identity = readWorkloadIdentity(certificate);
    assert.ok(identity && !('error' in identity), JSON.stringify(identity));
    assert.equal(identity.policyHash, POLICY_HASH);
    assert.equal(identity.podUid, 'uid-llama-1');
    assert.equal(identity.role, 'worker');
    assert.equal(identity.manifestHash, manifestHash(spec()));
    const names = certificate.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
    assert.deepEqual(
      names.map((n) => n.value),
      ['llama', 'llama.ai', 'llama.ai.svc', 'llama.ai.svc.cluster.local', 'llama.example.com', '10.0.0.9', '192.0.2.7'],
    );
    assert.equal(w.recorded.get('ai/llama-1'), r.issued.certificate);
    assert.deepEqual(
      w.events.map((e) => [e.pod, e.type, e.reason]),
      [['ai/llama-1', 'Normal', 'WorkloadCertified']],
    );
  });

  it('records the certificate on the pod after all when the first writes fail (an API server that throttles)', async () => {
    const w = await world();
    w.recordFailures = 2;
    const pod = addPod(w, 'llama-1');
    const r = await certify(w, pod);
    assert.ok(r.issued?.certified, JSON.stringify(r.issued));
    assert.equal(w.recorded.get('ai/llama-1'), undefined, 'the first write failed; the pod has its certificate');
    // Written again after 0.5 s, then 1 s.
    await waitFor(() => w.recorded.get('ai/llama-1'), { timeoutMs: 10_000, description: 'the record written' });
    assert.equal(w.recorded.get('ai/llama-1'), r.issued.certificate);
  });

  it("certifies a secret-service pod of no AIWorker, which the operator's cache does not hold, through its policy entry: its role, the entry's SANs and the pod IP, no Service names", async () => {
    const w = await world();
    const pod = addRolePod(w, 'secret-service-0');
    const r = await certify(w, pod, { policyHash: SECRETS_POLICY_HASH, uuids: [] });
    assert.ok(r.issued?.certified, reasonsOf(r) + JSON.stringify(r.issued));
    const certificate = new x509.X509Certificate(r.issued.certificate);
    assert.equal(certificate.subject, 'CN=secret-service, O=ai, OU=secret-service');
    const identity = readWorkloadIdentity(certificate);
    assert.ok(identity && !('error' in identity), JSON.stringify(identity));
    assert.equal(identity.role, 'secret-service');
    assert.equal(identity.policyHash, SECRETS_POLICY_HASH);
    const names = certificate.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
    assert.deepEqual(
      names.map((n) => n.value),
      ['secrets.example.com', '10.0.0.7'],
    );
    assert.equal(w.recorded.get('ai/secret-service-0'), r.issued.certificate);
    assert.deepEqual(
      w.events.map((e) => [e.pod, e.type, e.reason]),
      [['ai/secret-service-0', 'Normal', 'WorkloadCertified']],
    );
    assert.match(w.events[0]!.message, /for pod ai\/secret-service-0 \(role secret-service/);
  });

  it("refuses a secret-service pod whose HOST_DATA is not its policy annotation's hash, and a pod of no AIWorker with a worker policy", async () => {
    const w = await world();
    const wrongVm = await certify(w, addRolePod(w, 'secret-service-1'), { policyHash: POLICY_HASH, uuids: [] });
    assert.equal(wrongVm.attest.accepted, false);
    assert.match(reasonsOf(wrongVm), /\[snp\.host-data\]/);
    const workerPolicy = await certify(w, addRolePod(w, 'impostor', { policy: POLICY, gpus: 1 }));
    assert.equal(workerPolicy.attest.accepted, false);
    assert.match(reasonsOf(workerPolicy), /\[workload\.pod\] .*worker policy is certified only in an AIWorker's pod/);
    assert.equal(w.recorded.size, 0);
    assert.deepEqual(
      w.events.map((e) => e.reason),
      ['WorkloadRefused', 'WorkloadRefused'],
    );
  });

  it("keeps a GPU held by a pod the operator's cache does not hold until its certificate expires", async () => {
    const w = await world();
    const holder = await certify(w, addRolePod(w, 'secret-service-2', { gpus: 1 }), {
      policyHash: SECRETS_POLICY_HASH,
      uuids: ['GPU-shared'],
    });
    assert.ok(holder.issued?.certified, reasonsOf(holder) + JSON.stringify(holder.issued));
    const other = await certify(w, addPod(w, 'llama-1'), { uuids: ['GPU-shared'] });
    assert.equal(other.attest.accepted, false);
    assert.match(reasonsOf(other), /\[coordinator\.evidence\.in-use\] .*pod\/ai\/secret-service-2/);
  });

  it('certifies a TDX pod VM whose MRCONFIGID carries the pod policy', async () => {
    const w = await world();
    const r = await certify(w, addPod(w, 'llama-tdx'), { platform: 'tdx' });
    assert.ok(r.issued?.certified, reasonsOf(r) + JSON.stringify(r.issued));
  });

  const refusals: Array<{ name: string; pod?: Parameters<typeof addPod>[2]; vm?: PodVm; expect: RegExp }> = [
    {
      name: "a node CVM's report (a node-role measurement): a pod is appraised against pod entries only",
      vm: { measurement: SIMULATED_SNP_MEASUREMENT },
      expect: /\[snp\.(measurement|reference-values)\]/,
    },
    {
      name: 'HOST_DATA that is a workload policy of the Manifest, but not the one the pod carries',
      vm: { policyHash: OTHER_POLICY_HASH },
      expect: /\[snp\.host-data\] HOST_DATA [0-9a-f]{64} is not an allowed policy hash/,
    },
    {
      name: 'a pod whose policy is not in the Manifest',
      pod: { policy: 'package agent_policy\n# not listed\n' },
      vm: { policyHash: createHash('sha256').update('package agent_policy\n# not listed\n').digest('hex') },
      expect: /\[workload\.policy\] .* is not one of the workload policies/,
    },
    {
      name: "a pod of a confidential-node AIWorker's pods",
      pod: { model: 'confidential-node' },
      expect: /\[workload\.deployment-model\]/,
    },
    {
      name: 'fewer GPU reports than the pod has GPUs',
      pod: { gpus: 2 },
      expect: /\[node\.gpu\.missing\]/,
    },
  ];
  for (const c of refusals)
    it(`gives no certificate for ${c.name}`, async () => {
      const w = await world();
      const pod = addPod(w, 'llama-x', c.pod);
      const r = await certify(w, pod, c.vm);
      assert.equal(r.attest.accepted, false);
      assert.match(reasonsOf(r), c.expect);
      assert.equal(r.issued, undefined);
      assert.equal(w.recorded.size, 0);
      assert.deepEqual(
        w.events.map((e) => [e.type, e.reason]),
        [['Warning', 'WorkloadRefused']],
      );
    });

  it('gives no certificate to a pod recreated under the name of the pod its token was made for', async () => {
    const w = await world();
    const pod = addPod(w, 'llama-1');
    const { nonce } = await w.workloads.issueNonce(pod);
    w.pods.get('ai/llama-1')!.metadata!.uid = 'uid-new';
    const r = await w.workloads
      .attest(pod, { nonce, agentKey: {}, cvm: { platform: 'snp', report: '' }, gpus: [] })
      .catch((e) => e);
    assert.match(String(r.message ?? JSON.stringify(r)), /agentKey|UID/);
    await assert.rejects(
      async () => w.workloads.issueNonce(pod),
      /UID uid-llama-1\) does not exist or is being deleted/,
    );
  });

  it('refuses a GPU or a CVM launch another pod holds (coordinator.evidence.in-use), and a GPU a node holds', async () => {
    const w = await world();
    const first = await certify(w, addPod(w, 'llama-1'), { uuids: ['GPU-shared'] });
    assert.ok(first.issued?.certified);
    const second = await certify(w, addPod(w, 'llama-2'), { uuids: ['GPU-shared'] });
    assert.match(
      reasonsOf(second),
      /\[coordinator\.evidence\.in-use\] GPU GPU-shared is currently attested for pod\/ai\/llama-1/,
    );
    w.nodeAttestations.push({
      apiVersion: 'attestor.dev/v1alpha1',
      kind: 'NodeAttestation',
      metadata: { name: 'gpu-node-1' },
      spec: {},
      status: {
        expiresAt: new Date(NOW.getTime() + 3_600_000).toISOString(),
        gpus: [{ uuid: 'GPU-on-node', verified: true, activated: true }],
        conditions: [
          { type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: NOW.toISOString() },
        ],
      },
    } as NodeAttestation);
    const third = await certify(w, addPod(w, 'llama-3'), { uuids: ['GPU-on-node'] });
    assert.match(reasonsOf(third), /GPU GPU-on-node is currently attested for node gpu-node-1/);
  });

  it('issues nothing for a read-back signed by another key, or while the mesh CA belongs to another Manifest', async () => {
    const w = await world();
    const other = (await jose.generateKeyPair('ES256')).privateKey;
    const forged = await certify(w, addPod(w, 'llama-1'), {}, { signWith: other });
    assert.ok(forged.attest.accepted);
    assert.deepEqual(forged.issued, {
      certified: false,
      reason: 'the activation report is not signed by the key bound to the evidence',
    });
    w.mesh.history = transitionChain(['ab'.repeat(32)]);
    const stale = await certify(w, addPod(w, 'llama-2'));
    assert.equal(stale.issued?.certified, false);
    assert.match((stale.issued as { reason: string }).reason, /mesh CA is not \(yet\) the one of Manifest pods/);
    assert.equal(w.recorded.size, 0);
  });
});
