/**
 * `attestor verify coordinator`: the client's check of a Coordinator (src/client/verify-coordinator.ts)
 * against a Manifest the caller pins: a Manifest file as applied (its hash computed with the CRD
 * schema's defaults, as the API server stores it) or its hash. Exit 0 verified, 1 refused (with
 * every reason; a different Manifest names both hashes), 2 unusable input or an unreachable
 * Coordinator. `--out DIR` writes root-ca.pem, mesh-ca.pem, history.json and manifest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { ManifestDocumentError, readManifestDocument } from '../../api/manifest-document.ts';
import { CoordinatorUnreachable } from '../../client/coordinator-fetch.ts';
import { readSimulatedRoots } from '../../client/simulated-roots.ts';
import { type CoordinatorVerification, verifyCoordinator } from '../../client/verify-coordinator.ts';
import { CollateralStore, collateralSource } from '../../collateral/index.ts';
import { errorMessage } from '../../errors.ts';
import { writeFailure } from '../errors.ts';
import { EXIT_REFUSED, EXIT_UNUSABLE, EXIT_VERIFIED, readText, UnusableInput } from './output.ts';

export interface CoordinatorCliOptions {
  coordinator: string;
  manifest?: string;
  manifestHash?: string;
  out?: string;
  json?: boolean;
  simulatedRoots?: string;
  allowAdminTrusted?: boolean;
  allowHistory?: boolean;
  collateralCache?: string;
  collateralFetch?: boolean;
  timeout?: string;
}

type Write = (s: string) => void;

/** The pinned hash: of the Manifest file as applied, or given. */
export function pinnedHash(opts: Pick<CoordinatorCliOptions, 'manifest' | 'manifestHash'>): string {
  if ((opts.manifest === undefined) === (opts.manifestHash === undefined))
    throw new UnusableInput('give exactly one of --manifest FILE and --manifest-hash HEX');
  if (opts.manifestHash !== undefined) {
    const hash = opts.manifestHash.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hash))
      throw new UnusableInput(`--manifest-hash: expected 64 hex characters (SHA-256), got "${opts.manifestHash}"`);
    return hash;
  }
  try {
    return readManifestDocument(readText(opts.manifest!)).hash;
  } catch (err) {
    if (err instanceof ManifestDocumentError) throw new UnusableInput(`--manifest: ${opts.manifest}: ${err.message}`);
    throw err;
  }
}

export async function runVerifyCoordinator(
  opts: CoordinatorCliOptions,
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): Promise<number> {
  let result: CoordinatorVerification;
  try {
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
    result = await verifyCoordinator({
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
    });
  } catch (e) {
    if (!(e instanceof UnusableInput) && !(e instanceof CoordinatorUnreachable)) throw e;
    return writeFailure(
      { command: 'attestor verify coordinator', message: e.message, exitCode: EXIT_UNUSABLE },
      opts.json ?? false,
      out,
      err,
    );
  }
  if (result.verified && opts.out !== undefined) {
    try {
      writeOut(opts.out, result);
    } catch (e) {
      return writeFailure(
        {
          command: 'attestor verify coordinator',
          message: `--out ${opts.out}: ${errorMessage(e)}`,
          exitCode: EXIT_UNUSABLE,
        },
        opts.json ?? false,
        out,
        err,
      );
    }
  }
  printCoordinatorVerification(result, opts.json ?? false, out);
  return result.verified ? EXIT_VERIFIED : EXIT_REFUSED;
}

