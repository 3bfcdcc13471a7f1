/**
 * `attestor agent`: the node agent (a DaemonSet on GPU nodes, inside the CVM). Collects CVM
 * evidence through configfs-tsm and GPU evidence through NVML, has the Coordinator appraise
 * it, and activates the GPUs only with a grant it verified. It countersigns the keys of its node's
 * confidential-node pods (agent/countersign-server.ts) unless --no-countersign.
 */

import { readFileSync } from 'node:fs';
import type { KubeConfig } from '@kubernetes/client-node';
import { Command, Option } from 'commander';
import { NodeAgent } from '../agent/agent.ts';
import { CoordinatorClient } from '../agent/coordinator-client.ts';
import { DEFAULT_COUNTERSIGN_LIMIT, startCountersignServer } from '../agent/countersign-server.ts';
import { Countersigner } from '../agent/countersigner.ts';
import { ConfigfsTsmSource } from '../agent/evidence/configfs-tsm.ts';
import { NvmlGpuControl } from '../agent/evidence/nvml/gpu-control.ts';
import { RemoteSimulatedCvmSource, RemoteSimulatedGpuControl } from '../agent/evidence/remote-simulated.ts';
import type { CvmEvidenceSource, GpuControl } from '../agent/evidence/source.ts';
import { KeyedRateLimiter } from '../coordinator/rate-limiter.ts';
import type { TokenReviewCacheOptions } from '../coordinator/token-review-cache.ts';
import { registerTokenReviewCounter } from '../coordinator/token-review-metrics.ts';
import { TokenReviewWorkloadAuthenticator } from '../coordinator/workload-auth.ts';
import { ApiWorkloadPods } from '../coordinator/workload-pods.ts';
import { createLogger } from '../observability/log.ts';
import { OperatorMetrics } from '../observability/metrics.ts';
import { startProbeServer } from '../observability/probe-server.ts';
import { DEFAULT_COUNTERSIGN_PORT, NODE_AGENT_AUDIENCE } from '../protocol/countersignature.ts';
import { UnusableInput } from './errors.ts';
import { loadKubeConfig } from './kubeconfig.ts';
import { addressOption, durationOption, positiveIntOption } from './options.ts';

interface AgentCliOptions {
  coordinator: string;
  caFile: string;
  tokenFile: string;
  nodeName?: string;
  tsmRoot: string;
  nvmlLibrary: string;
  probeAddress: { host: string; port: number };
  countersign: boolean;
  countersignAddress: { host: string; port: number };
  tokenReviewCacheTtl: number;
  kubeconfig?: string;
  logLevel: string;
  simulatedHardware?: string;
  simulatedPolicyHash?: string;
  simulatedPlatform: 'snp' | 'tdx';
  simulatedGpus: number;
}

