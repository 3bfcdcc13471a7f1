/**
 * `attestor proxy`: the client proxy. It verifies the Coordinator against the Manifest the user pins
 * (the same check and flags as `attestor verify coordinator`), and only then serves a local
 * OpenAI-compatible endpoint whose requests travel encrypted to the workers (src/proxy/). On a
 * Coordinator that does not verify it exits 1, naming every mismatch; 2 for unusable input or an
 * unreachable Coordinator. When an exchange fails later, it verifies the Coordinator again.
 */
import { Command, Option } from 'commander';
import { CoordinatorUnreachable } from '../client/coordinator-fetch.ts';
import { readSimulatedRoots } from '../client/simulated-roots.ts';
import { type VerifyCoordinatorOptions, verifyCoordinator } from '../client/verify-coordinator.ts';
import { CollateralStore, collateralSource } from '../collateral/index.ts';
import { errorMessage } from '../errors.ts';
import { secretServiceExchange } from '../proxy/secret-exchange.ts';
import { DEFAULT_LISTEN, startClientProxy } from '../proxy/server.ts';
import { InferenceSession, type Trust } from '../proxy/session.ts';
import { addressOption } from './options.ts';
import { pinnedHash } from './verify/coordinator.ts';
import { EXIT_REFUSED, EXIT_UNUSABLE, readText, UnusableInput } from './verify/output.ts';

export interface ProxyCliOptions {
  listen: { host: string; port: number };
  coordinator: string;
  manifest?: string;
  manifestHash?: string;
  endpoint: string;
  secretService: string;
  secretServiceCaFile?: string;
  apiKey?: string;
  simulatedRoots?: string;
  allowAdminTrusted?: boolean;
  allowHistory?: boolean;
  collateralCache?: string;
  collateralFetch?: boolean;
  timeout?: string;
}

type Write = (s: string) => void;

