/**
 * `attestor init`: the init container of every pod-CVM AI worker pod (agent/workload-init.ts).
 * Attests the pod VM and its GPUs to the Coordinator, activates the GPUs on a grant, and writes the
 * workload certificate; `--renew` keeps renewing it (the sidecar mode). `--confidential-node`: in
 * a confidential-node pod, its node agent countersigns the pod's key instead.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { CoordinatorClient } from '../agent/coordinator-client.ts';
import { ConfigfsTsmSource, DEFAULT_TSM_REPORT_ROOT } from '../agent/evidence/configfs-tsm.ts';
import { NvmlGpuControl } from '../agent/evidence/nvml/gpu-control.ts';
import {
  RemoteSimulatedCvmSource,
  RemoteSimulatedGpuControl,
  simulatedPodMeasurement,
} from '../agent/evidence/remote-simulated.ts';
import type { CvmEvidenceSource, GpuControl } from '../agent/evidence/source.ts';
import { DEFAULT_CHECK_INTERVAL_MS, WorkloadInit } from '../agent/workload-init.ts';
import { errorMessage } from '../errors.ts';
import { createLogger } from '../observability/log.ts';
import { UnusableInput } from './errors.ts';
import { durationOption, positiveIntOption } from './options.ts';

interface InitCliOptions {
  coordinator: string;
  coordinatorCa?: string;
  coordinatorCaFile?: string;
  tokenFile: string;
  out: string;
  podName?: string;
  podNamespace?: string;
  tsmRoot: string;
  nvmlLibrary: string;
  gpus: boolean;
  renew: boolean;
  confidentialNode: boolean;
  nodeAgent?: string;
  nodeAgentTokenFile: string;
  checkInterval: number;
  timeout: number;
  logLevel: string;
  simulatedHardware?: string;
  simulatedPolicyHash?: string;
  simulatedPlatform: 'snp' | 'tdx';
  simulatedGpus: number;
}

export function initCommand(): Command {
  return new Command('init')
    .description(
      "attest this pod VM and its GPUs to the Coordinator, activate the GPUs on its grant, and write the pod's workload certificate (mesh-ca.pem, cert.pem, key.pem) to --out; with --confidential-node, have the node agent countersign the pod's key instead",
    )
    .requiredOption(
      '--coordinator <url>',
      'Coordinator API base URL, e.g. https://attestor-coordinator.attestor-system.svc:8443',
    )
    .addOption(
      new Option('--coordinator-ca <pem>', "PEM of the CA that signed the Coordinator's serving certificate").env(
        'ATTESTOR_COORDINATOR_CA',
      ),
    )
    .option('--coordinator-ca-file <path>', 'the same, from a file')
    .option(
      '--token-file <path>',
      "the pod's projected service account token (audience attestor-workload), re-read for every request",
      '/var/run/secrets/attestor-workload/token',
    )
    .option('--out <dir>', 'the memory-backed volume the certificate, its key and the mesh CA go to', '/run/attestor')
    .addOption(new Option('--pod-name <name>', 'this pod (the downward API)').env('POD_NAME'))
    .addOption(new Option('--pod-namespace <ns>', "this pod's namespace (the downward API)").env('POD_NAMESPACE'))
    .option('--tsm-root <dir>', 'configfs-tsm report directory of the pod VM', DEFAULT_TSM_REPORT_ROOT)
    .option('--nvml-library <path>', 'libnvidia-ml to load', 'libnvidia-ml.so.1')
    .option('--no-gpus', 'the pod has no GPUs: attest the pod VM only')
    .option(
      '--confidential-node',
      "the confidential-node model: no evidence of the pod's own; its node's agent (which attested the node's CVM and GPUs and activated them) countersigns the pod's key",
      false,
    )
    .addOption(
      new Option(
        '--node-agent <url>',
        "with --confidential-node: the node agent's countersigning endpoint, e.g. http://$(HOST_IP):8444",
      ).env('NODE_AGENT_URL'),
    )
    .option(
      '--node-agent-token-file <path>',
      "with --confidential-node: the pod's projected token for its node agent (audience attestor-node-agent), re-read for every request",
      '/var/run/secrets/attestor-workload/node-agent-token',
    )
    .option(
      '--renew',
      'the sidecar mode: keep the key on the volume and renew the certificate with fresh evidence before it expires, or when the mesh CA changes (a new Manifest); a refusal removes cert.pem and sets the GPUs not ready',
      false,
    )
    .option(
      '--check-interval <duration>',
      "with --renew: how often to ask whether the Coordinator's mesh CA changed",
      durationOption,
      DEFAULT_CHECK_INTERVAL_MS,
    )
    .option(
      '--timeout <duration>',
      'without --renew: give up (exit 1) after this long without an answer',
      durationOption,
      300_000,
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .env('ATTESTOR_LOG_LEVEL')
        .default('info'),
    )
    .option(
      '--simulated-hardware <url>',
      'DEVELOPMENT ONLY: take simulated pod VM and GPU evidence from the development operator at this URL (operator --development-roots) instead of configfs-tsm and NVML; the Coordinator accepts it only while the active Manifest accepts simulated evidence',
    )
    .addOption(
      new Option(
        '--simulated-policy-hash <hex>',
        "with --simulated-hardware: the pod's policy hash, which the simulated pod VM carries in HOST_DATA / MRCONFIGID",
      ).env('ATTESTOR_SIMULATED_POLICY_HASH'),
    )
    .addOption(
      new Option('--simulated-platform <platform>', 'with --simulated-hardware: the simulated pod VM')
        .choices(['snp', 'tdx'])
        .default('snp'),
    )
    .option('--simulated-gpus <n>', 'with --simulated-hardware: how many simulated GPUs', positiveIntOption, 1)
    .action(async (opts: InitCliOptions) => {
      const log = createLogger({ level: opts.logLevel });
      if (!opts.podName || !opts.podNamespace)
        throw new UnusableInput('--pod-name and --pod-namespace (or POD_NAME and POD_NAMESPACE) are required');
      const ca = opts.coordinatorCaFile ? readFileSync(opts.coordinatorCaFile, 'utf8') : opts.coordinatorCa;
      if (!ca)
        throw new UnusableInput('--coordinator-ca (ATTESTOR_COORDINATOR_CA) or --coordinator-ca-file is required');
      const client = new CoordinatorClient(opts.coordinator, ca, async () =>
        readFileSync(opts.tokenFile, 'utf8').trim(),
      );
      if (opts.confidentialNode && !opts.nodeAgent)
        throw new UnusableInput('--confidential-node needs --node-agent (or NODE_AGENT_URL)');
      // Confidential-node: the node agent activated the node's GPUs; the pod neither reads nor sets them.
      const cvm = initCvmSource(opts);
      const gpus: GpuControl | undefined =
        opts.gpus && !opts.confidentialNode
          ? opts.simulatedHardware
            ? new RemoteSimulatedGpuControl(opts.simulatedHardware, opts.simulatedGpus)
            : await NvmlGpuControl.open({ libraryPath: opts.nvmlLibrary })
          : undefined;
      const tokenFile = opts.nodeAgentTokenFile;
      const init = new WorkloadInit({
        pod: { namespace: opts.podNamespace, name: opts.podName },
        client,
        ...(opts.confidentialNode
          ? { node: { url: opts.nodeAgent!, token: async () => readFileSync(tokenFile, 'utf8').trim() } }
          : { cvm }),
        ...(gpus ? { gpus } : {}),
        out: opts.out,
        log,
      });
      const abort = new AbortController();
      process.once('SIGTERM', () => abort.abort());
      process.once('SIGINT', () => abort.abort());
      try {
        if (opts.renew) {
          await init.renew(abort.signal, opts.checkInterval);
        } else {
          const outcome = await init.certifyOnce(abort.signal, opts.timeout);
          if (!outcome.certified) {
            log.error({ reasons: outcome.reasons }, 'not certified');
            process.exitCode = 1;
          }
        }
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'attestor init failed');
        process.exitCode = 1;
      } finally {
        await gpus?.close();
        await client.close();
      }
    });
}

/** The pod VM's evidence: configfs-tsm, or (development only) the simulated hardware. */
function initCvmSource(opts: InitCliOptions): CvmEvidenceSource {
  if (!opts.simulatedHardware) return new ConfigfsTsmSource({ root: opts.tsmRoot });
  if (!opts.simulatedPolicyHash || !/^[0-9a-f]{64}$/.test(opts.simulatedPolicyHash))
    throw new Error(
      '--simulated-hardware needs --simulated-policy-hash (or ATTESTOR_SIMULATED_POLICY_HASH): 64 lower-case hex digits',
    );
  return new RemoteSimulatedCvmSource(opts.simulatedHardware, {
    platform: opts.simulatedPlatform,
    policyHash: opts.simulatedPolicyHash,
    measurement: simulatedPodMeasurement(opts.simulatedPlatform),
  });
}
