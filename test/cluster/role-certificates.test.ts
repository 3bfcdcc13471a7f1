// Workload certificates for pods of no AIWorker (the secret service, the secret store) on the real
// control plane: a plain pod, created by no controller of ours and outside the operator's pod
// cache, whose policy is a secret-service entry of the Manifest, runs `attestor init` (here, as in
// workload-certificates.test.ts, with its own projected token and a simulated pod VM without GPUs)
// and gets a certificate whose identity extension says secret-service and whose SANs are the
// entry's and the pod IP's; a plain pod with a worker policy gets none.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import * as x509 from '@peculiar/x509';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import {
  createSimulatedPlatform,
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_POD_MEASUREMENT,
  SimulatedCvmSource,
  type SimulatedPlatform,
} from '../../src/agent/evidence/simulated.ts';
import { type CertifyOutcome, WorkloadInit } from '../../src/agent/workload-init.ts';
import { KATA_POLICY_ANNOTATION, WORKLOAD_CERTIFICATE_ANNOTATION } from '../../src/api/aiworker-labels.ts';
import { policyHash } from '../../src/controllers/aiworker/policy.ts';
import type { ControlPlane } from '../../src/dev/control-plane.ts';
import { localCoordinatorOptions } from '../../src/dev/local-coordinator.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import type { RunningOperator } from '../../src/operator/operator.ts';
import { WORKLOAD_AUDIENCE } from '../../src/protocol/workload.ts';
import { readWorkloadIdentity } from '../../src/protocol/workload-certificate.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { activeManifestHash, sharedControlPlane, startTestOperator, uniqueName } from '../harness/cluster.ts';

