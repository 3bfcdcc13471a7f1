/**
 * `attestor dev`: the embedded default. Starts a local control plane (no cluster needed), installs
 * the CRDs, runs the operator, creates fake GPU nodes, applies samples/ and tells what happens,
 * until interrupted; then it stops every process it started.
 */

import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Command } from 'commander';
import { NodeAgent } from '../agent/agent.ts';
import { CoordinatorClient } from '../agent/coordinator-client.ts';
import { createSimulatedPlatform, SimulatedCvmSource, SimulatedGpuControl } from '../agent/evidence/simulated.ts';
import { enabledModels } from '../api/deployment-model.ts';
import type { Manifest } from '../api/manifest.ts';
import { readManifestDocument } from '../api/manifest-document.ts';
import { policyHashesForRole } from '../api/manifest-roles.ts';
import { simulatedRootsFile } from '../client/simulated-roots.ts';
import { agentTokenSource, ensureAgentServiceAccount } from '../dev/agent-identity.ts';
import { applyYaml } from '../dev/apply.ts';
import { ControlPlane, projectRoot } from '../dev/control-plane.ts';
import {
  type DevInferenceChain,
  rolePolicy,
  SECRET_SERVICE_POD,
  startDevInferenceChain,
} from '../dev/inference-chain.ts';
import { installCrds } from '../dev/install.ts';
import { localCoordinatorOptions } from '../dev/local-coordinator.ts';
import { narrate } from '../dev/narrator.ts';
import { operatorKubeConfig, operatorUsername } from '../dev/operator-identity.ts';
import { runDevPodInits } from '../dev/pod-init.ts';
import { waitFor } from '../dev/wait.ts';
import { errorMessage } from '../errors.ts';
import { createLogger } from '../observability/log.ts';
import { startOperator } from '../operator/operator.ts';
import { issueCertificate } from '../tls/certificates.ts';
import { installWebhookConfigurations } from '../webhook/configuration-installer.ts';
import { installNodeGatingPolicy } from '../webhook/node-policy.ts';
import { positiveIntOption } from './options.ts';

interface DevOptions {
  stateDir: string;
  nodes: number;
  gpus: number;
  samples: string;
  exitWhenReady: boolean;
  timeout: number;
  upstream?: string;
}

export const OPERATOR_NAMESPACE = 'attestor-system';
/** The `attestor init` image dev's pod-CVM pods name (kwok runs nothing; dev runs init itself, pod-init.ts). */
export const DEV_INIT_IMAGE = `registry.example/attestor@sha256:${'0'.repeat(64)}`;

export function devCommand(): Command {
  return new Command('dev')
    .description('run attestor on a local control plane with simulated GPU nodes (no cluster needed)')
    .option(
      '--state-dir <dir>',
      'where the cluster state, logs and kubeconfig go (wiped at start)',
      join(projectRoot, '.state', 'dev'),
    )
    .option('--nodes <n>', 'fake GPU nodes to create', positiveIntOption, 2)
    .option('--gpus <n>', 'GPUs per node', positiveIntOption, 8)
    .option('--samples <dir>', 'YAML files to apply once the operator runs', join(projectRoot, 'samples'))
    .option('--exit-when-ready', 'exit 0 once every sample AIWorker is Ready (for smoke tests), 1 on timeout', false)
    .option('--timeout <seconds>', 'with --exit-when-ready: how long to wait', positiveIntOption, 180)
    .option(
      '--upstream <url>',
      "the OpenAI-compatible model server the worker proxies forward to, plain HTTP (e.g. a local vLLM's http://127.0.0.1:8000); default the embedded deterministic one",
    )
    .action(async (opts: DevOptions) => {
      process.exitCode = await runDev(opts);
    });
}

