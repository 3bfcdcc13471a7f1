// `attestor dev`, the embedded default, as a user runs it: it comes up, its kubeconfig works
// with kubectl, the sample AIWorker (pod-CVM model) becomes Ready and each of its pods gets a
// workload certificate through its (local, simulated) `attestor init`, a client verifies the
// Coordinator, kubectl cannot slip a pod past the webhook (the Service's labels alone), and Ctrl-C
// stops every process it started.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
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
      assert.ok(processesUsing(stateDir).length >= 5, 'etcd, apiserver, controller-manager, scheduler, kwok run');

      // Issue 9's Done-when: the Coordinator and the simulated roots on lines of their own, and a
      // client's check of the Coordinator against the sample Manifest. The sample enables the
      // pod-CVM model only (no node entries), so nothing admin-trusted needs accepting.
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
      const verified = await verify(...sample, '--simulated-roots', roots, '--json');
      assert.equal(verified.code, 0, verified.out);
      const meshCa = JSON.parse(verified.out).meshCA as string;
      assert.match(meshCa, /^-----BEGIN CERTIFICATE-----/);
      assert.match(output, /--simulated-roots \S+\n/, 'the printed hint has no --allow-admin-trusted');
      const withoutRoots = await verify(...sample);
      assert.equal(withoutRoots.code, 1, withoutRoots.out);
      const zeros = '0'.repeat(64);
      const wrongHash = await verify('--manifest-hash', zeros, '--simulated-roots', roots);
      assert.equal(wrongHash.code, 1, wrongHash.out);
      assert.match(wrongHash.out, new RegExp(`is [0-9a-f]{64}, not the pinned ${zeros}`));

      // Every sample pod certified through its attestor init: attestedReplicas counts them, an
      // Event WorkloadCertified for each, and the files on its volume chain to the mesh CA the
      // client just verified (openssl, as a TLS peer would check them).
      await waitFor(() => /AIWorker default\/llama: ready 2\/2, attested 2/.test(output), {
        timeoutMs: 90_000,
        description: `both sample pods certified; output:\n${output}`,
      });
      assert.match(
        kubectl('get', 'aiworkers', '-n', 'default', 'llama'),
        /llama\s+meta-llama\/Llama-3\.1-8B-Instruct\s+2\s+2\s+2\s+Available/,
      );
      const pods = kubectl('get', 'pods', '-n', 'default', '-o', 'jsonpath={.items[*].metadata.name}').split(' ');
      assert.equal(pods.length, 2);
      const certified = await waitFor(
        () => {
          const events = kubectl(
            'get',
            'events',
            '-n',
            'default',
            '--field-selector',
            'reason=WorkloadCertified',
            '-o',
            'jsonpath={.items[*].involvedObject.name}',
          );
          return pods.every((p) => events.split(' ').includes(p)) ? events : undefined;
        },
        { timeoutMs: 30_000, description: 'a WorkloadCertified Event for each pod' },
      );
      assert.ok(certified);
      for (const pod of pods) {
        const dir = join(stateDir, 'pods', 'default', pod);
        assert.equal(readFileSync(join(dir, 'mesh-ca.pem'), 'utf8'), meshCa, `${pod}: the verified mesh CA`);
        assert.equal(statSync(join(dir, 'key.pem')).mode & 0o777, 0o400);
        const chained = execFileSync(
          'openssl',
          [
            'verify',
            '-partial_chain',
            '-CAfile',
            join(dir, 'mesh-ca.pem'),
            '-purpose',
            'sslserver',
            join(dir, 'cert.pem'),
          ],
          { encoding: 'utf8' },
        );
        assert.match(chained, /cert\.pem: OK/);
        const text = execFileSync('openssl', ['x509', '-in', join(dir, 'cert.pem'), '-noout', '-text'], {
          encoding: 'utf8',
        });
        assert.match(
          text,
          /DNS:llama, DNS:llama\.default, DNS:llama\.default\.svc, DNS:llama\.default\.svc\.cluster\.local/,
        );
        assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
      }
      assert.match(
        kubectl('get', 'pods', '-n', 'default', pods[0]!, '-o', 'jsonpath={.spec.initContainers[0].name}'),
        /^attestor-init$/,
      );

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
      // Under the pod-CVM model GPU nodes are not gated: no taint (the pods are gated by their own
      // evidence). The node-CVM flow (agents, gating, the nodeName check) is the cluster tests'.
      await waitFor(
        () => !/attestor\.dev\/unattested/.test(kubectl('get', 'node', 'gpu-node-1', '-o', 'jsonpath={.spec.taints}')),
        {
          timeoutMs: 30_000,
          description: 'gpu-node-1 without the unattested taint',
        },
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
