/** `attestor operator`: controllers, leader-elected (two replicas in a real cluster). */
import { Command, Option } from 'commander';
import { hostname } from 'node:os';
import { createLogger } from '../observability/log.ts';
import { DEFAULT_LEASE_NAME, startOperator } from '../operator/operator.ts';
import { loadKubeConfig } from './kubeconfig.ts';
import { addressOption, durationOption } from './options.ts';

interface OperatorCliOptions {
  kubeconfig?: string;
  namespace: string;
  leaderElect: boolean;
  leaseName: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  probeAddress: { host: string; port: number };
  logLevel: string;
}

export function operatorCommand(): Command {
  return new Command('operator')
    .description('run the attestor operator: Manifest and AIWorker controllers (leader-elected)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)')
    .addOption(new Option('--namespace <ns>', 'namespace of the operator (leader-election Lease)').env('POD_NAMESPACE').default('attestor-system'))
    .option('--no-leader-elect', 'reconcile without a Lease (only for a single replica)')
    .option('--lease-name <name>', 'leader-election Lease name', DEFAULT_LEASE_NAME)
    .option('--lease-duration <duration>', 'how long a Lease is valid without renewal', durationOption, 15_000)
    .option('--renew-deadline <duration>', 'how long the leader retries renewing before it steps down', durationOption, 10_000)
    .option('--retry-period <duration>', 'time between leader-election attempts', durationOption, 2_000)
    .option('--probe-address <host:port>', 'serve /healthz, /readyz and /metrics here', addressOption, { host: '0.0.0.0', port: 8080 })
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).env('ATTESTOR_LOG_LEVEL').default('info'))
    .action(async (opts: OperatorCliOptions) => {
      const log = createLogger({ level: opts.logLevel });
      const kubeConfig = loadKubeConfig(opts.kubeconfig);
      const operator = startOperator({
        kubeConfig,
        log,
        namespace: opts.namespace,
        leaderElect: opts.leaderElect,
        leaseName: opts.leaseName,
        identity: process.env.POD_NAME ?? `${hostname()}_${process.pid}`,
        leaseDurationMs: opts.leaseDuration,
        renewDeadlineMs: opts.renewDeadline,
        retryPeriodMs: opts.retryPeriod,
        probe: opts.probeAddress,
      });
      const shutdown = (signal: string) => {
        log.info({ signal }, 'shutting down');
        void operator.stop();
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      const exit = await operator.done.catch((err: unknown) => {
        log.fatal({ err: (err as Error).message }, 'operator failed');
        return 'failed' as const;
      });
      // Like controller-runtime: a replica that lost its Lease exits, and Kubernetes restarts it.
      process.exitCode = exit === 'stopped' ? 0 : 1;
      log.info({ exit }, 'operator stopped');
    });
}
