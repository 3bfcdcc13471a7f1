// The Coordinator's confidential-node workload decision without a cluster: a pod of a
// confidential-node AIWorker on node n1, whose NodeAttestation is current and whose accepted
// evidence bound an agent key; the agent countersigns the pod's key. Each case changes one thing
// about a request that gets a certificate, and says why it must then get none.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import * as x509 from '@peculiar/x509';
import * as jose from 'jose';
import { SIMULATED_SNP_MEASUREMENT } from '../../../src/agent/evidence/simulated.ts';
import type { AIWorker } from '../../../src/api/aiworker.ts';
import { KATA_POLICY_ANNOTATION } from '../../../src/api/aiworker-labels.ts';
import type { Manifest, ManifestSpec } from '../../../src/api/manifest.ts';
import { manifestHash } from '../../../src/api/manifest-hash.ts';
import type { NodeAttestation } from '../../../src/api/node-attestation.ts';
import type { AcceptedNodeEvidence } from '../../../src/coordinator/coordinator.ts';
import { CoordinatorError } from '../../../src/coordinator/coordinator-error.ts';
import type { PodCaller } from '../../../src/coordinator/workload-auth.ts';
import { WorkloadCoordinator } from '../../../src/coordinator/workloads.ts';
import { silentLogger } from '../../../src/observability/log.ts';
import { CoordinatorPki } from '../../../src/pki/coordinator-pki.ts';
import {
  type CountersignatureClaims,
  type CountersignedRequest,
  signCountersignature,
  signProof,
  spkiSha256,
} from '../../../src/protocol/countersignature.ts';
import { transitionChain } from '../../../src/protocol/transition-chain.ts';
import { readWorkloadIdentity } from '../../../src/protocol/workload-certificate.ts';

const POLICY = 'package agent_policy\n# the llama pod on a confidential node\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
const NOW = new Date('2026-06-01T00:00:00Z');
const TCB = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };

function spec(withNodes = true): ManifestSpec {
  return {
    referenceValues: {
      snp: [
        withNodes
          ? { name: 'node-cvm', role: 'node', measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: TCB }
          : { name: 'pod-vm', role: 'pod', measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: TCB },
      ],
      gpu: { architectures: ['HOPPER'], driverVersions: ['550.90.07'], vbiosVersions: ['96.00.9F.00.01'] },
    },
    policies: [{ name: 'llama', hash: POLICY_HASH, sans: ['llama.example.com'] }],
    runtimeClasses: ['kata'],
    attestation: { evidenceMaxAge: '5m', reattestationInterval: '1h' },
    development: { acceptSimulatedEvidence: true },
  };
}

function manifest(withNodes = true): Manifest {
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'Manifest',
    metadata: { name: withNodes ? 'nodes' : 'pods', creationTimestamp: new Date('2026-01-01T00:00:00Z') },
    spec: spec(withNodes),
    status: { hash: `shown-${manifestHash(spec(withNodes)).slice(0, 8)}` },
  };
}

function attestation(node: string, manifestHashShown: string, expiresAt = new Date(NOW.getTime() + 3_600_000)) {
  const t = NOW.toISOString();
  return {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'NodeAttestation',
    metadata: { name: node },
    status: {
      manifestHash: manifestHashShown,
      expiresAt: expiresAt.toISOString(),
      gpus: [{ uuid: `${node}-GPU-0`, verified: true, activated: true }],
      conditions: [
        { type: 'Attested', status: 'True', reason: 'Verified', message: '', lastTransitionTime: t },
        { type: 'GPUsActivated', status: 'True', reason: 'Activated', message: '', lastTransitionTime: t },
      ],
    },
  } as NodeAttestation;
}

interface World {
  manifest: Manifest;
  pods: Map<string, k8s.V1Pod>;
  workers: Map<string, AIWorker>;
  nodeAttestations: NodeAttestation[];
  accepted: Map<string, AcceptedNodeEvidence>;
  agentKeys: Map<string, jose.CryptoKey>;
  recorded: Map<string, string>;
  events: Array<{ pod: string; reason: string; message: string }>;
  workloads: WorkloadCoordinator;
}

