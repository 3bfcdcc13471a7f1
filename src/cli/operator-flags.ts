/**
 * The flags of `attestor operator`: names, defaults and help texts (what `--help` shows and the
 * README's table repeats), and the options object they parse into. operator.ts turns them into
 * the operator's configuration.
 */
import { Command, Option } from 'commander';
import { DEFAULT_TSM_REPORT_ROOT } from '../agent/evidence/configfs-tsm.ts';
import type { SnpProduct } from '../attestation/reference-values.ts';
import { DEFAULT_CLIENT_ATTEST_RATE, DEFAULT_COORDINATOR_LIMITS } from '../coordinator/limits.ts';
import { DEFAULT_PEER_SYNC_INTERVAL_MS } from '../coordinator/peer-sync.ts';
import type { RateLimit } from '../coordinator/rate-limiter.ts';
import { DEFAULT_LEASE_NAME } from '../operator/operator.ts';
import { DEFAULT_PEER_AUDIENCE } from '../operator/peer-recovery.ts';
import { DEFAULT_SIMULATED_HARDWARE_PORT } from '../protocol/simulated-hardware.ts';
import { DEFAULT_GPU_RESOURCE_PREFIXES, parseGpuResourcePrefixes } from '../webhook/gpu-requests.ts';
import { addressOption, durationOption, positiveIntOption, rateOption, urlListOption } from './options.ts';

export interface OperatorCliOptions {
  kubeconfig?: string;
  namespace: string;
  leaderElect: boolean;
  leaseName: string;
  leaseDuration: number;
  renewDeadline: number;
  retryPeriod: number;
  probeAddress: { host: string; port: number };
  logLevel: string;
  coordinator: boolean;
  coordinatorAddress: { host: string; port: number };
  tlsCertFile?: string;
  tlsKeyFile?: string;
  coordinatorEvidence: 'configfs-tsm' | 'none' | 'simulated';
  coordinatorTsmRoot: string;
  coordinatorAttestRate: RateLimit;
  coordinatorPeers: string[];
  peerCaFile: string;
  peerTokenFile: string;
  peerAudience: string;
  peerSyncInterval: number;
  operatorServiceAccount?: string;
  agentServiceAccount?: string;
  agentAudience: string;
  grantTtl: number;
  tokenReviewCacheTtl: number;
  noncesPerNode: number;
  agentRequestRate: RateLimit;
  agentWatchRate: RateLimit;
  nodeEventRate: RateLimit;
  rimDir?: string;
  snpVcekDir?: string;
  tdxCollateral?: string;
  collateralCache?: string;
  collateralFetch: boolean;
  collateralTimeout: number;
  snpProduct?: SnpProduct;
  amdKdsUrl?: string;
  intelPcsUrl?: string;
  nvidiaRimUrl?: string;
  nvidiaOcspUrl?: string;
  webhook: boolean;
  webhookAddress: { host: string; port: number };
  gpuResourcePrefixes: string[];
  webhookClientCa?: string;
  webhookAllowAnyClient: boolean;
  evictionPendingGrace: number;
  evictionPdbGrace: number;
  evictionRolloutMax: number;
  resourceSlices: boolean;
  initImage?: string;
  workloadCoordinatorUrl?: string;
  workloadCoordinatorCaFile?: string;
  secretServiceUrl?: string;
  clusterDomain: string;
  developmentRoots: boolean;
  developmentHardwareAddress: { host: string; port: number };
  developmentHardwareUrl?: string;
}

function rate(flags: string, description: string, value: RateLimit): Option {
  return new Option(flags, description)
    .argParser(rateOption)
    .default(value, `${value.burst}/${value.intervalMs / 1000}s`);
}

