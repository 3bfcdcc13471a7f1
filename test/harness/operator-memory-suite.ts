/**
 * The operator's memory over a churn (issue 12, fault 6): a real `attestor operator` process (its
 * Coordinator in development mode, signing the simulated hardware's evidence) while, round after
 * round, every node's agent attests again, one node is deleted and a new one (new GPUs, new agent)
 * takes its place, and every AIWorker is updated (replicas and model). Its RSS is read from
 * /proc/<pid>/status every few seconds and printed as a trend.
 *
 * Flat means: after a warm-up (the first fifth of the run: caches, JIT, V8's heap growing to its
 * working size), the high-water mark of the last third of the samples (their 90th percentile) is
 * within CHURN_RSS_TOLERANCE of the first third's. Not medians: V8's RSS swings by a fifth and more
 * as its heap grows and is collected (250 to 370 MB in a 10-minute run here, a collection every few
 * minutes), so a median depends on where the collections fall; a leak raises the high-water mark,
 * which the 90th percentile follows while ignoring a single spike. Thirds, so that a leak shows as
 * a trend. A leak of per-node state (nonces, grants, rate limiters, identities held, Event limits)
 * or of per-round objects grows with the rounds, which keep coming at the same pace through the
 * run (hundreds of attestations, tens of replaced nodes): a few hundred KB per round shows as more
 * than the tolerance.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { NodeAgent } from '../../src/agent/agent.ts';
import { CoordinatorClient } from '../../src/agent/coordinator-client.ts';
import { RemoteSimulatedCvmSource, RemoteSimulatedGpuControl } from '../../src/agent/evidence/remote-simulated.ts';
import {
  SIMULATED_COORDINATOR_MEASUREMENT,
  SIMULATED_COORDINATOR_POLICY_HASH,
  SIMULATED_SNP_MEASUREMENT,
} from '../../src/agent/evidence/simulated.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../../src/dev/agent-identity.ts';
import { type ControlPlane, projectRoot } from '../../src/dev/control-plane.ts';
import { freePorts } from '../../src/dev/ports.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { silentLogger } from '../../src/observability/log.ts';
import { issueCertificate } from '../../src/tls/certificates.ts';
import { sharedControlPlane, uniqueName } from './cluster.ts';

const GROUP = { group: 'attestor.dev', version: 'v1alpha1' };
const POLICY = 'package agent_policy\n# operator memory churn\ndefault CreateContainerRequest := true\n';
const POLICY_HASH = createHash('sha256').update(POLICY).digest('hex');
/** Nodes attested in every round. */
const STEADY_NODES = 6;
const AIWORKERS = 4;
const SAMPLE_INTERVAL_MS = 2000;
/** How far the last third's median RSS may be above the first third's, after the warm-up. */
export const CHURN_RSS_TOLERANCE = 0.15;

/** RSS of a process in bytes, from /proc. */
function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? Number.NaN) * 1024;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function p90(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]!;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