async function world(options: { withNodes?: boolean } = {}): Promise<World> {
  const active = manifest(options.withNodes ?? true);
  const pki = await CoordinatorPki.create(NOW);
  const meshCa = await pki.newMeshCa(NOW);
  const w: World = {
    manifest: active,
    pods: new Map(),
    workers: new Map(),
    nodeAttestations: [],
    accepted: new Map(),
    agentKeys: new Map(),
    recorded: new Map(),
    events: [],
    workloads: undefined as never,
  };
  w.workloads = await WorkloadCoordinator.create({
    manifests: { list: () => [w.manifest] },
    aiWorkers: { get: (name, namespace) => w.workers.get(`${namespace}/${name}`) },
    pods: {
      read: async (namespace, name) => structuredClone(w.pods.get(`${namespace}/${name}`)),
      recordCertificate: async (namespace, name, _uid, pem) => {
        w.recorded.set(`${namespace}/${name}`, pem);
      },
    },
    podExists: (namespace, name, uid) => w.pods.get(`${namespace}/${name}`)?.metadata?.uid === uid,
    nodes: { get: (name) => ({ metadata: { name } }) },
    nodeAttestations: { list: () => w.nodeAttestations },
    nodeEvidence: (node) => w.accepted.get(node),
    identity: () => ({ meshCa, history: transitionChain([manifestHash(active.spec)]) }),
    trust: { production: {}, simulated: {} } as never,
    events: {
      record: async (target, _type, reason, message) => {
        w.events.push({ pod: `${target.namespace}/${target.name}`, reason, message });
      },
    },
    log: silentLogger,
    now: () => NOW,
  });
  w.workers.set('ai/llama', {
    apiVersion: 'attestor.dev/v1alpha1',
    kind: 'AIWorker',
    metadata: { name: 'llama', namespace: 'ai', uid: 'worker-uid' },
    spec: {
      image: 'x',
      model: 'm',
      runtimeClassName: 'kata',
      policy: { inline: POLICY },
      deploymentModel: 'confidential-node',
    },
  });
  for (const node of ['n1', 'n2']) await attestedNode(w, node);
  return w;
}

/** A node whose agent attested: current status, accepted evidence with the agent's key. */
async function attestedNode(w: World, node: string): Promise<void> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  w.agentKeys.set(node, privateKey);
  w.accepted.set(node, {
    agentKey: await jose.exportJWK(publicKey),
    digest: createHash('sha256').update(`evidence of ${node}`).digest('hex'),
    manifestHash: w.manifest.status!.hash!,
  });
  w.nodeAttestations.push(attestation(node, w.manifest.status!.hash!));
}

function addPod(w: World, name: string, node = 'n1', model = 'confidential-node'): PodCaller {
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
        'attestor.dev/deployment-model': model,
      },
      annotations: { [KATA_POLICY_ANNOTATION]: Buffer.from(POLICY).toString('base64') },
    },
    spec: { nodeName: node, containers: [{ name: 'server', image: 'x' }] },
    status: { podIP: '10.0.0.9' },
  });
  return { namespace: 'ai', name, uid };
}

interface Tamper {
  /** Sign the countersignature with this node's agent key. */
  signedBy?: string;
  claims?: Partial<CountersignatureClaims>;
  /** Sign the proof with another key. */
  foreignProof?: boolean;
}