/** The `operator` command with every flag declared; the caller adds the action. */
export function operatorFlags(): Command {
  return (
    new Command('operator')
      .description(
        'run the attestor operator: controllers, the Coordinator API (leader) and the admission webhook (every replica); leader-elected',
      )
      .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)')
      .addOption(
        new Option('--namespace <ns>', 'namespace of the operator (leader-election Lease)')
          .env('POD_NAMESPACE')
          .default('attestor-system'),
      )
      .option('--no-leader-elect', 'reconcile without a Lease (only for a single replica)')
      .option('--lease-name <name>', 'leader-election Lease name', DEFAULT_LEASE_NAME)
      .option('--lease-duration <duration>', 'how long a Lease is valid without renewal', durationOption, 15_000)
      .option(
        '--renew-deadline <duration>',
        'how long the leader retries renewing before it steps down',
        durationOption,
        10_000,
      )
      .option('--retry-period <duration>', 'time between leader-election attempts', durationOption, 2_000)
      .option('--probe-address <host:port>', 'serve /healthz, /readyz and /metrics here', addressOption, {
        host: '0.0.0.0',
        port: 8080,
      })
      .addOption(
        new Option('--log-level <level>', 'log level')
          .choices(['debug', 'info', 'warn', 'error'])
          .env('ATTESTOR_LOG_LEVEL')
          .default('info'),
      )
      .option('--no-coordinator', 'do not serve the Coordinator API')
      .option('--coordinator-address <host:port>', 'serve the Coordinator API (HTTPS) here', addressOption, {
        host: '0.0.0.0',
        port: 8443,
      })
      .option(
        '--tls-cert-file <path>',
        'serving certificate (PEM) of the Coordinator API and the webhook, re-read when it changes',
      )
      .option('--tls-key-file <path>', 'its private key (PEM)')
      .addOption(
        new Option(
          '--coordinator-evidence <source>',
          "where the Coordinator reads its own CVM evidence, which it appraises against the active Manifest's coordinator entries before it claims an identity (POST /v1/coordinator/attest): configfs-tsm (in a confidential pod or VM), none (then that call answers 503 saying why), or simulated (with --development-roots only: a simulated SEV-SNP pod VM, as under attestor dev)",
        )
          .choices(['configfs-tsm', 'none', 'simulated'])
          .default('configfs-tsm'),
      )
      .option(
        '--coordinator-tsm-root <dir>',
        'configfs-tsm report directory of the own evidence',
        DEFAULT_TSM_REPORT_ROOT,
      )
      .addOption(
        rate(
          '--coordinator-attest-rate <burst/interval>',
          'POST /v1/coordinator/attest requests per client address (each costs a CVM report; 429 beyond)',
          DEFAULT_CLIENT_ATTEST_RATE,
        ),
      )
      .addOption(
        new Option(
          '--coordinator-peers <urls>',
          "peer recovery: comma-separated https URLs where this replica reaches the leading replica's Coordinator API (the chart: the Coordinator Service, which selects the leader). A replica that does not lead attests to the leader with its own CVM evidence and receives the root CA, the mesh CA and the history, so that a failover keeps them. Empty: each replica has its own identity, and its CA keys are not even transferable",
        )
          .argParser(urlListOption)
          .default([], '(none)'),
      )
      .option(
        '--peer-ca-file <path>',
        "CA bundle that signed the Coordinator's serving certificate (to reach the leader)",
        '/var/run/secrets/attestor/peer/ca.crt',
      )
      .option(
        '--peer-token-file <path>',
        'projected token of the operator service account for the peer audience, re-read for every request',
        '/var/run/secrets/attestor/peer/token',
      )
      .option('--peer-audience <aud>', "audience of the operator's peer recovery token", DEFAULT_PEER_AUDIENCE)
      .option(
        '--peer-sync-interval <duration>',
        "how often a replica checks that it holds the leader's identity (also on every change of the Manifests)",
        durationOption,
        DEFAULT_PEER_SYNC_INTERVAL_MS,
      )
      .option(
        '--operator-service-account <username>',
        'username of the operator replicas that may ask the leader for the identity, a first filter before their evidence (default system:serviceaccount:<namespace>:attestor-operator)',
      )
      .option(
        '--agent-service-account <username>',
        'username of the node agents (default system:serviceaccount:<namespace>:attestor-agent)',
      )
      .option('--agent-audience <aud>', "audience of the agents' projected tokens", 'attestor')
      .option('--grant-ttl <duration>', 'lifetime of an activation grant', durationOption, 120_000)
      .option(
        '--token-review-cache-ttl <duration>',
        "reuse a successful TokenReview of a caller's token this long (0: review every request); a deleted pod's token stays accepted as long",
        durationOption,
        10_000,
      )
      .option(
        '--nonces-per-node <n>',
        "outstanding nonces per node (more drop that node's oldest)",
        positiveIntOption,
        DEFAULT_COORDINATOR_LIMITS.noncesPerNode,
      )
      .addOption(
        rate(
          '--agent-request-rate <burst/interval>',
          'nonce, evidence and activation requests per node: a burst, then one per interval (429 beyond)',
          DEFAULT_COORDINATOR_LIMITS.requests,
        ),
      )
      .addOption(
        rate(
          '--agent-watch-rate <burst/interval>',
          'watch (long poll) requests per node',
          DEFAULT_COORDINATOR_LIMITS.watches,
        ),
      )
      .addOption(
        rate(
          '--node-event-rate <burst/interval>',
          'Events the Coordinator records per node (the verdict is always in NodeAttestation status)',
          DEFAULT_COORDINATOR_LIMITS.events,
        ),
      )
      .option('--rim-dir <dir>', 'NVIDIA RIM documents (*.xml) used to appraise GPU measurements')
      // Replaced by the collateral cache's layout; kept hidden so that the operator can say where VCEKs go now.
      .addOption(new Option('--snp-vcek-dir <dir>').hideHelp())
      .option(
        '--tdx-collateral <dir>',
        'Intel PCS collateral (TCB info, QE identity, CRLs; layout as for attestor verify tdx); TDX nodes without all of it (here or in the cache) are refused',
      )
      .option(
        '--collateral-cache <dir>',
        'vendor collateral cache (docs/collateral.md): VCEKs (snp/vcek/<product>/<hwid>-<tcb>.der, for evidence without a certificate table), CRLs, PCS collateral, RIMs, GPU OCSP answers, read before appraisal',
      )
      .option(
        '--collateral-fetch',
        "fetch what the cache lacks (or what went stale) from AMD KDS, Intel PCS, the NVIDIA RIM service and NVIDIA's OCSP responder (off: air-gapped)",
        false,
      )
      .option('--collateral-timeout <duration>', 'timeout of one collateral request', durationOption, 10_000)
      .addOption(
        new Option(
          '--snp-product <product>',
          'SEV-SNP product of version-2 reports, which do not name it (for KDS requests)',
        ).choices(['Milan', 'Genoa', 'Turin']),
      )
      .option('--amd-kds-url <url>', 'AMD KDS base URL (a mirror)')
      .option('--intel-pcs-url <url>', 'Intel PCS base URL (a mirror)')
      .option('--nvidia-rim-url <url>', 'NVIDIA RIM service base URL (a mirror)')
      .option(
        '--nvidia-ocsp-url <url>',
        'OCSP responder for NVIDIA certificates that name none in their Authority Information Access (default https://ocsp.ndis.nvidia.com/)',
      )
      .option('--no-webhook', 'do not serve the admission webhook')
      .option(
        '--webhook-address <host:port>',
        'serve the admission webhook (HTTPS, same certificate) here',
        addressOption,
        { host: '0.0.0.0', port: 9443 },
      )
      .addOption(
        new Option(
          '--gpu-resource-prefixes <list>',
          'comma-separated resource-name prefixes that count as GPUs (a pod with any resource claim counts too); must match the webhook configuration (Helm: webhook.gpuResourcePrefixes)',
        )
          .argParser(parseGpuResourcePrefixes)
          .default([...DEFAULT_GPU_RESOURCE_PREFIXES], DEFAULT_GPU_RESOURCE_PREFIXES.join(',')),
      )
      .option(
        '--webhook-client-ca <file>',
        "serve the webhook only to clients with a certificate from these CAs (PEM; the API server's webhook client certificate, see its AdmissionConfiguration); re-read on change",
      )
      .option(
        '--webhook-allow-any-client',
        'serve the webhook without client authentication (where the API server cannot present a client certificate)',
        false,
      )
      .option(
        '--eviction-pending-grace <duration>',
        'how long a GPU node may await GPU activation or re-appraisal under a new Manifest before its GPU pods are evicted',
        durationOption,
        60_000,
      )
      .option(
        '--eviction-rollout-max <duration>',
        'after a Manifest change, pending GPU nodes keep their GPU pods while other nodes keep becoming current (each pending grace counted from the last one), at most this long after the Manifest became active',
        durationOption,
        600_000,
      )
      .option(
        '--eviction-pdb-grace <duration>',
        'delete a GPU pod on a node that lost its attestation when its evictions have been refused (PodDisruptionBudget) this long',
        durationOption,
        60_000,
      )
      .option(
        '--init-image <image>',
        "the attestor init image added to every pod-CVM AI worker pod, and (--confidential-node) to every confidential-node one (the operator's own), pinned by digest (<name>@sha256:<64 hex>); without it pod-CVM AIWorkers are held at 0 replicas and confidential-node pods get no workload certificate",
      )
      .option(
        '--workload-coordinator-url <url>',
        'the Coordinator API as pods reach it (attestor init) (default https://attestor-coordinator.<namespace>.svc:8443)',
      )
      .option(
        '--workload-coordinator-ca-file <file>',
        "PEM of the CA that signed the Coordinator's serving certificate, put into the pod spec of AI worker pods with attestor init (so a pod-CVM pod's policy pins it)",
      )
      .option(
        '--secret-service-url <url>',
        "the secret service as AI worker pods reach it (https), the --secret-service of the attestor worker-proxy sidecar the operator adds next to every AI worker pod's model server; without it the sidecars know no secret and refuse every request as unknown_secret",
      )
      .option(
        '--cluster-domain <domain>',
        'the cluster DNS domain, for the Service names in workload certificates',
        'cluster.local',
      )
      .option(
        '--development-roots',
        'DEVELOPMENT ONLY: generate simulated AMD, Intel and NVIDIA roots in memory and trust evidence they sign while the active Manifest accepts simulated evidence (spec.development.acceptSimulatedEvidence), and serve simulated hardware for simulated agents and pod inits (--development-hardware-address); never in production: whoever reaches that port can have any evidence signed',
        false,
      )
      .option(
        '--development-hardware-address <host:port>',
        'with --development-roots: serve the simulated hardware (plain HTTP) here',
        addressOption,
        { host: '0.0.0.0', port: DEFAULT_SIMULATED_HARDWARE_PORT },
      )
      .option(
        '--development-hardware-url <url>',
        "with --development-roots: the simulated hardware as pods reach it (http://...), given to every pod-CVM pod's attestor init (--simulated-hardware) instead of configfs-tsm and NVML",
      )
      .option(
        '--no-resource-slices',
        'do not watch resource.k8s.io/v1 ResourceSlices (clusters before Kubernetes 1.34); DRA-only GPU nodes are then not recognised as GPU nodes (neither closed nor opened)',
      )
  );
}