export function describeOperatorMemory(minutes: number): void {
  describe(`operator memory over a ${minutes}-minute churn of node attestations and AIWorker updates`, function () {
    this.timeout(180_000 + minutes * 60_000 * 1.5);
    let cp: ControlPlane;
    let kc: k8s.KubeConfig;
    let core: k8s.CoreV1Api;
    let custom: k8s.CustomObjectsApi;
    let operator: ChildProcess;
    let operatorOutput = '';
    let coordinatorUrl: string;
    let hardwareUrl: string;
    const ns = uniqueName('attestor-churn');
    const manifestName = uniqueName('churn');
    const runtimeClass = uniqueName('kata-churn');
    const dir = mkdtempSync(join(tmpdir(), 'attestor-churn-'));
    const nodes = new Set<string>();
    const clients: CoordinatorClient[] = [];
    let nodeCounter = 0;

    before(async () => {
      cp = await sharedControlPlane();
      kc = cp.kubeConfig();
      core = kc.makeApiClient(k8s.CoreV1Api);
      custom = kc.makeApiClient(k8s.CustomObjectsApi);
      await core.createNamespace({ body: { metadata: { name: ns } } });
      await kc
        .makeApiClient(k8s.NodeV1Api)
        .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'kata' } });
      await ensureAgentServiceAccount(kc, ns);
      const tcb = { bootloader: 0, tee: 0, snp: 0, microcode: 0 };
      await custom.createClusterCustomObject({
        ...GROUP,
        plural: 'manifests',
        body: {
          apiVersion: 'attestor.dev/v1alpha1',
          kind: 'Manifest',
          metadata: { name: manifestName },
          spec: {
            referenceValues: {
              snp: [
                { name: 'node-cvm', role: 'node', measurements: [SIMULATED_SNP_MEASUREMENT], minimumTCB: tcb },
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
            development: { acceptSimulatedEvidence: true },
          },
        },
      });
      const serving = await issueCertificate(cp.certificateAuthority, {
        commonName: 'attestor-coordinator',
        usage: 'server',
        ipAddresses: ['127.0.0.1'],
      });
      writeFileSync(join(dir, 'tls.crt'), serving.certificatePem);
      writeFileSync(join(dir, 'tls.key'), serving.privateKeyPem, { mode: 0o600 });
      const [coordinatorPort, probePort, hardwarePort] = await freePorts(3);
      coordinatorUrl = `https://127.0.0.1:${coordinatorPort}`;
      hardwareUrl = `http://127.0.0.1:${hardwarePort}`;
      operator = spawn(
        process.execPath,
        [
          join(projectRoot, 'src/cli/main.ts'),
          'operator',
          '--kubeconfig',
          cp.kubeconfigPath,
          '--namespace',
          ns,
          '--lease-name',
          `${ns}-leader`,
          '--no-webhook',
          '--log-level',
          'warn',
          '--probe-address',
          `127.0.0.1:${probePort}`,
          '--coordinator-address',
          `127.0.0.1:${coordinatorPort}`,
          '--tls-cert-file',
          join(dir, 'tls.crt'),
          '--tls-key-file',
          join(dir, 'tls.key'),
          '--agent-service-account',
          `system:serviceaccount:${ns}:attestor-agent`,
          // Each agent comes back every round: lift the per-node request limit off the path.
          '--agent-request-rate',
          '1000/10ms',
          '--development-roots',
          '--coordinator-evidence',
          'simulated',
          '--development-hardware-address',
          `127.0.0.1:${hardwarePort}`,
          '--development-hardware-url',
          hardwareUrl,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const keep = (d: Buffer) => {
        operatorOutput = (operatorOutput + String(d)).slice(-20_000);
      };
      operator.stdout!.on('data', keep);
      operator.stderr!.on('data', keep);
      await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${probePort}/readyz`).catch(() => undefined);
          return res?.ok;
        },
        { timeoutMs: 90_000, description: 'the operator ready' },
      ).catch((err: Error) => assert.fail(`${err.message}; operator output:\n${operatorOutput}`));
      for (let i = 0; i < AIWORKERS; i++)
        await custom.createNamespacedCustomObject({
          ...GROUP,
          plural: 'aiworkers',
          namespace: ns,
          body: {
            apiVersion: 'attestor.dev/v1alpha1',
            kind: 'AIWorker',
            metadata: { name: `llm-${i}`, namespace: ns },
            spec: {
              image: `registry.example/model@sha256:${'e8'.repeat(32)}`,
              model: 'm-0',
              replicas: 1,
              gpusPerReplica: 1,
              runtimeClassName: runtimeClass,
              deploymentModel: 'confidential-node',
              policy: { inline: POLICY },
            },
          },
        });
    });

    after(async () => {
      for (const c of clients) await c.close();
      if (operator && operator.exitCode === null) {
        const exited = new Promise((resolve) => operator.once('exit', resolve));
        operator.kill('SIGTERM');
        await exited;
      }
      await custom
        ?.deleteClusterCustomObject({ ...GROUP, plural: 'manifests', name: manifestName })
        .catch(() => undefined);
      for (const name of nodes) await core?.deleteNode({ name }).catch(() => undefined);
      await kc
        ?.makeApiClient(k8s.NodeV1Api)
        .deleteRuntimeClass({ name: runtimeClass })
        .catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    });

    /** A new GPU node and its agent (new GPUs, new key). */
    async function newNode(): Promise<{ name: string; agent: NodeAgent }> {
      const name = `${ns}-n${nodeCounter++}`;
      await cp.createGpuNode(name, { gpus: 2 });
      nodes.add(name);
      const client = new CoordinatorClient(coordinatorUrl, cp.caPem, await agentTokenSource(kc, ns, name));
      clients.push(client);
      const agent = new NodeAgent({
        nodeName: name,
        client,
        cvm: new RemoteSimulatedCvmSource(hardwareUrl, { platform: 'snp', policyHash: POLICY_HASH }),
        gpus: new RemoteSimulatedGpuControl(hardwareUrl, 2),
        log: silentLogger,
      });
      return { name, agent };
    }

    let retried = 0;
    /** A round, again after a transport error (a keep-alive connection the server closed as it was reused), as `agent.run` does. */
    async function attestRetrying(agent: NodeAgent) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await agent.attestOnce();
        } catch (err) {
          if (attempt === 3) throw err;
          retried++;
        }
      }
    }

    it('keeps its RSS flat: the high-water mark of the last third of the run within the bound of the first third, after warm-up', async () => {
      const fleet: Array<{ name: string; agent: NodeAgent }> = [];
      for (let i = 0; i < STEADY_NODES; i++) fleet.push(await newNode());
      const samples: Array<{ atMs: number; rss: number }> = [];
      const started = Date.now();
      const sample = () => samples.push({ atMs: Date.now() - started, rss: rssOf(operator.pid!) });
      sample();
      const sampler = setInterval(sample, SAMPLE_INTERVAL_MS);
      let rounds = 0;
      let attestations = 0;
      let replaced = 0;
      try {
        while (Date.now() - started < minutes * 60_000) {
          assert.equal(operator.exitCode, null, `the operator exited; output:\n${operatorOutput}`);
          // Every node attests again (in parallel, as a fleet does).
          const outcomes = await Promise.all(fleet.map((n) => attestRetrying(n.agent)));
          for (const [i, o] of outcomes.entries())
            assert.ok(o.accepted && o.activated, `${fleet[i]!.name}: ${JSON.stringify(o)}`);
          attestations += outcomes.length;
          // One node leaves the cluster and a new one joins.
          const gone = fleet.shift()!;
          await core.deleteNode({ name: gone.name });
          nodes.delete(gone.name);
          fleet.push(await newNode());
          replaced++;
          // Every AIWorker changes.
          for (let i = 0; i < AIWORKERS; i++)
            await custom.patchNamespacedCustomObject(
              {
                ...GROUP,
                plural: 'aiworkers',
                namespace: ns,
                name: `llm-${i}`,
                body: { spec: { replicas: 1 + (rounds % 2), model: `m-${rounds}` } },
              },
              k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
            );
          rounds++;
        }
      } finally {
        clearInterval(sampler);
      }
      sample();

      const warmUpMs = minutes * 60_000 * 0.2;
      const measured = samples.filter((s) => s.atMs >= warmUpMs);
      const third = Math.floor(measured.length / 3);
      const first = p90(measured.slice(0, third).map((s) => s.rss));
      const last = p90(measured.slice(-third).map((s) => s.rss));
      const perMinute = new Map<number, number[]>();
      for (const s of samples)
        perMinute.set(Math.floor(s.atMs / 60_000), [...(perMinute.get(Math.floor(s.atMs / 60_000)) ?? []), s.rss]);
      console.log(
        `      operator RSS over ${minutes} min: ${rounds} rounds, ${attestations} attestations, ${replaced} nodes replaced, ${rounds * AIWORKERS} AIWorker updates, ${retried} rounds retried after a transport error`,
      );
      console.log(
        `      RSS median per minute (MB): ${[...perMinute.entries()].map(([m, v]) => `${m}:${mb(median(v))}`).join(' ')}`,
      );
      console.log(
        `      after warm-up, 90th percentile: first third ${mb(first)} MB, last third ${mb(last)} MB (${(((last - first) / first) * 100).toFixed(1)}%; bound +${CHURN_RSS_TOLERANCE * 100}%), peak ${mb(Math.max(...samples.map((s) => s.rss)))} MB`,
      );
      assert.ok(third >= 2, `enough samples after warm-up (${measured.length})`);
      assert.ok(attestations >= STEADY_NODES * 3, `the churn ran (${attestations} attestations)`);
      assert.ok(
        last <= first * (1 + CHURN_RSS_TOLERANCE),
        `RSS grew from ${mb(first)} MB to ${mb(last)} MB, more than ${CHURN_RSS_TOLERANCE * 100}%`,
      );
    });
  });
}
