/**
 * `attestor collateral fetch|check`: fills or audits a vendor collateral cache (docs/collateral.md)
 * for clusters that cannot reach the vendors. `fetch`, on a machine that can (or through a
 * mirror), looks up what the given evidence needs (VCEKs, ASK/ARK chains and CRLs from AMD KDS;
 * TCB info, QE identity and CRLs from Intel PCS; RIMs and OCSP answers from NVIDIA) with the
 * same store the operator uses, and shows each item as it completes. `check` reads the cache
 * only and reports every item that is missing, damaged, or expired at --at plus --valid-for.
 * Exit 0 all present and current, 1 anything missing, failed or expired, 2 usage.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { SnpProduct } from '../attestation/reference-values.ts';
import { CollateralStore } from '../collateral/store.ts';
import { cachedItems, type ItemOutcome, lookUpWanted, type WantedCollateral } from '../collateral/wanted.ts';
import { errorMessage } from '../errors.ts';
import { EXIT_FAILED, EXIT_OK, UnusableInput } from './errors.ts';
import { durationOption } from './options.ts';
import { parseAt } from './verify/output.ts';

type Write = (s: string) => void;

export interface CollateralCliOptions {
  cache: string;
  snpReport: string[];
  snpProduct?: SnpProduct;
  tdxQuote: string[];
  gpuReport: string[];
  gpuCerts: string[];
  rim: string[];
  at?: string;
  validFor?: number;
  timeout?: number;
  amdKdsUrl?: string;
  intelPcsUrl?: string;
  intelRootCrlUrl?: string;
  nvidiaRimUrl?: string;
  nvidiaOcspUrl?: string;
  ocsp?: boolean;
  json?: boolean;
}

/** An outcome as one word: what a script or a person acts on. */
export type ItemState = 'fetched' | 'cached' | 'expired' | 'missing' | 'failed';

export function itemState(o: ItemOutcome): ItemState {
  const l = o.lookup;
  if (l.status === 'missing') return 'missing';
  if (l.status === 'failed') return 'failed';
  if (l.stale !== undefined) return 'expired';
  return l.from === 'vendor' ? 'fetched' : 'cached';
}

function detail(o: ItemOutcome): string | undefined {
  const l = o.lookup;
  if (l.status === 'missing') return l.reason;
  if (l.status === 'failed') return l.error;
  return l.stale ?? l.warning;
}

function readFile(flag: string, path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    throw new UnusableInput(`${flag} ${path}: ${errorMessage(err)}`);
  }
}

/** What the flags ask for; UnusableInput when a file cannot be read or GPU flags do not pair up. */
export function wantedFromFlags(opts: CollateralCliOptions): WantedCollateral {
  if (opts.gpuReport.length !== opts.gpuCerts.length)
    throw new UnusableInput('give one --gpu-certs FILE for each --gpu-report FILE, in the same order');
  return {
    snpReports: opts.snpReport.map((f) => ({ name: f, bytes: readFile('--snp-report', f) })),
    tdxQuotes: opts.tdxQuote.map((f) => ({ name: f, bytes: readFile('--tdx-quote', f) })),
    gpus: opts.gpuReport.map((f, i) => ({
      name: f,
      report: hexOrRaw(readFile('--gpu-report', f)),
      certificateChain: Buffer.from(readFile('--gpu-certs', opts.gpuCerts[i]!)).toString('utf8'),
    })),
    rimIds: opts.rim,
    skipOcsp: opts.ocsp === false,
    ...(opts.snpProduct ? { snpProduct: opts.snpProduct } : {}),
    endpoints: {
      ...(opts.amdKdsUrl ? { amdKds: opts.amdKdsUrl } : {}),
      ...(opts.intelPcsUrl ? { intelPcs: opts.intelPcsUrl } : {}),
      ...(opts.intelRootCrlUrl ? { intelRootCrl: opts.intelRootCrlUrl } : {}),
      ...(opts.nvidiaRimUrl ? { nvidiaRim: opts.nvidiaRimUrl } : {}),
      ...(opts.nvidiaOcspUrl ? { nvidiaOcsp: opts.nvidiaOcspUrl } : {}),
    },
  };
}

