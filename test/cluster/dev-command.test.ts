// `attestor dev`, the embedded default, as a user runs it: it comes up, its kubeconfig works
// with kubectl, the sample AIWorker (pod-CVM model) becomes Ready and each of its pods gets a
// workload certificate through its (local, simulated) `attestor init`, a client verifies the
// Coordinator, kubectl cannot slip a pod past the webhook (the Service's labels alone), and Ctrl-C
// stops every process it started. And the encrypted inference chain it runs (issue 10): curl and the
// official openai client through the printed proxy URL, the printed `proxy command:` refusing a
// wrong Manifest hash and serving as printed, and a prompt's marker that reaches the model server
// and the client only: no Kubernetes object, Event, log, file of the state directory or etcd (the
// cluster's, the secret store's) holds it.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { defaultBinDir, projectRoot } from '../../src/dev/control-plane.ts';
import { waitFor } from '../../src/dev/wait.ts';
import { type ModelServer, startModelServer } from '../../src/model-server/server.ts';
import { SECRET_KEY_PREFIX } from '../../src/secrets/secret-service.ts';
import { buildHelm, HELM_BUILD_TIMEOUT_MS } from '../harness/helm.ts';
import { everyListableObject, filesContaining } from '../harness/plaintext-search.ts';

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
        kubectl(
          'get',
          'pods',
          '-n',
          'default',
          pods[0]!,
          '-o',
          'jsonpath={.spec.initContainers[*].name} {.spec.initContainers[*].restartPolicy}',
        ),
        /^attestor-init attestor-renew attestor-worker-proxy Always Always$/,
        'attestor init, its renewer, then the worker-proxy sidecar (dev runs them as local processes: one renewer per pod)',
      );
      assert.match(
        kubectl('get', 'service', '-n', 'default', 'llama', '-o', 'jsonpath={.spec.ports[*].targetPort}'),
        /^https$/,
        "the Service targets only the worker proxy's TLS port",
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

  describe('the encrypted inference chain', function () {
    this.timeout(300_000);
    const chainDir = mkdtempSync(join(tmpdir(), 'attestor-dev-chain-'));
    const marker = `attestor-marker-${Math.random().toString(36).slice(2)}`;
    const seen: string[] = [];
    let model: ModelServer;
    let child: ReturnType<typeof spawn>;
    let exited: Promise<number | null>;
    let output = '';
    let proxyUrl: string;
    let proxyCommand: string[];
    let curlExample: string;
    /** What the clients got back, to show the marker came back to them. */
    const clientOutput: string[] = [];

    before(async () => {
      // --upstream: a model server the test watches stands in for the embedded one.
      model = await startModelServer({
        host: '127.0.0.1',
        onRequest: (_p, body) => seen.push(JSON.stringify(body) ?? ''),
      });
      child = spawn(
        process.execPath,
        [
          join(projectRoot, 'src/cli/main.ts'),
          'dev',
          '--state-dir',
          chainDir,
          '--nodes',
          '1',
          '--upstream',
          model.url.replace(/\/v1$/, ''),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout!.on('data', (d) => (output += d));
      child.stderr!.on('data', (d) => (output += d));
      exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      proxyUrl = await waitFor(() => /^proxy: (http:\/\/127\.0\.0\.1:\d+\/v1)$/m.exec(output)?.[1], {
        timeoutMs: 180_000,
        description: 'the proxy: line',
      }).catch((err: Error) => assert.fail(`${err.message}; output so far:\n${output}`));
      curlExample = await waitFor(() => /^curl example: (curl .+)$/m.exec(output)?.[1], {
        timeoutMs: 30_000,
        description: 'the curl example',
      });
      const command = /^proxy command: attestor (proxy .+)$/m.exec(output)?.[1];
      assert.ok(command, output);
      proxyCommand = command.split(' ');
    });
    after(async () => {
      if (child && child.exitCode === null) child.kill('SIGINT');
      await exited;
      await model?.close();
      rmSync(chainDir, { recursive: true, force: true });
    });

    const curl = async (args: string[]) =>
      (await promisify(execFile)('curl', ['-sS', '--fail-with-body', ...args])).stdout;
    const chat = (content: string, stream = false) => [
      `${proxyUrl}/chat/completions`,
      '-H',
      'content-type: application/json',
      '-d',
      JSON.stringify({ model: 'attestor-echo', stream, messages: [{ role: 'user', content }] }),
    ];

    it('prints proxy:, proxy command: with --coordinator, --endpoint (a worker proxy), --secret-service, --manifest-hash and --simulated-roots, and a curl example that works as pasted', async () => {
      const command = proxyCommand.join(' ');
      assert.match(command, /--coordinator https:\/\/127\.0\.0\.1:\d+ /);
      assert.match(command, /--endpoint https:\/\/127\.0\.0\.1:\d+ /);
      assert.match(command, /--secret-service https:\/\/127\.0\.0\.1:\d+ /);
      assert.match(command, /--manifest-hash [0-9a-f]{64} /);
      assert.ok(command.endsWith(`--simulated-roots ${join(chainDir, 'simulated-roots.json')}`), command);
      const pasted = await promisify(execFile)('bash', ['-c', curlExample]);
      const answer = JSON.parse(pasted.stdout);
      assert.equal(answer.object, 'chat.completion');
      assert.equal(answer.choices[0].message.content, 'You said: Hello');
    });

    it('curl to the proxy URL gets a chat completion, and with "stream": true server-sent events that end with data: [DONE]', async () => {
      const answer = await curl(chat(`Say ${marker}`));
      clientOutput.push(answer);
      assert.match(JSON.parse(answer).choices[0].message.content, new RegExp(marker));
      const stream = await curl(['-N', ...chat(`Stream ${marker}`, true)]);
      clientOutput.push(stream);
      const events = stream.split('\n\n').filter((e) => e.trim().length > 0);
      assert.ok(events.length > 2, stream);
      assert.equal(events.at(-1), 'data: [DONE]');
      const text = events
        .slice(0, -1)
        .map((e) => JSON.parse(e.replace(/^data: /, '')).choices[0]?.delta?.content ?? '')
        .join('');
      assert.match(text, new RegExp(marker));
    });

    it('the official openai client against the printed URL gets chat, a stream, completions, embeddings and models', async () => {
      const client = new OpenAI({ baseURL: proxyUrl, apiKey: 'unused', maxRetries: 0 });
      const answer = await client.chat.completions.create({
        model: 'attestor-echo',
        messages: [{ role: 'user', content: `Openai ${marker}` }],
      });
      clientOutput.push(JSON.stringify(answer));
      assert.match(answer.choices[0]!.message.content ?? '', new RegExp(marker));
      const stream = await client.chat.completions.create({
        model: 'attestor-echo',
        stream: true,
        messages: [{ role: 'user', content: 'count to three' }],
      });
      let streamed = '';
      for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(streamed, 'You said: count to three');
      const completion = await client.completions.create({ model: 'attestor-echo', prompt: 'once upon' });
      assert.match(completion.choices[0]!.text, /once upon/);
      const embedding = await client.embeddings.create({ model: 'attestor-echo', input: ['a', 'b'] });
      assert.equal(embedding.data.length, 2);
      assert.ok(embedding.data[0]!.embedding.length > 0);
      const models = await client.models.list();
      assert.deepEqual(
        models.data.map((m) => m.id),
        ['attestor-echo'],
      );
    });

    it('the printed proxy command exits 1 naming the mismatch with a wrong --manifest-hash, and serves as printed', async () => {
      const main = [join(projectRoot, 'src/cli/main.ts'), ...proxyCommand];
      const zeros = '0'.repeat(64);
      const wrong = main.map((a, i) => (main[i - 1] === '--manifest-hash' ? zeros : a));
      const refused = await promisify(execFile)(process.execPath, wrong, { cwd: projectRoot }).then(
        () => assert.fail('attestor proxy served with a wrong --manifest-hash'),
        (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
      );
      assert.equal(refused.code, 1, refused.out);
      assert.match(refused.out, new RegExp(`is [0-9a-f]{64}, not the pinned ${zeros}`));

      const proxy = spawn(process.execPath, main, { cwd: projectRoot, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      proxy.stdout!.on('data', (d) => (out += d));
      proxy.stderr!.on('data', (d) => (out += d));
      const done = new Promise<number | null>((resolve) => proxy.once('exit', (code) => resolve(code)));
      try {
        const url = await waitFor(() => /^proxy: (http:\/\/\S+)$/m.exec(out)?.[1], {
          timeoutMs: 60_000,
          description: 'attestor proxy serving',
        }).catch((err: Error) => assert.fail(`${err.message}; output so far:\n${out}`));
        assert.match(out, /^verified: the Coordinator runs Manifest [0-9a-f]{64}$/m);
        const answer = JSON.parse(
          await curl([
            `${url}/chat/completions`,
            '-H',
            'content-type: application/json',
            '-d',
            JSON.stringify({ model: 'attestor-echo', messages: [{ role: 'user', content: 'from the proxy command' }] }),
          ]),
        );
        assert.equal(answer.choices[0].message.content, 'You said: from the proxy command');
      } finally {
        proxy.kill('SIGTERM');
      }
      assert.equal(await done, 0, out);
    });

    it('the marker reached the model server and came back to the client, and is nowhere the admin can look: no Kubernetes object or Event, no log, no file of the state directory, no key or value of either etcd', async () => {
      assert.ok(
        seen.some((b) => b.includes(marker)),
        "the model server's input holds the marker",
      );
      assert.ok(
        clientOutput.some((o) => o.includes(marker)),
        "the client's output holds the marker",
      );
      const objects = await everyListableObject(join(chainDir, 'kubeconfig'));
      assert.ok(objects.includes('WorkloadCertified'), 'the dump holds the Events (it is the whole API)');
      assert.ok(objects.includes('"name": "secret-service"'), 'the dump holds the secret-service pod');
      assert.ok(!objects.includes(marker), 'the marker in a Kubernetes object or Event');

      // Stop dev, so that every log is flushed and both etcds have written their files.
      child.kill('SIGINT');
      assert.equal(await exited, 0, output);
      assert.ok(!output.includes(marker), "the marker in dev's output");
      // The search reaches both etcds' data: the cluster's holds the Events, the secret store's its keys.
      assert.ok(
        filesContaining(join(chainDir, 'etcd'), 'WorkloadCertified').length > 0,
        "the cluster's etcd data holds the Events",
      );
      assert.ok(
        filesContaining(join(chainDir, 'secret-store', 'data'), SECRET_KEY_PREFIX).length > 0,
        "the secret store's etcd data holds the secrets' keys",
      );
      assert.deepEqual(filesContaining(chainDir, marker), [], 'files of the state directory holding the marker');
    });
  });
});
