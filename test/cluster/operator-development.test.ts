// The chart's development mode on the real control plane: `attestor operator --development-roots`
// generates simulated roots in memory and says so loudly, and `attestor agent --simulated-hardware`
// (the simulated agent the chart runs in development mode) attests a GPU node with evidence the
// operator's simulated hardware signs and counts its countersigning endpoint's TokenReviews, and the pod-CVM AI worker pod's `attestor init`, run with the
// arguments and environment the operator put into its pod spec, gets a workload certificate with
// simulated evidence from there too, while the active Manifest accepts simulated evidence; a newer
// Manifest that does not accept it un-gates the node. All are real processes, as in a cluster.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_POD_MEASUREMENT,
  SIMULATED_SNP_MEASUREMENT,
} from '../../src/agent/evidence/simulated.ts';
import type { NodeAttestation } from '../../src/api/node-attestation.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../../src/dev/agent-identity.ts';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { freePorts } from '../../src/dev/ports.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { WORKLOAD_AUDIENCE } from '../../src/protocol/workload.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { sharedControlPlane, uniqueName } from '../harness/cluster.ts';

const group = { group: 'attestor.dev', version: 'v1alpha1' };
const POLICY = 'package agent_policy\n# development mode test pods\ndefault CreateContainerRequest := true\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
const INIT_IMAGE = `registry.example/attestor@sha256:${'e7'.repeat(32)}`;