/** GPU reports as NVML returns them, or as hex text (as in test/vectors). */
function hexOrRaw(data: Uint8Array): Uint8Array {
  const text = Buffer.from(data).toString('latin1').trim().replace(/^0x/i, '').replace(/\s+/g, '');
  return text.length > 0 && text.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(text)
    ? new Uint8Array(Buffer.from(text, 'hex'))
    : data;
}

function nothingWanted(w: WantedCollateral): boolean {
  return (
    !w.snpProduct &&
    (w.snpReports ?? []).length === 0 &&
    (w.tdxQuotes ?? []).length === 0 &&
    (w.gpus ?? []).length === 0 &&
    (w.rimIds ?? []).length === 0
  );
}

function printOutcomes(outcomes: readonly ItemOutcome[], json: boolean, out: Write, verb: string): number {
  const bad = outcomes.filter((o) => !['fetched', 'cached'].includes(itemState(o)));
  if (json) {
    const items = outcomes.map((o) => ({
      state: itemState(o),
      what: o.what,
      ...(o.file ? { file: o.file } : {}),
      ...(detail(o) ? { detail: detail(o) } : {}),
    }));
    out(`${JSON.stringify({ ok: bad.length === 0, items }, null, 2)}\n`);
  } else {
    const count = (s: ItemState) => outcomes.filter((o) => itemState(o) === s).length;
    out(
      `${outcomes.length} items ${verb}: ${count('fetched')} fetched, ${count('cached')} current in the cache, ${count('expired')} expired, ${count('missing')} missing, ${count('failed')} failed\n`,
    );
    for (const o of bad)
      out(`  ${itemState(o).toUpperCase()} ${o.what}${o.file ? ` (${o.file})` : ''}: ${detail(o)}\n`);
  }
  return bad.length === 0 ? EXIT_OK : EXIT_FAILED;
}

const progressLine = (total: () => string, n: { i: number }, o: ItemOutcome): string =>
  `[${++n.i}${total()}] ${itemState(o)} ${o.what}${o.file ? ` -> ${o.file}` : ''}${detail(o) ? `: ${detail(o)}` : ''}\n`;

/** `attestor collateral fetch`: the exit code. */
export async function runCollateralFetch(
  opts: CollateralCliOptions,
  out: Write = (s) => process.stdout.write(s),
  err: Write = (s) => process.stderr.write(s),
): Promise<number> {
  const wanted = wantedFromFlags(opts);
  if (nothingWanted(wanted))
    throw new UnusableInput('name what to fetch: --snp-report, --snp-product, --tdx-quote, --gpu-report or --rim');
  const at = parseAt(opts.at);
  const store = new CollateralStore({
    dir: opts.cache,
    network: true,
    ...(opts.timeout ? { limits: { timeoutMs: opts.timeout } } : {}),
    ...(wanted.endpoints ? { endpoints: wanted.endpoints } : {}),
    now: () => at,
  });
  const n = { i: 0 };
  err(`fetching into ${opts.cache}\n`);
  const outcomes = await lookUpWanted(store, wanted, (o) => err(progressLine(() => '', n, o)));
  return printOutcomes(outcomes, opts.json ?? false, out, 'looked up');
}

