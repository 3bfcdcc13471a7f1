// `attestor dev`, the embedded default, as a user runs it: it comes up, its kubeconfig works
// with kubectl, the sample AIWorker becomes Ready, kubectl cannot slip a pod past the webhook
// (the Service's labels alone, a GPU pod naming an unattested node), and Ctrl-C stops every
// process it started.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultBinDir, projectRoot } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { buildHelm, HELM_BUILD_TIMEOUT_MS } from '../harness/helm.ts';

/** PIDs of processes whose command line mentions the path. */
function processesUsing(path: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(path)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

describe('attestor dev', function () {
  const stateDir = mkdtempSync(join(tmpdir(), 'attestor-dev-test-'));
  // The dev command runs the operator with the chart's RBAC, which helm renders.
  before(async function () {
    this.timeout(HELM_BUILD_TIMEOUT_MS);
    await buildHelm();
  });
  after(() => rmSync(stateDir, { recursive: true, force: true }));

  it('runs the whole flow on a local control plane and stops everything on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [join(projectRoot, 'src/cli/main.ts'), 'dev', '--state-dir', stateDir, '--nodes', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const kubeconfig = await waitFor(() => /kubeconfig: (\S+)/.exec(output)?.[1], {
        timeoutMs: 90_000,
        description: `the kubeconfig line; output so far:\n${output}`,
      });
      assert.equal(kubeconfig, join(stateDir, 'kubeconfig'));
      const kubectl = (...args: string[]) =>
        execFileSync(join(defaultBinDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
      assert.match(kubectl('get', 'manifests,aiworkers,nodeattestations', '-A'), /manifest\.attestor\.dev\/dev/);
      await waitFor(() => /AIWorker default\/llama: ready 2\/2/.test(output), {
        timeoutMs: 90_000,
        description: `the sample AIWorker Ready; output:\n${output}`,
      });
      assert.match(
        kubectl('get', 'aiworkers', '-n', 'default', 'llama'),
        /llama\s+meta-llama\/Llama-3\.1-8B-Instruct\s+2\s+2\s+2\s+Available/,
      );
      assert.ok(processesUsing(stateDir).length >= 5, 'etcd, apiserver, controller-manager, scheduler, kwok run');

      // Issue 9's Done-when: the Coordinator and the simulated roots on lines of their own, and a
      // client's check of the Coordinator against the sample Manifest. The sample's node entries
      // enable the admin-trusted confidential-node model, hence --allow-admin-trusted.
      const coordinator = /^coordinator: (https:\/\/\S+)$/m.exec(output)?.[1];
      const roots = /^simulated roots: (\S+)$/m.exec(output)?.[1];
      assert.ok(coordinator && roots, output);
      assert.equal(roots, join(stateDir, 'simulated-roots.json'));
      await waitFor(() => /Coordinator: its own \(simulated\) CVM evidence meets/.test(output), {
        timeoutMs: 60_000,
        description: `the Coordinator's own evidence accepted; output:\n${output}`,
      });
      const verify = (...args: string[]) =>
        promisify(execFile)(
          process.execPath,
          [join(projectRoot, 'src/cli/main.ts'), 'verify', 'coordinator', '--coordinator', coordinator, ...args],
          { cwd: projectRoot },
        ).then(
          (r) => ({ code: 0, out: r.stdout }),
          (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
        );
      const sample = ['--manifest', 'samples/manifest.yaml'];
      const verified = await verify(...sample, '--simulated-roots', roots, '--allow-admin-trusted', '--json');
      assert.equal(verified.code, 0, verified.out);
      assert.match(JSON.parse(verified.out).meshCA, /^-----BEGIN CERTIFICATE-----/);
      const withoutRoots = await verify(...sample, '--allow-admin-trusted');
      assert.equal(withoutRoots.code, 1, withoutRoots.out);
      const zeros = '0'.repeat(64);
      const wrongHash = await verify('--manifest-hash', zeros, '--simulated-roots', roots, '--allow-admin-trusted');
      assert.equal(wrongHash.code, 1, wrongHash.out);
      assert.match(wrongHash.out, new RegExp(`is [0-9a-f]{64}, not the pinned ${zeros}`));
      const adminTrusted = await verify(...sample, '--simulated-roots', roots);
      assert.equal(adminTrusted.code, 1, adminTrusted.out);
      assert.match(adminTrusted.out, /\[coordinator\.admin-trusted\]/);

      // kubectl as a user would: what it is refused, and by which webhook.
      const refusedCreate = (manifest: object): string => {
        try {
          execFileSync(join(defaultBinDir, 'kubectl'), ['--kubeconfig', kubeconfig, 'create', '-f', '-'], {
            input: JSON.stringify(manifest),
            encoding: 'utf8',
            stdio: ['pipe', 'pipe', 'pipe'],
          });
        } catch (err) {
          return String((err as { stderr?: string }).stderr);
        }
        return assert.fail(`kubectl created ${JSON.stringify(manifest)}`);
      };
      // Issue 7 item 11: the labels the sample AIWorker's Service selects, on a pod that breaks every rule.
      const selector = JSON.parse(
        kubectl('get', 'service', 'llama', '-n', 'default', '-o', 'jsonpath={.spec.selector}'),
      ) as Record<string, string>;
      const impostor = refusedCreate({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'impostor', namespace: 'default', labels: selector },
        spec: { containers: [{ name: 'c', image: 'busybox' }] },
      });
      assert.match(
        impostor,
        /admission webhook "ai-worker-pods\.validate\.attestor\.dev" denied the request: .*spec\.runtimeClassName: is not set/,
      );
      // Issue 7 item 12: a node with GPUs and no agent stays unattested; a GPU pod may not name it.
      execFileSync(join(defaultBinDir, 'kubectl'), ['--kubeconfig', kubeconfig, 'create', '-f', '-'], {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Node',
          metadata: { name: 'gpu-node-unattested', annotations: { 'kwok.x-k8s.io/node': 'fake' } },
          status: {
            capacity: { 'nvidia.com/gpu': '8', cpu: '8', memory: '64Gi', pods: '110' },
            allocatable: { 'nvidia.com/gpu': '8', cpu: '8', memory: '64Gi', pods: '110' },
          },
        }),
        encoding: 'utf8',
      });
      const placed = refusedCreate({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'placed', namespace: 'default' },
        spec: {
          nodeName: 'gpu-node-unattested',
          containers: [{ name: 'c', image: 'busybox', resources: { limits: { 'nvidia.com/gpu': '1' } } }],
        },
      });
      assert.match(
        placed,
        /admission webhook "gpu-pods\.validate\.attestor\.dev" denied the request: spec\.nodeName: node "gpu-node-unattested" has no current attestation for GPU pods \(NoAttestation/,
      );
      // The node gating policy is in force: not even the cluster admin forges the attested label.
      assert.throws(
        () =>
          execFileSync(
            join(defaultBinDir, 'kubectl'),
            [
              '--kubeconfig',
              kubeconfig,
              'label',
              'node',
              'gpu-node-1',
              'attestor.dev/gpu-attested=forged',
              '--overwrite',
            ],
            { encoding: 'utf8', stdio: 'pipe' },
          ),
        (err: { stderr?: string }) =>
          /ValidatingAdmissionPolicy 'node-gating\.attestor\.dev' .*denied request: metadata\.labels\[attestor\.dev\/gpu-attested\]: only the attestor operator may set this label/.test(
            String(err.stderr),
          ),
      );
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, output);
    assert.match(output, /stopped\n$/);
    assert.deepEqual(processesUsing(stateDir), [], 'no process of the session is left');
    assert.ok(existsSync(join(stateDir, 'logs', 'operator.log')));
  });
});