export async function runDev(opts: DevOptions): Promise<number> {
  const print = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  /** A line of its own, without the time, for scripts to read (`coordinator: <URL>`). */
  const printBare = (line: string) => process.stdout.write(`${line}\n`);
  const stateDir = resolve(opts.stateDir);
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  print(`starting the local control plane in ${stateDir}`);
  const cluster = await ControlPlane.start({ dataDir: stateDir, log: print });
  const stops: Array<() => Promise<unknown>> = [() => cluster.stop()];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const kubeConfig = cluster.kubeConfig();
    await installCrds(kubeConfig);
    print('installed CRDs: manifests, aiworkers, nodeattestations (attestor.dev/v1alpha1)');
    const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: OPERATOR_NAMESPACE } } });

    const logFile = join(stateDir, 'logs', 'operator.log');
    const log = createLogger({ destination: createWriteStream(logFile, { flags: 'a' }) });
    print('generating simulated AMD, Intel and NVIDIA roots (development only)');
    const platform = await createSimulatedPlatform();
    // Their certificates (no keys), for `attestor verify coordinator --simulated-roots`.
    const rootsFile = join(stateDir, 'simulated-roots.json');
    writeFileSync(
      rootsFile,
      simulatedRootsFile({
        snp: [platform.snp.rootSet],
        tdx: platform.tdx.roots,
        ...(platform.collateral.tdx ? { tdxCollateral: platform.collateral.tdx } : {}),
        ...(platform.trust.gpu ? { gpu: platform.trust.gpu } : {}),
      }),
    );
    const serving = await issueCertificate(cluster.certificateAuthority, {
      commonName: 'attestor-operator',
      usage: 'server',
      ipAddresses: ['127.0.0.1'],
      dnsNames: ['localhost'],
    });
    const tlsDir = join(stateDir, 'pki');
    writeFileSync(join(tlsDir, 'operator.crt'), serving.certificatePem);
    writeFileSync(join(tlsDir, 'operator.key'), serving.privateKeyPem, { mode: 0o600 });
    await ensureAgentServiceAccount(kubeConfig, OPERATOR_NAMESPACE);
    // The operator runs as its service account with the chart's RBAC, as in a real cluster.
    const operatorConfig = await operatorKubeConfig(kubeConfig, cluster.binDir, OPERATOR_NAMESPACE);
    print(`operator identity: ${operatorUsername(OPERATOR_NAMESPACE)} with the RBAC of charts/attestor`);
    // Pod-CVM pods (AI workers, the secret service and its store) get attestor init, which dev runs itself.
    const workloadSettings = {
      initImage: DEV_INIT_IMAGE,
      coordinatorUrl: `https://attestor-coordinator.${OPERATOR_NAMESPACE}.svc:8443`,
      coordinatorCaPem: cluster.caPem,
      // The worker-proxy sidecar of each AI worker pod names the chain's secret service as a
      // cluster would (dev runs the worker proxies itself: inference-chain.ts).
      secretServiceUrl: `https://${SECRET_SERVICE_POD}.${OPERATOR_NAMESPACE}.svc:8443`,
    };
    const operator = startOperator({
      kubeConfig: operatorConfig,
      log,
      namespace: OPERATOR_NAMESPACE,
      leaderElect: true,
      probe: { host: '127.0.0.1', port: 0 },
      coordinator: localCoordinatorOptions(serving, platform, OPERATOR_NAMESPACE),
      // Pod-CVM AI worker pods get attestor init (dev runs it as a local process: pod-init.ts).
      workload: workloadSettings,
      webhook: {
        host: '127.0.0.1',
        port: 0,
        tls: { certFile: join(tlsDir, 'operator.crt'), keyFile: join(tlsDir, 'operator.key') },
        // Only the API server holds a certificate from this CA (its AdmissionConfiguration).
        clientAuth: { caFile: cluster.webhookClientCaFile },
      },
    });
    stops.push(() => operator.stop());
    const narrator = narrate(kubeConfig, operator.informers, print, log);
    stops.push(() => narrator.stop());
    await waitFor(() => operator.manager.isLeader, { timeoutMs: 30_000, description: 'operator to become leader' });
    const coordinatorUrl = `https://127.0.0.1:${await operator.coordinatorPort}`;
    const webhookPort = await operator.webhookPort;
    await installWebhookConfigurations(kubeConfig, {
      endpoint: { url: `https://127.0.0.1:${webhookPort}` },
      caBundlePem: cluster.caPem,
      excludedNamespaces: ['kube-system', OPERATOR_NAMESPACE],
    });
    print(
      `admission webhook on https://127.0.0.1:${webhookPort} (failurePolicy Fail, API server client certificate required): pods and bindings are checked against the Manifest`,
    );
    await installNodeGatingPolicy(kubeConfig, { operatorUsernames: [operatorUsername(OPERATOR_NAMESPACE)] });
    print(
      `ValidatingAdmissionPolicy node-gating.attestor.dev: only ${operatorUsername(OPERATOR_NAMESPACE)} may set attestor.dev/gpu-attested or lift the attestor.dev/unattested taint`,
    );
    print(
      `operator running (leader; Coordinator API ${coordinatorUrl}; /metrics on 127.0.0.1:${operator.manager.probePort}; log in ${logFile})`,
    );
    print(
      "the Coordinator's own CVM evidence is a simulated SEV-SNP pod VM; it claims its identity once the Manifest's coordinator entries accept it",
    );
    printBare(`coordinator: ${coordinatorUrl}`);
    printBare(`simulated roots: ${rootsFile}`);

    const nodeNames: string[] = [];
    for (let i = 1; i <= opts.nodes; i++) {
      const name = `gpu-node-${i}`;
      await cluster.createGpuNode(name, { gpus: opts.gpus });
      nodeNames.push(name);
      print(
        `created fake GPU node ${name} with ${opts.gpus} nvidia.com/gpu (kwok): tainted until attested, unless the Manifest enables only the pod-CVM model`,
      );
    }
    const files = readdirSync(opts.samples)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort((a, b) => sampleOrder(a) - sampleOrder(b));
    const workers: Array<{ namespace: string; name: string }> = [];
    let manifestHash: string | undefined;
    for (const file of files) {
      const text = readFileSync(join(opts.samples, file), 'utf8');
      const applied = await applyYaml(kubeConfig, text);
      for (const obj of applied) {
        if (obj.kind === 'Manifest') manifestHash = readManifestDocument(text).hash;
        print(
          `applied ${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name} from samples/${file}`,
        );
        if (obj.kind === 'AIWorker') workers.push({ namespace: obj.metadata!.namespace!, name: obj.metadata!.name! });
      }
    }
    // The Coordinator appraises its own evidence once the sample Manifest is active: tell how that went.
    void waitFor(
      () => {
        const standing = operator.identity()?.standing;
        return standing && standing.state !== 'appraising' ? standing : undefined;
      },
      { timeoutMs: 60_000 },
    ).then(
      (standing) =>
        print(
          standing.state === 'accepted'
            ? `Coordinator: its own (simulated) CVM evidence meets the Manifest's coordinator entries; it proves itself at ${coordinatorUrl}/v1/coordinator/attest`
            : `Coordinator: its own CVM evidence was refused, it claims no identity: ${standing.reasons.join('; ')}`,
        ),
      () => undefined,
    );
    // One simulated agent per node (SNP and TDX alternating), as the DaemonSet would run them.
    const manifest = (
      (await kubeConfig
        .makeApiClient(k8s.CustomObjectsApi)
        .listClusterCustomObject({ group: 'attestor.dev', version: 'v1alpha1', plural: 'manifests' })) as {
        items: Manifest[];
      }
    ).items[0];
    const models = manifest ? enabledModels(manifest) : new Set<string>();
    // Pod-CVM pods: each pod's attestor init, as a local process with a simulated pod VM and GPUs.
    let chain: DevInferenceChain | undefined;
    const podInits = runDevPodInits({
      kubeConfig,
      pods: operator.informers.pods,
      platform,
      coordinatorUrl,
      coordinatorCaPem: cluster.caPem,
      dir: join(stateDir, 'pods'),
      log: log.child({ component: 'simulated-init' }),
      print,
      onCertified: (pod, dir) => chain?.onCertified(pod, dir),
    });
    stops.push(() => podInits.stop());
    // The encrypted inference chain, where the Manifest has the roles for it (the sample has).
    const chainable =
      manifest !== undefined &&
      manifestHash !== undefined &&
      models.has('pod-cvm') &&
      nodeNames.length > 0 &&
      rolePolicy(manifest, 'secret-service', opts.samples) !== undefined &&
      rolePolicy(manifest, 'secret-store', opts.samples) !== undefined;
    if (chainable) {
      chain = startDevInferenceChain({
        kubeConfig,
        namespace: OPERATOR_NAMESPACE,
        manifest: manifest!,
        manifestHash: manifestHash!,
        policyDir: opts.samples,
        nodeName: nodeNames[0]!,
        workload: workloadSettings,
        podInits,
        coordinatorUrl,
        rootsFile,
        allowAdminTrusted: models.has('confidential-node'),
        ...(opts.upstream ? { upstream: opts.upstream } : {}),
        stateDir,
        log,
        print,
        printBare,
      });
      const running = chain;
      stops.push(() => running.stop());
      running.ready.catch((err: unknown) =>
        print(`the encrypted inference chain did not come up: ${errorMessage(err)}`),
      );
    } else
      print(
        'the encrypted inference chain is not started: the Manifest needs the pod-CVM model and a secret-service and a secret-store policy whose documents are in the samples directory',
      );
    if (models.has('pod-cvm'))
      print(
        'the Manifest enables the pod-CVM model: GPU nodes are not gated; each AI worker pod runs attestor init (here a local process with a simulated pod VM and GPUs), which attests the pod and gets its workload certificate',
      );
    const policyHash = (manifest && policyHashesForRole(manifest.spec.policies, 'node')[0]) ?? '00'.repeat(32);
    const agentAbort = new AbortController();
    const agentLog = log.child({ component: 'simulated-agents' });
    const agentRuns: Promise<void>[] = [];
    // Node agents only where the Manifest enables the confidential-node model (the node is the CVM).
    for (const [i, node] of (models.has('confidential-node') ? nodeNames : []).entries()) {
      const kind = i % 2 === 0 ? 'snp' : 'tdx';
      const client = new CoordinatorClient(
        coordinatorUrl,
        cluster.caPem,
        await agentTokenSource(kubeConfig, OPERATOR_NAMESPACE, node),
      );
      const gpus = new SimulatedGpuControl(platform, {
        uuids: Array.from({ length: opts.gpus }, (_, g) => `GPU-${node}-${g}`),
      });
      const agent = new NodeAgent({
        nodeName: node,
        client,
        cvm: new SimulatedCvmSource(platform, { platform: kind, policyHash }),
        gpus,
        log: agentLog,
      });
      print(
        `started the simulated agent on ${node} (${kind === 'snp' ? 'AMD SEV-SNP' : 'Intel TDX'} CVM, ${opts.gpus} simulated H100s)`,
      );
      agentRuns.push(agent.run(agentAbort.signal).finally(() => client.close()));
    }
    stops.push(async () => {
      agentAbort.abort();
      await Promise.all(agentRuns);
    });
    print(`kubeconfig: ${cluster.kubeconfigPath}`);
    print(
      `verify the Coordinator: node src/cli/main.ts verify coordinator --coordinator ${coordinatorUrl} --manifest samples/manifest.yaml --simulated-roots ${rootsFile}${models.has('confidential-node') ? ' --allow-admin-trusted' : ''}`,
    );
    print(
      `try: bin/kubectl --kubeconfig ${cluster.kubeconfigPath} get manifests,aiworkers,nodeattestations,nodes,pods -A`,
    );

    if (opts.exitWhenReady) {
      await waitFor(
        () =>
          workers.every((w) => {
            const worker = operator.informers.aiWorkers.get(w.name, w.namespace);
            return (
              worker?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
              (worker.status.attestedReplicas ?? 0) >= (worker.spec.replicas ?? 1)
            );
          }),
        {
          timeoutMs: opts.timeout * 1000,
          intervalMs: 250,
          description: 'sample AIWorkers to be Ready with every replica attested',
        },
      );
      print('every sample AIWorker is Ready, every replica attested');
      if (chain) {
        await chain.ready;
        print('the encrypted inference chain serves');
      }
      return 0;
    }
    print('running; press Ctrl-C to stop');
    await new Promise<void>((resolveSignal) => {
      process.once('SIGINT', () => resolveSignal());
      process.once('SIGTERM', () => resolveSignal());
    });
    return 0;
  } catch (err) {
    print(`failed: ${errorMessage(err)}`);
    return 1;
  } finally {
    print('stopping every process this session started');
    await stopAll();
    print('stopped');
  }
}

/** Manifests first (the AIWorker controller needs an active one), runtime classes next, then the rest. */
function sampleOrder(file: string): number {
  return file.startsWith('manifest') ? 0 : file.startsWith('runtime-class') ? 1 : 2;
}