/** `attestor collateral check`: the exit code. */
export async function runCollateralCheck(
  opts: CollateralCliOptions,
  out: Write = (s) => process.stdout.write(s),
): Promise<number> {
  const wanted = wantedFromFlags(opts);
  const at = parseAt(opts.at);
  // "Valid for 7d": judged as if it were 7 days later.
  const judged = new Date(at.getTime() + (opts.validFor ?? 0));
  const store = new CollateralStore({ dir: opts.cache, network: false, now: () => judged });
  const outcomes = nothingWanted(wanted) ? await cachedItems(store) : await lookUpWanted(store, wanted);
  if (outcomes.length === 0 && nothingWanted(wanted)) {
    if (opts.json) out(`${JSON.stringify({ ok: false, items: [] }, null, 2)}\n`);
    else out(`no collateral in ${opts.cache}\n`);
    return EXIT_FAILED;
  }
  return printOutcomes(outcomes, opts.json ?? false, out, `checked at ${judged.toISOString()}`);
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The flags both subcommands share: the cache and what to look up. */
function withItemFlags(command: Command): Command {
  return command
    .requiredOption('--cache <dir>', "the collateral cache directory (the operator's --collateral-cache)")
    .option(
      '--snp-report <file>',
      "an SEV-SNP report (raw, 1184 bytes): its chip's VCEK at its REPORTED_TCB, the product's ASK/ARK chain and CRL; repeat for several",
      collect,
      [],
    )
    .addOption(
      new Option(
        '--snp-product <product>',
        "the product of version-2 reports, which do not name it; alone, that product's ASK/ARK chain and CRL",
      ).choices(['Milan', 'Genoa', 'Turin']),
    )
    .option(
      '--tdx-quote <file>',
      "a TDX quote: the TCB info for its FMSPC, its PCK CA's CRL, the QE identity and the root CA CRL; repeat for several",
      collect,
      [],
    )
    .option(
      '--gpu-report <file>',
      'an NVIDIA GPU attestation report (raw or hex), with --gpu-certs: its driver and VBIOS RIMs and OCSP answers for its chain and the RIM signers; repeat for several',
      collect,
      [],
    )
    .option('--gpu-certs <file>', 'the PEM certificate chain of the --gpu-report at the same position', collect, [])
    .option(
      '--rim <id>',
      'a RIM by ID (e.g. NV_GPU_DRIVER_GH100_550.90.07), with OCSP answers for its signer chain; repeat for several',
      collect,
      [],
    )
    .option(
      '--no-ocsp',
      'no OCSP answers for GPU and RIM signer certificates (for Manifests with gpu.ocsp.required: false)',
    )
    .option('--at <time>', 'RFC 3339 time at which collateral must be current (default: now)')
    .option('--json', 'print one JSON object: {ok, items: [{state, what, file, detail}]}', false);
}

export function collateralCommand(): Command {
  const collateral = new Command('collateral').description(
    'fill or audit the vendor collateral cache for clusters that cannot reach AMD, Intel and NVIDIA (docs/collateral.md)',
  );
  collateral.addCommand(
    withItemFlags(new Command('fetch'))
      .description(
        'fetch what the evidence needs into the cache, showing each item as it completes; what the cache holds and is current is not fetched again (exit 0 all present and current, 1 anything failed or expired, 2 usage)',
      )
      .option('--timeout <duration>', 'timeout of one request', durationOption, 10_000)
      .option('--amd-kds-url <url>', 'AMD KDS base URL (a mirror)')
      .option('--intel-pcs-url <url>', 'Intel PCS base URL (a mirror or a PCCS)')
      .option('--intel-root-crl-url <url>', 'URL of the Intel SGX Root CA CRL (a mirror)')
      .option('--nvidia-rim-url <url>', 'NVIDIA RIM service base URL (a mirror)')
      .option(
        '--nvidia-ocsp-url <url>',
        'OCSP responder for NVIDIA certificates that name none (default https://ocsp.ndis.nvidia.com/)',
      )
      .action(async (opts: CollateralCliOptions) => {
        process.exitCode = await runCollateralFetch(opts);
      }),
  );
  collateral.addCommand(
    withItemFlags(new Command('check'))
      .description(
        'audit the cache without reaching any vendor: every item the evidence needs (or, given none, every item in the cache) must be there, intact and current (exit 0 all present and current, 1 anything missing, damaged or expired, 2 usage)',
      )
      .option(
        '--valid-for <duration>',
        'also refuse collateral that expires within this time, e.g. 168h to act a week ahead',
        durationOption,
        0,
      )
      .action(async (opts: CollateralCliOptions) => {
        process.exitCode = await runCollateralCheck(opts);
      }),
  );
  return collateral;
}