const run = promisify(execFile);
const SECRETS_POLICY = 'package agent_policy\n# the secret service pods\ndefault CreateContainerRequest := true\n';
const WORKER_POLICY = 'package agent_policy\n# the AI worker pods\ndefault CreateContainerRequest := true\n';
const manifests = { group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' };

/** Pod VMs and the Coordinator only (the pod-CVM model), a secret-service and a worker policy. */
function manifestSpec() {
  const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
  return {
    referenceValues: {
      snp: [
        { name: 'pod-vm', role: 'pod', measurements: [SIMULATED_POD_MEASUREMENT], minimumTCB: tcb },
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
      {
        name: 'secret-service',
        role: 'secret-service',
        hash: policyHash(SECRETS_POLICY),
        sans: ['secrets.example.com', '192.0.2.10'],
      },
      { name: 'workers', hash: policyHash(WORKER_POLICY) },
      { name: 'coordinator', role: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH },
    ],
    runtimeClasses: ['kata'],
    attestation: { reattestationInterval: '1h' },
    development: { acceptSimulatedEvidence: true },
  };
}

describe('secret-service and secret-store certificates on the control plane (pod-CVM model)', function () {
  this.timeout(240_000);
  let cp: ControlPlane;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let operator: RunningOperator;
  let platform: SimulatedPlatform;
  let url = '';
  const dir = mkdtempSync(join(tmpdir(), 'role-certificates-'));
  const namespace = uniqueName('secrets');
  const manifestName = uniqueName('roles');
  const node = `${namespace}-node`;
  const clients: CoordinatorClient[] = [];

  /** A pod of no AIWorker with this policy, on a kwok node, once it has an IP. */
  const plainPod = async (name: string, policy: string): Promise<k8s.V1Pod> => {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: {
          name,
          labels: { 'app.kubernetes.io/name': name },
          annotations: { [KATA_POLICY_ANNOTATION]: Buffer.from(policy, 'utf8').toString('base64') },
        },
        spec: {
          nodeName: node,
          automountServiceAccountToken: false,
          containers: [{ name: 'main', image: `registry.example/${name}@sha256:${'e7'.repeat(32)}` }],
        },
      },
    });
    return waitFor(
      async () => {
        const pod = await core.readNamespacedPod({ name, namespace });
        return pod.status?.podIP ? pod : undefined;
      },
      { timeoutMs: 60_000, description: `pod ${name} with an IP` },
    );
  };
  /** What the pod's `attestor init --no-gpus` does, in a pod VM that runs `policy`. */
  const podInit = (pod: k8s.V1Pod, policy: string): WorkloadInit => {
    const { name, uid } = pod.metadata as { name: string; uid: string };
    const out = join(dir, name);
    mkdirSync(out, { recursive: true });
    const client = new CoordinatorClient(url, cp.caPem, async () => {
      const request = await core.createNamespacedServiceAccountToken({
        name: 'default',
        namespace,
        body: {
          spec: { audiences: [WORKLOAD_AUDIENCE], boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid } },
        },
      });
      return request.status?.token ?? assert.fail('TokenRequest returned no token');
    });
    clients.push(client);
    return new WorkloadInit({
      pod: { namespace, name },
      client,
      cvm: new SimulatedCvmSource(platform, {
        platform: 'snp',
        measurement: SIMULATED_POD_MEASUREMENT,
        policyHash: policyHash(policy),
      }),
      out,
      log: silentLogger,
    });
  };
  const podEvents = async (pod: string, reason: string) =>
    (await core.listNamespacedEvent({ namespace })).items.filter(
      (e) => e.involvedObject.name === pod && e.reason === reason,
    );

  before(async () => {
    cp = await sharedControlPlane();
    const kc = cp.kubeConfig();
    core = kc.makeApiClient(k8s.CoreV1Api);
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    platform = await createSimulatedPlatform();
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await cp.createGpuNode(node, { gpus: 1 });
    await custom.createClusterCustomObject({
      ...manifests,
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
    operator = await startTestOperator(kc, { coordinator: localCoordinatorOptions(serving, platform, 'default') });
    url = `https://127.0.0.1:${await operator.coordinatorPort}`;
    const hash = await activeManifestHash(custom, manifestName, {
      timeoutMs: 60_000,
      description: `${manifestName} active`,
    });
    await waitFor(() => operator.identity()?.meshCa !== undefined && operator.identity()?.history.length, {
      timeoutMs: 60_000,
      description: `the Coordinator following ${hash}`,
    });
  });
  after(async () => {
    for (const client of clients) await client.close();
    await operator?.stop();
    await custom?.deleteClusterCustomObject({ ...manifests, name: manifestName }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it("certifies a plain pod whose policy is a secret-service entry: the extension says secret-service, the SANs are the entry's and the pod IP", async () => {
    const pod = await plainPod('secret-service', SECRETS_POLICY);
    const outcome = await waitFor(
      async () => {
        const o = await podInit(pod, SECRETS_POLICY).certify();
        // Until the Coordinator follows the active Manifest, it asks the pod to attest again.
        return o.certified || !/attest again/.test(JSON.stringify(o)) ? o : undefined;
      },
      { timeoutMs: 60_000, description: 'a certificate, or a refusal that is not a mesh CA still settling' },
    );
    assert.ok(outcome.certified, JSON.stringify(outcome));
    const certFile = join(dir, 'secret-service', 'cert.pem');
    const pem = readFileSync(certFile, 'utf8');
    const certificate = new x509.X509Certificate(pem);
    const identity = readWorkloadIdentity(certificate);
    assert.ok(identity && !('error' in identity), JSON.stringify(identity));
    assert.equal(identity.role, 'secret-service');
    assert.equal(identity.deploymentModel, 'pod-cvm');
    assert.equal(identity.policyHash, policyHash(SECRETS_POLICY));
    assert.equal(identity.podUid, pod.metadata!.uid);
    // Read back with openssl, which nobody here wrote.
    const { stdout } = await run('openssl', ['x509', '-in', certFile, '-noout', '-text', '-nameopt', 'RFC2253']);
    assert.match(stdout, /Subject: OU=secret-service,O=secrets-[^,]+,CN=secret-service\n/);
    const sans = /X509v3 Subject Alternative Name:\s*\n\s*(.*)\n/.exec(stdout)?.[1];
    assert.equal(sans, `DNS:secrets.example.com, IP Address:${pod.status!.podIP}, IP Address:192.0.2.10`);
    await waitFor(async () => (await podEvents('secret-service', 'WorkloadCertified')).length === 1, {
      timeoutMs: 30_000,
      description: 'one WorkloadCertified Event',
    });
    const annotated = await core.readNamespacedPod({ name: 'secret-service', namespace });
    assert.equal(annotated.metadata?.annotations?.[WORKLOAD_CERTIFICATE_ANNOTATION], pem);
  });

  it('gives a plain pod with a worker policy no certificate: a worker must be an AIWorker pod', async () => {
    const pod = await plainPod('not-a-worker', WORKER_POLICY);
    const outcome = (await podInit(pod, WORKER_POLICY).certify()) as CertifyOutcome;
    assert.equal(outcome.certified, false);
    assert.match(
      (outcome as { reasons: string[] }).reasons.join('\n'),
      /\[workload\.pod\] .*a worker policy is certified only in an AIWorker's pod/,
    );
    await waitFor(async () => (await podEvents('not-a-worker', 'WorkloadRefused')).length >= 1, {
      timeoutMs: 30_000,
      description: 'a WorkloadRefused Event',
    });
    const pod2 = await core.readNamespacedPod({ name: 'not-a-worker', namespace });
    assert.equal(pod2.metadata?.annotations?.[WORKLOAD_CERTIFICATE_ANNOTATION], undefined);
  });
});
