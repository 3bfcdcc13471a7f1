/** `attestor operator`: checks the flags, starts the operator (operator/operator.ts) and stops it on SIGTERM. */

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { ConfigfsTsmSource } from '../agent/evidence/configfs-tsm.ts';
import { IMAGE_DIGEST_PATTERN } from '../api/aiworker.ts';
import {
  type CollateralSource,
  CollateralStore,
  collateralSource,
  loadRimDir,
  loadTdxCollateralDir,
} from '../collateral/index.ts';
import { errorMessage } from '../errors.ts';
import { createLogger } from '../observability/log.ts';
import { startOperator } from '../operator/operator.ts';
import type { PeerRecoveryOptions } from '../operator/peer-recovery.ts';
import { UnusableInput } from './errors.ts';
import { loadKubeConfig } from './kubeconfig.ts';
import {
  developmentCoordinatorEvidence,
  developmentFlagProblems,
  type OperatorDevelopment,
  startOperatorDevelopment,
} from './operator-development.ts';
import { type OperatorCliOptions, operatorFlags } from './operator-flags.ts';

/** The collateral the Coordinator appraises production evidence with: flag directories, then the cache. */
function operatorCollateral(opts: OperatorCliOptions): CollateralSource {
  const store = opts.collateralCache
    ? new CollateralStore({
        dir: opts.collateralCache,
        network: opts.collateralFetch,
        limits: { timeoutMs: opts.collateralTimeout },
        endpoints: {
          ...(opts.amdKdsUrl ? { amdKds: opts.amdKdsUrl } : {}),
          ...(opts.intelPcsUrl ? { intelPcs: opts.intelPcsUrl } : {}),
          ...(opts.nvidiaRimUrl ? { nvidiaRim: opts.nvidiaRimUrl } : {}),
          ...(opts.nvidiaOcspUrl ? { nvidiaOcsp: opts.nvidiaOcspUrl } : {}),
        },
      })
    : undefined;
  return collateralSource({
    base: {
      gpu: { rims: opts.rimDir ? loadRimDir(opts.rimDir) : [] },
      ...(opts.tdxCollateral ? { tdx: loadTdxCollateralDir(opts.tdxCollateral) } : {}),
    },
    ...(store ? { store } : {}),
    ...(opts.snpProduct ? { snpProduct: opts.snpProduct } : {}),
  });
}

/** Peer recovery from the flags: the CA is read now (a missing file stops the start), the token at every request. */
function peerOptions(opts: OperatorCliOptions): PeerRecoveryOptions {
  let ca: string;
  try {
    ca = readFileSync(opts.peerCaFile, 'utf8');
  } catch (err) {
    throw new UnusableInput(`--coordinator-peers needs --peer-ca-file: ${errorMessage(err)}`);
  }
  return {
    urls: opts.coordinatorPeers,
    ca,
    token: async () => (await readFile(opts.peerTokenFile, 'utf8')).trim(),
    usernames: [opts.operatorServiceAccount ?? `system:serviceaccount:${opts.namespace}:attestor-operator`],
    audience: opts.peerAudience,
    syncIntervalMs: opts.peerSyncInterval,
  };
}