/** Node CVMs (the simulated agent's), pod VMs and the Coordinator's: both models; simulated evidence as given. */
function manifestSpec(runtimeClass: string, acceptSimulatedEvidence: boolean) {
  const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
  return {
    referenceValues: {
      snp: [
        { name: 'node-cvm', role: 'node', measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: tcb },
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
      { name: 'workers', hash: POLICY_HASH },
      { name: 'coordinator', role: 'coordinator', hash: SIMULATED_COORDINATOR_POLICY_HASH },
    ],
    runtimeClasses: [runtimeClass],
    attestation: { evidenceMaxAge: '5m', reattestationInterval: '1h' },
    development: { acceptSimulatedEvidence },
  };
}

describe('development mode: attestor operator --development-roots and attestor agent --simulated-hardware', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let custom: k8s.CustomObjectsApi;
  const ns = uniqueName('attestor-dev-mode');
  const node = `${ns}-gpu`;
  const runtimeClass = uniqueName('kata-dev-mode');
  const manifests = [uniqueName('dev-mode'), uniqueName('dev-mode-strict')];
  const dir = mkdtempSync(join(tmpdir(), 'attestor-dev-mode-'));
  const children: ChildProcess[] = [];
  let operatorOutput = '';
  let agentOutput = '';

  const start = (args: string[], onOutput: (text: string) => void) => {
    const child = spawn(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => onOutput(String(d)));
    child.stderr!.on('data', (d) => onOutput(String(d)));
    children.push(child);
    return child;
  };
  const manifest = (name: string, acceptSimulatedEvidence: boolean) =>
    custom.createClusterCustomObject({
      ...group,
      plural: 'manifests',
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'Manifest',
        metadata: { name },
        spec: manifestSpec(runtimeClass, acceptSimulatedEvidence),
      },
    });
  const attestation = async () =>
    (await custom
      .getClusterCustomObject({ ...group, plural: 'nodeattestations', name: node })
      .catch(() => undefined)) as NodeAttestation | undefined;
  const attested = (na: NodeAttestation | undefined) => na?.status?.conditions?.find((c) => c.type === 'Attested');

  let core: k8s.CoreV1Api;
  before(async () => {
    cp = await sharedControlPlane();
    const kc = cp.kubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await kc
      .makeApiClient(k8s.NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'kata' } });
    await ensureAgentServiceAccount(kc, ns);
    await cp.createGpuNode(node, { gpus: 2 });
    await manifest(manifests[0]!, true);
    const serving = await issueCertificate(cp.certificateAuthority, {
      commonName: 'attestor-coordinator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
    });
    writeFileSync(join(dir, 'tls.crt'), serving.certificatePem);
    writeFileSync(join(dir, 'tls.key'), serving.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'ca.crt'), cp.caPem);
    writeFileSync(join(dir, 'token'), await (await agentTokenSource(kc, ns, node))());
  });
  after(async () => {
    for (const child of children) child.kill('SIGTERM');
    for (const name of manifests)
      await custom.deleteClusterCustomObject({ ...group, plural: 'manifests', name }).catch(() => undefined);
    await cp
      .kubeConfig()
      .makeApiClient(k8s.CoreV1Api)
      .deleteNode({ name: node })
      .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the simulated Coordinator evidence and the hardware URL without --development-roots, and says what they need', () => {
    const r = start(
      [
        'operator',
        '--no-webhook',
        '--no-coordinator',
        '--coordinator-evidence',
        'simulated',
        '--development-hardware-url',
        'http://attestor-coordinator.attestor-system.svc:8446',
      ],
      () => undefined,
    );
    return new Promise<void>((resolve, reject) => {
      let stderr = '';
      r.stderr!.on('data', (d) => (stderr += d));
      r.once('exit', (code) => {
        try {
          assert.notEqual(code, 0);
          assert.match(stderr, /--coordinator-evidence simulated needs --development-roots/);
          assert.match(stderr, /--development-hardware-url needs --development-roots/);
          resolve();
        } catch (err) {
          reject(err);
        }
      });
    });
  });

  it("warns loudly, attests a node through the simulated agent and certifies an AI worker pod through its init's simulated pod VM while the Manifest accepts simulated evidence, and un-gates the node under one that does not", async () => {
    const [coordinatorPort, probePort, hardwarePort, agentProbePort, countersignPort] = await freePorts(5);
    start(
      [
        'operator',
        '--kubeconfig',
        cp.kubeconfigPath,
        '--namespace',
        ns,
        '--lease-name',
        `${ns}-leader`,
        '--no-webhook',
        '--probe-address',
        `127.0.0.1:${probePort}`,
        '--coordinator-address',
        `127.0.0.1:${coordinatorPort}`,
        '--tls-cert-file',
        join(dir, 'tls.crt'),
        '--tls-key-file',
        join(dir, 'tls.key'),
        '--development-roots',
        '--coordinator-evidence',
        'simulated',
        '--development-hardware-address',
        `127.0.0.1:${hardwarePort}`,
        '--development-hardware-url',
        `http://127.0.0.1:${hardwarePort}`,
        '--init-image',
        INIT_IMAGE,
        '--workload-coordinator-ca-file',
        join(dir, 'ca.crt'),
      ],
      (text) => (operatorOutput += text),
    );
    await waitFor(() => /DEVELOPMENT MODE \(--development-roots\)/.test(operatorOutput) || undefined, {
      timeoutMs: 60_000,
      description: `the development warning; operator output so far:\n${operatorOutput}`,
    });
    assert.match(operatorOutput, /"level":"warn"|"level":40/, 'a warning, not an info line');
    assert.match(operatorOutput, /never run this in production/);
    start(
      [
        'agent',
        '--coordinator',
        `https://127.0.0.1:${coordinatorPort}`,
        '--ca-file',
        join(dir, 'ca.crt'),
        '--token-file',
        join(dir, 'token'),
        '--node-name',
        node,
        '--countersign-address',
        `127.0.0.1:${countersignPort}`,
        '--kubeconfig',
        cp.kubeconfigPath,
        '--probe-address',
        `127.0.0.1:${agentProbePort}`,
        '--simulated-hardware',
        `http://127.0.0.1:${hardwarePort}`,
        '--simulated-policy-hash',
        POLICY_HASH,
        '--simulated-gpus',
        '2',
      ],
      (text) => (agentOutput += text),
    );
    const na = await waitFor(
      async () => (attested(await attestation())?.status === 'True' ? attestation() : undefined),
      {
        timeoutMs: 90_000,
        description: `node attested; operator:\n${operatorOutput}\nagent:\n${agentOutput}`,
      },
    );
    assert.equal(attested(na)!.reason, 'VerifiedSimulated');
    assert.equal(na!.status!.cvm!.simulated, true);
    assert.equal(na!.status!.cvm!.measurement, SIMULATED_SNP_MEASUREMENT);
    assert.equal(na!.status!.cvm!.policyHash, POLICY_HASH);
    assert.equal(na!.status!.gpus!.length, 2);
    assert.match(agentOutput, /DEVELOPMENT MODE: a simulated agent/);
    // The agent's /metrics (probe port) counts its countersigner's TokenReviews: a token the API
    // server does not know is one review, refused.
    const countersign = await fetch(`http://127.0.0.1:${countersignPort}/v1/countersign`, {
      method: 'POST',
      headers: { authorization: 'Bearer not-a-token', 'content-type': 'application/json' },
      body: JSON.stringify({ nonce: 'ab'.repeat(32), spki: 'AA', proof: 'a.b.c' }),
    });
    assert.equal(countersign.status, 401, await countersign.text());
    const agentMetrics = await (await fetch(`http://127.0.0.1:${agentProbePort}/metrics`)).text();
    assert.match(agentMetrics, /^# TYPE attestor_token_reviews_total counter$/m);
    assert.match(
      agentMetrics,
      /^attestor_token_reviews_total\{audience="attestor-node-agent",outcome="refused"\} 1$/m,
      agentMetrics,
    );

    // A pod-CVM AI worker pod: its attestor init, run as its pod spec says (fieldRefs resolved as the
    // kubelet would; kwok runs no containers), takes its evidence from the simulated hardware.
    await custom.createNamespacedCustomObject({
      ...group,
      plural: 'aiworkers',
      namespace: ns,
      body: {
        apiVersion: 'attestor.dev/v1alpha1',
        kind: 'AIWorker',
        metadata: { name: 'llm', namespace: ns },
        spec: {
          image: `registry.example/model@sha256:${'e8'.repeat(32)}`,
          model: 'm',
          replicas: 1,
          gpusPerReplica: 1,
          runtimeClassName: runtimeClass,
          policy: { inline: POLICY },
        },
      },
    });
    const pod = await waitFor(
      async () =>
        (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app.kubernetes.io/instance=llm' })).items.find(
          (p) => p.spec?.nodeName,
        ),
      { timeoutMs: 60_000, description: 'the AI worker pod scheduled' },
    );
    const init = pod.spec!.initContainers![0]!;
    const hardwareArg = `--simulated-hardware=http://127.0.0.1:${hardwarePort}`;
    assert.ok(init.args!.includes(hardwareArg), init.args!.join(' '));
    const fieldRef = (path: string) => {
      if (path === 'metadata.name') return pod.metadata!.name!;
      if (path === 'metadata.namespace') return pod.metadata!.namespace!;
      const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(path)?.[1];
      return annotation ? pod.metadata!.annotations![annotation]! : assert.fail(`unexpected fieldRef ${path}`);
    };
    const env = Object.fromEntries(
      init.env!.map((e) => [e.name, e.value ?? fieldRef(e.valueFrom!.fieldRef!.fieldPath)]),
    );
    assert.equal(env.ATTESTOR_SIMULATED_POLICY_HASH, POLICY_HASH, "the pod's policy hash, from its annotation");
    const token = await core.createNamespacedServiceAccountToken({
      name: pod.spec!.serviceAccountName ?? 'default',
      namespace: ns,
      body: {
        spec: {
          audiences: [WORKLOAD_AUDIENCE],
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
        },
      },
    });
    writeFileSync(join(dir, 'workload-token'), token.status!.token!);
    const out = join(dir, 'pod');
    mkdirSync(out);
    const args = init.args!.map((a) =>
      a.startsWith('--coordinator=')
        ? `--coordinator=https://127.0.0.1:${coordinatorPort}`
        : a.startsWith('--token-file=')
          ? `--token-file=${join(dir, 'workload-token')}`
          : a.startsWith('--out=')
            ? `--out=${out}`
            : a,
    );
    let initOutput = '';
    const initProcess = spawn(process.execPath, [join(projectRoot, 'src/cli/main.ts'), ...args, '--timeout=90s'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    children.push(initProcess);
    initProcess.stdout!.on('data', (d) => (initOutput += d));
    initProcess.stderr!.on('data', (d) => (initOutput += d));
    const code = await new Promise<number | null>((resolve) => initProcess.once('exit', (c) => resolve(c)));
    assert.equal(code, 0, `attestor init:\n${initOutput}\noperator:\n${operatorOutput}`);
    assert.ok(existsSync(join(out, 'cert.pem')), 'the workload certificate is written');

    // A newer Manifest that does not accept simulated evidence: the same agent is refused.
    await waitFor(async () => Date.now() - new Date(na!.status!.attestedAt!).getTime() > 1000 || undefined, {
      timeoutMs: 5000,
    });
    await manifest(manifests[1]!, false);
    const refused = await waitFor(
      async () => {
        const current = await attestation();
        return attested(current)?.status === 'False' ? current : undefined;
      },
      { timeoutMs: 90_000, description: `node refused under the strict Manifest; agent:\n${agentOutput}` },
    );
    assert.notEqual(attested(refused)!.reason, 'VerifiedSimulated');
  });
});
