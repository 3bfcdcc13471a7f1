// The chart's development mode on the real control plane: `attestor operator --development-roots`
// generates simulated roots in memory and says so loudly, and `attestor agent --simulated-hardware`
// (the simulated agent the chart runs in development mode) attests a GPU node with evidence the
// operator's simulated hardware signs, while the active Manifest accepts simulated evidence; a
// newer Manifest that does not accept it un-gates the node. Both are real processes, as in a cluster.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { SIMULATED_SNP_MEASUREMENT } from '../../src/agent/evidence/simulated.ts';
import type { NodeAttestation } from '../../src/api/node-attestation.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../../src/dev/agent-identity.ts';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { freePorts } from '../../src/dev/ports.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { sharedControlPlane, uniqueName } from '../harness/cluster.ts';
import { simulatedManifestSpec } from '../harness/simulated-manifest.ts';

const group = { group: 'attestor.dev', version: 'v1alpha1' };
const POLICY_HASH = 'a10c2384ef9e82c8173fec3306712631a56d341c34e8dfd030c5654754b93d4f';

describe('development mode: attestor operator --development-roots and attestor agent --simulated-hardware', function () {
  this.timeout(180_000);
  let cp: ControlPlane;
  let custom: k8s.CustomObjectsApi;
  const ns = uniqueName('attestor-dev-mode');
  const node = `${ns}-gpu`;
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
        spec: {
          ...simulatedManifestSpec({ policyHash: POLICY_HASH, runtimeClasses: ['kata-qemu-nvidia-gpu-snp'] }),
          development: { acceptSimulatedEvidence },
        },
      },
    });
  const attestation = async () =>
    (await custom
      .getClusterCustomObject({ ...group, plural: 'nodeattestations', name: node })
      .catch(() => undefined)) as NodeAttestation | undefined;
  const attested = (na: NodeAttestation | undefined) => na?.status?.conditions?.find((c) => c.type === 'Attested');

  before(async () => {
    cp = await sharedControlPlane();
    const kc = cp.kubeConfig();
    custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
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

  it('warns loudly, attests a node through the simulated agent while the Manifest accepts simulated evidence, and un-gates it under one that does not', async () => {
    const [coordinatorPort, probePort, hardwarePort, agentProbePort] = await freePorts(4);
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
        '--no-countersign',
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