export function operatorCommand(): Command {
  return operatorFlags().action(async (opts: OperatorCliOptions) => {
    if (opts.snpVcekDir)
      throw new UnusableInput(
        '--snp-vcek-dir is replaced by --collateral-cache: put each VCEK at snp/vcek/<product>/<hwid>-<tcb>.der in the cache (DER, as AMD KDS serves it; docs/collateral.md)',
      );
    if (opts.secretServiceUrl && URL.parse(opts.secretServiceUrl)?.protocol !== 'https:')
      throw new UnusableInput(`--secret-service-url must be an https URL, not ${opts.secretServiceUrl}`);
    const developmentProblems = developmentFlagProblems(opts);
    if (developmentProblems.length > 0) throw new UnusableInput(developmentProblems.join('; '));
    const log = createLogger({ level: opts.logLevel });
    const kubeConfig = loadKubeConfig(opts.kubeconfig);
    if ((opts.coordinator || opts.webhook) && (!opts.tlsCertFile || !opts.tlsKeyFile))
      throw new UnusableInput(
        'the Coordinator API and the webhook need --tls-cert-file and --tls-key-file (or pass --no-coordinator --no-webhook)',
      );
    // Read once here, so that a missing or unreadable file is a usage error naming it, before the
    // operator connects anywhere; the servers then re-read them as they change.
    if (opts.coordinator || opts.webhook) for (const file of [opts.tlsCertFile!, opts.tlsKeyFile!]) readFileSync(file);
    if (opts.webhook && !opts.webhookClientCa === !opts.webhookAllowAnyClient)
      throw new UnusableInput(
        "the webhook needs exactly one of --webhook-client-ca (the CA of the API server's webhook client certificate) and --webhook-allow-any-client (or pass --no-webhook)",
      );
    if (opts.initImage && !new RegExp(IMAGE_DIGEST_PATTERN).test(opts.initImage))
      throw new UnusableInput(
        `--init-image ${opts.initImage} is not pinned by digest (<name>@sha256:<64 lower-case hex>)`,
      );
    if (opts.initImage && !opts.workloadCoordinatorCaFile)
      throw new UnusableInput(
        "--init-image needs --workload-coordinator-ca-file (the CA of the Coordinator's serving certificate)",
      );
    if (opts.initImage && !opts.secretServiceUrl)
      log.warn(
        'no --secret-service-url: the worker-proxy sidecars of AI worker pods know no secret and refuse every request as unknown_secret',
      );
    // Development mode only: simulated roots in memory, trusted while the Manifest accepts simulated evidence.
    const development: OperatorDevelopment | undefined = opts.developmentRoots
      ? await startOperatorDevelopment(opts, log)
      : undefined;
    const operator = startOperator({
      kubeConfig,
      log,
      namespace: opts.namespace,
      leaderElect: opts.leaderElect,
      leaseName: opts.leaseName,
      identity: process.env.POD_NAME ?? `${hostname()}_${process.pid}`,
      ...(process.env.POD_NAME ? { selfPod: { name: process.env.POD_NAME, namespace: opts.namespace } } : {}),
      leaseDurationMs: opts.leaseDuration,
      renewDeadlineMs: opts.renewDeadline,
      retryPeriodMs: opts.retryPeriod,
      probe: opts.probeAddress,
      eviction: {
        pendingGraceMs: opts.evictionPendingGrace,
        pdbGraceMs: opts.evictionPdbGrace,
        rolloutMaxMs: opts.evictionRolloutMax,
      },
      resourceSlices: opts.resourceSlices,
      coordinator: opts.coordinator
        ? {
            ...opts.coordinatorAddress,
            // Re-read when the Secret changes, as the webhook's.
            tls: { certFile: opts.tlsCertFile!, keyFile: opts.tlsKeyFile! },
            agentUsernames: [opts.agentServiceAccount ?? `system:serviceaccount:${opts.namespace}:attestor-agent`],
            audiences: [opts.agentAudience],
            grantTtlSeconds: Math.ceil(opts.grantTtl / 1000),
            tokenReviewCacheTtlMs: opts.tokenReviewCacheTtl,
            limits: {
              noncesPerNode: Math.max(1, opts.noncesPerNode),
              requests: opts.agentRequestRate,
              watches: opts.agentWatchRate,
              events: opts.nodeEventRate,
            },
            // Pinned vendor roots; the simulated ones only in development mode (--development-roots).
            trust: { production: {}, productionCollateral: operatorCollateral(opts), ...development?.trust },
            ownEvidence:
              opts.coordinatorEvidence === 'none'
                ? {
                    none: 'the operator runs with --coordinator-evidence none: it reads no CVM evidence of its own, so the Coordinator cannot prove its identity',
                  }
                : opts.coordinatorEvidence === 'simulated' && development
                  ? developmentCoordinatorEvidence(development)
                  : new ConfigfsTsmSource({ root: opts.coordinatorTsmRoot }),
            clientAttestRate: opts.coordinatorAttestRate,
            ...(opts.coordinatorPeers.length > 0 ? { peers: peerOptions(opts) } : {}),
            clusterDomain: opts.clusterDomain,
          }
        : undefined,
      gpuResourcePrefixes: opts.gpuResourcePrefixes,
      ...(opts.initImage
        ? {
            workload: {
              initImage: opts.initImage,
              coordinatorUrl: opts.workloadCoordinatorUrl ?? `https://attestor-coordinator.${opts.namespace}.svc:8443`,
              coordinatorCaPem: readFileSync(opts.workloadCoordinatorCaFile!, 'utf8'),
              ...(opts.secretServiceUrl ? { secretServiceUrl: opts.secretServiceUrl } : {}),
              ...(development && opts.developmentHardwareUrl
                ? { simulatedHardwareUrl: opts.developmentHardwareUrl }
                : {}),
            },
          }
        : {}),
      webhook: opts.webhook
        ? {
            ...opts.webhookAddress,
            tls: { certFile: opts.tlsCertFile!, keyFile: opts.tlsKeyFile! },
            clientAuth: opts.webhookClientCa ? { caFile: opts.webhookClientCa } : 'none',
          }
        : undefined,
    });
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      void operator.stop();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    const exit = await operator.done.catch((err: unknown) => {
      log.fatal({ err: errorMessage(err) }, 'operator failed');
      return 'failed' as const;
    });
    await development?.hardware.close();
    // Like controller-runtime: a replica that lost its Lease exits, and Kubernetes restarts it.
    process.exitCode = exit === 'stopped' ? 0 : 1;
    log.info({ exit }, 'operator stopped');
  });
}