/** The verifyCoordinator options of the flags; UnusableInput for a flag it cannot use. */
function coordinatorOptions(opts: ProxyCliOptions): VerifyCoordinatorOptions {
  const manifestHash = pinnedHash(opts);
  let simulatedRoots: ReturnType<typeof readSimulatedRoots> | undefined;
  if (opts.simulatedRoots !== undefined) {
    try {
      simulatedRoots = readSimulatedRoots(readText(opts.simulatedRoots));
    } catch (e) {
      if (e instanceof UnusableInput) throw e;
      throw new UnusableInput(`--simulated-roots: ${errorMessage(e)}`);
    }
  }
  const timeoutMs = opts.timeout === undefined ? 30_000 : Number(opts.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new UnusableInput(`--timeout: expected seconds, got "${opts.timeout}"`);
  for (const [flag, url] of [
    ['--endpoint', opts.endpoint],
    ['--secret-service', opts.secretService],
  ] as const)
    if (!/^https:\/\//.test(url)) throw new UnusableInput(`${flag}: expected an https URL, got "${url}"`);
  return {
    coordinator: opts.coordinator,
    manifestHash,
    timeoutMs,
    ...(simulatedRoots ? { simulatedRoots } : {}),
    allowAdminTrusted: opts.allowAdminTrusted ?? false,
    allowHistory: opts.allowHistory ?? false,
    ...(opts.collateralCache
      ? {
          collateral: collateralSource({
            store: new CollateralStore({ dir: opts.collateralCache, network: opts.collateralFetch ?? false }),
          }),
        }
      : {}),
  };
}

/** Verifies, then serves until `stop` resolves; the exit code. */
export async function runProxy(
  opts: ProxyCliOptions,
  stop: Promise<void>,
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): Promise<number> {
  let check: VerifyCoordinatorOptions;
  let secretServiceCa: string | undefined;
  try {
    check = coordinatorOptions(opts);
    if (opts.secretServiceCaFile !== undefined) secretServiceCa = readText(opts.secretServiceCaFile);
  } catch (e) {
    if (!(e instanceof UnusableInput)) throw e;
    err(`attestor proxy: ${e.message}\n`);
    return EXIT_UNUSABLE;
  }
  const verify = async (): Promise<Trust | { reasons: string[] }> => {
    const r = await verifyCoordinator(check);
    if (!r.verified || !r.meshCA || !r.manifest)
      return { reasons: r.reasons.map((reason) => `[${reason.check}] ${reason.message}`) };
    return { meshCA: r.meshCA, manifest: r.manifest };
  };
  let trust: Awaited<ReturnType<typeof verify>>;
  try {
    trust = await verify();
  } catch (e) {
    if (!(e instanceof CoordinatorUnreachable)) throw e;
    err(`attestor proxy: ${e.message}\n`);
    return EXIT_UNUSABLE;
  }
  if ('reasons' in trust) {
    err(`attestor proxy: the Coordinator does not pass verification against Manifest ${check.manifestHash}:\n`);
    for (const reason of trust.reasons) err(`  - ${reason}\n`);
    return EXIT_REFUSED;
  }
  const session = new InferenceSession({
    meshCA: trust.meshCA,
    manifest: trust.manifest,
    // The service's own certificate is a workload certificate of the attested mesh CA, unless told otherwise.
    exchange: secretServiceExchange({
      url: opts.secretService,
      ca: secretServiceCa ?? trust.meshCA,
      ignoreHostName: secretServiceCa === undefined,
      ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
    }),
    endpoint: opts.endpoint,
    reverify: async () => {
      const again = await verify().catch(() => undefined);
      if (again === undefined || 'reasons' in again) {
        err('attestor proxy: the Coordinator no longer passes verification\n');
        return undefined;
      }
      return again;
    },
  });
  const proxy = await startClientProxy({ listen: opts.listen, session });
  out(`verified: the Coordinator runs Manifest ${check.manifestHash}\n`);
  out(`proxy: ${proxy.url}\n`);
  await stop;
  await proxy.close();
  session.close();
  return 0;
}

export function proxyCommand(): Command {
  return new Command('proxy')
    .description(
      'a local OpenAI-compatible endpoint whose requests travel encrypted to confidential workers: verifies the Coordinator against the Manifest you pin first (exit 1 naming every mismatch, 2 for unusable input or an unreachable Coordinator), exchanges a secret with the secret service, and sends only to workers the attested mesh CA certified under a pinned worker policy',
    )
    .option(
      '--listen <host:port>',
      'where the local endpoint listens (keep it on loopback)',
      addressOption,
      DEFAULT_LISTEN,
    )
    .requiredOption('--coordinator <url>', 'the Coordinator, e.g. https://coordinator.example:8443')
    .option('--manifest <file>', 'the Manifest YAML as applied; its hash is computed with the CRD defaults')
    .option('--manifest-hash <hex>', "the Manifest's canonical SHA-256, as the workload owner published it")
    .requiredOption(
      '--endpoint <url>',
      "the workers' endpoint: a worker proxy's https://host:port, or a load balancer's",
    )
    .requiredOption('--secret-service <url>', "the secret service's https://host:port")
    .option(
      '--secret-service-ca-file <file>',
      "PEM trust anchors for the secret service's TLS certificate (default: the attested mesh CA); the exchange's signed answer is checked either way",
    )
    .addOption(
      new Option('--api-key <key>', 'an API key for the secret service or a gateway in front of it (Bearer)').env(
        'ATTESTOR_API_KEY',
      ),
    )
    .option(
      '--simulated-roots <file>',
      'accept Coordinator evidence signed by these simulated roots (written by attestor dev), if the pinned Manifest accepts simulated evidence: development only',
    )
    .option(
      '--allow-admin-trusted',
      'accept a pinned Manifest that enables the confidential-node model, which trusts the cluster admin',
      false,
    )
    .option('--allow-history', 'accept a Coordinator that followed earlier Manifests before the pinned one', false)
    .option('--collateral-cache <dir>', 'vendor collateral cache (docs/collateral.md) for the evidence')
    .option('--collateral-fetch', 'fetch what the cache lacks from the vendors', false)
    .option('--timeout <seconds>', 'how long to wait for the Coordinator', '30')
    .action(async (opts: ProxyCliOptions) => {
      const stop = new Promise<void>((resolve) => {
        process.once('SIGTERM', () => resolve());
        process.once('SIGINT', () => resolve());
      });
      process.exitCode = await runProxy(opts, stop);
    });
}