/** What `attestor init --confidential-node` and its agent do: nonce, proof, countersignature. */
async function request(w: World, caller: PodCaller, tamper: Tamper = {}): Promise<CountersignedRequest> {
  const { privateKey, publicKey } = await jose.generateKeyPair('ES256');
  const spki = new Uint8Array(
    Buffer.from((await jose.exportSPKI(publicKey)).replace(/-----[^-]+-----|\s/g, ''), 'base64'),
  );
  const { nonce } = await w.workloads.issueNonce(caller);
  const node = w.pods.get(`${caller.namespace}/${caller.name}`)!.spec!.nodeName!;
  const claims: CountersignatureClaims = {
    node,
    namespace: caller.namespace,
    pod: caller.name,
    podUid: caller.uid,
    spkiSha256: spkiSha256(spki),
    nonce,
    manifestHash: w.manifest.status!.hash!,
    iat: Math.floor(NOW.getTime() / 1000),
    ...tamper.claims,
  };
  const proofKey = tamper.foreignProof ? (await jose.generateKeyPair('ES256')).privateKey : privateKey;
  return {
    nonce,
    spki: Buffer.from(spki).toString('base64url'),
    proof: await signProof(nonce, spki, proofKey),
    countersignature: await signCountersignature(claims, w.agentKeys.get(tamper.signedBy ?? node)!),
  };
}

async function refusal(w: World, caller: PodCaller, body: CountersignedRequest): Promise<string> {
  const answer = await w.workloads.certifyOnNode(caller, body);
  assert.equal(answer.certified, false, 'no certificate');
  return (answer as { reason: string }).reason;
}