function writeOut(dir: string, r: CoordinatorVerification): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'root-ca.pem'), r.rootCA!);
  writeFileSync(join(dir, 'mesh-ca.pem'), r.meshCA!);
  writeFileSync(join(dir, 'history.json'), `${JSON.stringify(r.history, null, 2)}\n`);
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(r.manifest, null, 2)}\n`);
}

/** The verification as printed: one JSON object with --json, else the verdict, what was checked and not, and the claims. */
export function printCoordinatorVerification(r: CoordinatorVerification, json: boolean, out: Write): void {
  if (json) {
    const body = r.verified
      ? {
          verified: true,
          manifestHash: r.manifestHash,
          meshCA: r.meshCA,
          rootCA: r.rootCA,
          history: r.history,
          simulated: r.simulated ?? false,
          relaxations: r.relaxations ?? [],
        }
      : {
          verified: false,
          pinnedHash: r.pinnedHash,
          ...(r.manifestHash ? { manifestHash: r.manifestHash } : {}),
          reasons: r.reasons,
        };
    out(`${JSON.stringify(body, null, 2)}\n`);
    return;
  }
  if (!r.verified) {
    out('REFUSED\n');
    for (const reason of r.reasons) out(`  - [${reason.check}] ${reason.message}\n`);
    return;
  }
  out(`VERIFIED: the Coordinator runs Manifest ${r.manifestHash}\n`);
  const platform = r.cvm ? (r.cvm.platform === 'snp' ? 'SEV-SNP' : 'TDX') : 'CVM';
  out('checked:\n');
  out(
    `  its ${platform} evidence: ${r.simulated ? 'the simulated roots you passed' : "the vendor's pinned roots"}, and the pinned Manifest's coordinator entries and policies\n`,
  );
  out('  REPORT_DATA binds a fresh nonce, its Manifest history and its root and mesh CAs\n');
  out(`  its active Manifest is the one you pinned, reached through ${(r.history ?? []).length} history entries\n`);
  const relaxed = r.relaxations ?? [];
  if (relaxed.length > 0 || r.simulated) {
    out('not checked (relaxed by the pinned Manifest):\n');
    if (r.simulated)
      out('  hardware evidence: SIMULATED (signed by the simulated roots you passed; development only)\n');
    for (const x of relaxed) out(`  ${x.path}: ${x.message}\n`);
  }
  out('claims:\n');
  if (r.cvm?.measurement) out(`  measurement  ${r.cvm.measurement}\n`);
  if (r.cvm?.policyHash) out(`  policy hash  ${r.cvm.policyHash}\n`);
  if (r.cvm?.tcb) out(`  TCB          ${r.cvm.tcb}\n`);
  out('  history (oldest first):\n');
  for (const e of r.history ?? []) out(`    ${e.manifestHash}  transition ${e.transition}\n`);
  out(`mesh CA:\n${r.meshCA}`);
}

export function coordinatorCommand(): Command {
  return new Command('coordinator')
    .description(
      "verify a Coordinator against the Manifest you pin: its CVM evidence (vendor roots, the Manifest's coordinator entries and policies, REPORT_DATA binding your nonce, its Manifest history and its CAs), its active Manifest and history. The URL is reached without trusting its TLS certificate: the evidence carries the trust. Pin the hash the workload owner publishes, never one read from the cluster (kubectl shows what the admin wants). Exit 0 verified, 1 refused, 2 unusable input or unreachable",
    )
    .requiredOption(
      '--coordinator <url>',
      'the Coordinator, e.g. https://coordinator.example:8443 (https without checking its certificate, or http)',
    )
    .option(
      '--manifest <file>',
      'the Manifest YAML as applied; its hash is computed with the CRD defaults, as the server does',
    )
    .option('--manifest-hash <hex>', "the Manifest's canonical SHA-256, as the workload owner published it")
    .option('--out <dir>', 'when verified, write root-ca.pem, mesh-ca.pem, history.json and manifest.json here')
    .option(
      '--json',
      'print one JSON object: {verified, manifestHash, meshCA, rootCA, history, simulated, relaxations} or {verified: false, pinnedHash, manifestHash, reasons}',
      false,
    )
    .option(
      '--simulated-roots <file>',
      'accept evidence signed by these simulated roots (written by attestor dev), if the pinned Manifest accepts simulated evidence: development only',
    )
    .option(
      '--allow-admin-trusted',
      'accept a pinned Manifest that enables the confidential-node model (node-role CVM entries), which trusts the cluster admin',
      false,
    )
    .option(
      '--allow-history',
      'accept a Coordinator that followed earlier Manifests before the pinned one (listed)',
      false,
    )
    .option(
      '--collateral-cache <dir>',
      'vendor collateral cache (docs/collateral.md) for the evidence: Intel collateral for a TDX quote, AMD CRLs',
    )
    .option('--collateral-fetch', 'fetch what the cache lacks from the vendors', false)
    .option('--timeout <seconds>', 'how long to wait for the Coordinator', '30')
    .action(async (opts: CoordinatorCliOptions) => {
      process.exitCode = await runVerifyCoordinator(opts);
    });
}