export function agentCommand(): Command {
  return new Command('agent')
    .description(
      'run the node agent: attest this CVM and its GPUs to the Coordinator, activate the GPUs on a valid grant',
    )
    .requiredOption(
      '--coordinator <url>',
      'Coordinator API base URL, e.g. https://attestor-coordinator.attestor-system.svc:8443',
    )
    .option(
      '--ca-file <path>',
      'CA bundle that signed the Coordinator serving certificate, re-read before each request',
      '/var/run/secrets/attestor/ca.crt',
    )
    .option(
      '--token-file <path>',
      'projected service account token (audience "attestor"), re-read for every request',
      '/var/run/secrets/attestor/token',
    )
    .addOption(new Option('--node-name <name>', 'this node (from the downward API)').env('NODE_NAME'))
    .option('--tsm-root <dir>', 'configfs-tsm report directory', '/sys/kernel/config/tsm/report')
    .option('--nvml-library <path>', 'libnvidia-ml to load', 'libnvidia-ml.so.1')
    .option('--probe-address <host:port>', 'serve /healthz, /readyz and /metrics here', addressOption, {
      host: '0.0.0.0',
      port: 8081,
    })
    .option(
      '--countersign-address <host:port>',
      "serve POST /v1/countersign here for the node's confidential-node pods (a hostPort; plain HTTP: the answer is a signature)",
      addressOption,
      { host: '0.0.0.0', port: DEFAULT_COUNTERSIGN_PORT },
    )
    .option(
      '--token-review-cache-ttl <duration>',
      "for countersigning: reuse a successful TokenReview of a pod's token this long (0: review every request; the pod and its UID are read every time)",
      durationOption,
      10_000,
    )
    .option(
      '--no-countersign',
      "do not countersign pods' keys (confidential-node pods on this node then get no workload certificate)",
    )
    .option(
      '--kubeconfig <path>',
      "for countersigning: TokenReview of the pods' tokens and reading pods (default: in-cluster)",
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .env('ATTESTOR_LOG_LEVEL')
        .default('info'),
    )
    .option(
      '--simulated-hardware <url>',
      "DEVELOPMENT ONLY: a simulated agent: take the node's CVM and GPU evidence from the development operator at this URL (operator --development-roots) instead of configfs-tsm and NVML; the Coordinator accepts it only while the active Manifest accepts simulated evidence",
    )
    .option(
      '--simulated-policy-hash <hex>',
      "with --simulated-hardware: the policy hash the simulated node CVM carries in HOST_DATA / MRCONFIGID (one of the Manifest's policies)",
    )
    .addOption(
      new Option('--simulated-platform <platform>', 'with --simulated-hardware: the simulated node CVM')
        .choices(['snp', 'tdx'])
        .default('snp'),
    )
    .option('--simulated-gpus <n>', 'with --simulated-hardware: how many simulated GPUs', positiveIntOption, 1)
    .action(async (opts: AgentCliOptions) => {
      const log = createLogger({ level: opts.logLevel });
      if (!opts.nodeName) throw new UnusableInput('--node-name (or NODE_NAME) is required');
      if (opts.simulatedHardware && !/^[0-9a-f]{64}$/.test(opts.simulatedPolicyHash ?? ''))
        throw new UnusableInput('--simulated-hardware needs --simulated-policy-hash: 64 lower-case hex digits');
      // The CA file is re-read before each request: a renewed serving CA needs no restart.
      const client = new CoordinatorClient(opts.coordinator, { file: opts.caFile }, async () =>
        readFileSync(opts.tokenFile, 'utf8').trim(),
      );
      const gpus: GpuControl = opts.simulatedHardware
        ? new RemoteSimulatedGpuControl(opts.simulatedHardware, opts.simulatedGpus)
        : await NvmlGpuControl.open({ libraryPath: opts.nvmlLibrary });
      const cvm: CvmEvidenceSource = opts.simulatedHardware
        ? new RemoteSimulatedCvmSource(opts.simulatedHardware, {
            platform: opts.simulatedPlatform,
            policyHash: opts.simulatedPolicyHash!,
          })
        : new ConfigfsTsmSource({ root: opts.tsmRoot });
      if (opts.simulatedHardware)
        log.warn(
          { simulatedHardware: opts.simulatedHardware },
          'DEVELOPMENT MODE: a simulated agent: its evidence is simulated and proves nothing; never run this in production',
        );
      const agent = new NodeAgent({ nodeName: opts.nodeName, client, cvm, gpus, log });
      const metrics = new OperatorMetrics();
      // Declared even without countersigning, so that dashboards and alerts find the name.
      const tokenReviews = registerTokenReviewCounter(metrics.registry);
      const probe = await startProbeServer({
        ...opts.probeAddress,
        registry: metrics.registry,
        readiness: () => [
          {
            name: 'attested',
            check: () =>
              agent.lastOutcome?.accepted && agent.lastOutcome.activated ? undefined : 'not attested and activated yet',
          },
        ],
      });
      let countersigning: { close(): Promise<void> } | undefined;
      if (opts.countersign) {
        const limiter = new KeyedRateLimiter(DEFAULT_COUNTERSIGN_LIMIT);
        countersigning = await startCountersignServer({
          ...opts.countersignAddress,
          log,
          admit: () => limiter.take('node', new Date()),
          countersigner: kubernetesCountersigner(loadKubeConfig(opts.kubeconfig), opts.nodeName, agent, {
            ttlMs: opts.tokenReviewCacheTtl,
            counter: tokenReviews,
          }),
        });
      }
      const abort = new AbortController();
      process.once('SIGTERM', () => abort.abort());
      process.once('SIGINT', () => abort.abort());
      await agent.run(abort.signal);
      await countersigning?.close();
      await probe.close();
      await gpus.close();
      await client.close();
    });
}

/**
 * The agent's countersigner with its only API calls: a TokenReview of the asking pod's token
 * (audience attestor-node-agent) and a read of that pod. The chart's agent ClusterRole grants
 * exactly these; test/cluster/chart-agent-rbac.test.ts runs this as the chart's agent.
 */
export function kubernetesCountersigner(
  kubeConfig: KubeConfig,
  node: string,
  agent: Pick<NodeAgent, 'countersign'>,
  reviewCache?: TokenReviewCacheOptions,
): Countersigner {
  const pods = new ApiWorkloadPods(kubeConfig);
  const authenticator = new TokenReviewWorkloadAuthenticator(kubeConfig, [NODE_AGENT_AUDIENCE], reviewCache);
  return new Countersigner({
    node,
    authenticate: (authorization) => authenticator.authenticate(authorization),
    readPod: (namespace, name) => pods.read(namespace, name),
    sign: (pod, now) => agent.countersign(pod, now),
  });
}