describe('confidential-node workload certificates: the Coordinator decision', () => {
  it("certifies a confidential-node pod on a currently attested node whose agent countersigned its key: deploymentModel confidential-node, the node's evidence digest, no longer than the node's attestation", async () => {
    const w = await world();
    w.nodeAttestations[0] = attestation('n1', w.manifest.status!.hash!, new Date(NOW.getTime() + 600_000));
    const caller = addPod(w, 'llama-0');
    const answer = await w.workloads.certifyOnNode(caller, await request(w, caller));
    assert.ok(answer.certified, JSON.stringify(answer));
    const certificate = new x509.X509Certificate(answer.certificate);
    const identity = readWorkloadIdentity(certificate);
    assert.ok(identity && !('error' in identity));
    assert.equal(identity.deploymentModel, 'confidential-node');
    assert.equal(identity.role, 'worker');
    assert.equal(identity.podUid, caller.uid);
    assert.equal(identity.evidenceDigest, w.accepted.get('n1')!.digest);
    assert.equal(certificate.notAfter.getTime(), NOW.getTime() + 600_000, "capped by the node's attestation");
    assert.equal(w.recorded.get('ai/llama-0'), answer.certificate);
    assert.deepEqual(
      w.events.map((e) => e.reason),
      ['WorkloadCertified'],
    );
  });

  const refusals: Array<[string, (w: World) => Promise<{ caller: PodCaller; body: CountersignedRequest }>, RegExp]> = [
    [
      "another node's agent signed it (the agent key of n1's evidence does not verify it)",
      async (w) => {
        const caller = addPod(w, 'p');
        return { caller, body: await request(w, caller, { signedBy: 'n2' }) };
      },
      /\[workload\.countersignature\] the countersignature does not verify/,
    ],
    [
      'it names another node',
      async (w) => {
        const caller = addPod(w, 'p');
        return { caller, body: await request(w, caller, { claims: { node: 'n2' } }) };
      },
      /\[workload\.countersignature\] the countersignature names node n2, not n1/,
    ],
    [
      'it names another pod (a token for another pod)',
      async (w) => {
        const caller = addPod(w, 'p');
        return { caller, body: await request(w, caller, { claims: { pod: 'other', podUid: 'uid-other' } }) };
      },
      /names pod ai\/other, not ai\/p[\s\S]*names pod UID uid-other, not uid-p/,
    ],
    [
      'it names another key',
      async (w) => {
        const caller = addPod(w, 'p');
        return { caller, body: await request(w, caller, { claims: { spkiSha256: 'ee'.repeat(32) } }) };
      },
      /names key e{64}, not/,
    ],
    [
      'it names another nonce',
      async (w) => {
        const caller = addPod(w, 'p');
        return { caller, body: await request(w, caller, { claims: { nonce: 'ab'.repeat(32) } }) };
      },
      /names nonce (ab){32}, not/,
    ],
    [
      'it names another Manifest',
      async (w) => {
        const caller = addPod(w, 'p');
        return { caller, body: await request(w, caller, { claims: { manifestHash: 'old' } }) };
      },
      /names Manifest old, not/,
    ],
    [
      'it is older than the nonce may be',
      async (w) => {
        const caller = addPod(w, 'p');
        return { caller, body: await request(w, caller, { claims: { iat: NOW.getTime() / 1000 - 3600 } }) };
      },
      /outside the nonce's lifetime/,
    ],
    [
      'the proof of possession is by another key',
      async (w) => {
        const caller = addPod(w, 'p');
        return { caller, body: await request(w, caller, { foreignProof: true }) };
      },
      /\[workload\.proof-of-possession\]/,
    ],
    [
      "the node's attestation expired",
      async (w) => {
        const caller = addPod(w, 'p');
        w.nodeAttestations[0] = attestation('n1', w.manifest.status!.hash!, new Date(NOW.getTime() - 1));
        return { caller, body: await request(w, caller) };
      },
      /\[workload\.node\] node n1 is not currently attested \(Expired/,
    ],
    [
      'the node is attested against another Manifest',
      async (w) => {
        const caller = addPod(w, 'p');
        w.nodeAttestations[0] = attestation('n1', 'another-manifest');
        return { caller, body: await request(w, caller) };
      },
      /\[workload\.node\] node n1 is not currently attested \(ManifestChanged/,
    ],
    [
      'the node has a current-looking NodeAttestation but no accepted evidence here (a forged status)',
      async (w) => {
        const caller = addPod(w, 'p');
        const body = await request(w, caller);
        w.accepted.delete('n1');
        return { caller, body };
      },
      /\[workload\.node\] this Coordinator holds no accepted evidence of node n1/,
    ],
    [
      'the pod is not scheduled on a node',
      async (w) => {
        const caller = addPod(w, 'p');
        const body = await request(w, caller);
        delete w.pods.get('ai/p')!.spec!.nodeName;
        return { caller, body };
      },
      /\[workload\.node\] the pod is not scheduled/,
    ],
    [
      'the pod is a pod-CVM pod (its own evidence must certify it)',
      async (w) => {
        const caller = addPod(w, 'p', 'n1', 'pod-cvm');
        return { caller, body: await request(w, caller) };
      },
      /\[workload\.deployment-model\]/,
    ],
    [
      'the pod is being deleted',
      async (w) => {
        const caller = addPod(w, 'p');
        w.pods.get('ai/p')!.metadata!.deletionTimestamp = NOW;
        return { caller, body: await request(w, caller) };
      },
      /\[workload\.pod\] pod ai\/p is being deleted/,
    ],
  ];
  for (const [why, make, expected] of refusals)
    it(`refuses a certificate when ${why}`, async () => {
      const w = await world();
      const { caller, body } = await make(w);
      assert.match(await refusal(w, caller, body), expected);
      assert.equal(w.recorded.size, 0);
      assert.deepEqual(
        w.events.map((e) => e.reason),
        ['WorkloadRefused'],
      );
    });

  it('refuses under a Manifest that does not enable the confidential-node model (it has no node entries)', async () => {
    const w = await world({ withNodes: false });
    const caller = addPod(w, 'p');
    assert.match(
      await refusal(w, caller, await request(w, caller)),
      /\[workload\.deployment-model\] Manifest pods does not enable the confidential-node model/,
    );
  });

  it('takes a nonce once, for the pod it was issued to (409 otherwise), before anything is judged', async () => {
    const w = await world();
    const caller = addPod(w, 'p');
    const other = addPod(w, 'q');
    const body = await request(w, caller);
    await assert.rejects(w.workloads.certifyOnNode(other, body), (err: CoordinatorError) => err.status === 409);
    const fresh = await request(w, caller);
    assert.ok((await w.workloads.certifyOnNode(caller, fresh)).certified);
    await assert.rejects(w.workloads.certifyOnNode(caller, fresh), (err: CoordinatorError) => err.status === 409);
    await assert.rejects(
      w.workloads.certifyOnNode(caller, { ...fresh, spki: '' }),
      (err: CoordinatorError) => err instanceof CoordinatorError && err.status === 400,
    );
  });
});
