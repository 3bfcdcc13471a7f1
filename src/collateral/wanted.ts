/**
 * The collateral items that given evidence (or explicit names) needs, each with its cache file,
 * what it is, and a lookup through the store: what `attestor collateral fetch` fills and
 * `attestor collateral check` audits. It names the same items the Coordinator's lookups use
 * (snp.ts, tdx.ts, gpu.ts), item by item, so that a report can say which one is missing.
 * `cachedItems` goes the other way: the items a cache directory holds, from their file names.
 */
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { RimInput } from '../attestation/nvidia/index.ts';
import type { SnpProduct } from '../attestation/reference-values.ts';
import { decodeKeyInfo } from '../attestation/snp/key-info.ts';
import { productFromCpuid } from '../attestation/snp/product.ts';
import { parseSnpReport, type SnpReport } from '../attestation/snp/report.ts';
import { errorMessage } from '../errors.ts';
import { type KdsSigner, kdsHwid } from './amd-kds.ts';
import { type GpuOcspAnchors, gpuOcsp, gpuRimIds } from './gpu.ts';
import type { PckCa } from './intel-pcs.ts';
import { VENDOR_ENDPOINTS, type VendorEndpoints } from './layout.ts';
import { snpCertChainItem, snpCrlItem, snpVcekItem } from './layout-amd.ts';
import { tdxPckCrlItem, tdxQeIdentityItem, tdxRootCrlItem, tdxTcbInfoItem } from './layout-intel.ts';
import { nvidiaOcspItem, nvidiaRimItem } from './layout-nvidia.ts';
import { isRimId } from './nvidia-services.ts';
import type { CollateralStore, Lookup } from './store.ts';
import { quotePlatform } from './tdx.ts';

/** One piece of collateral and what the store said about it. */
export interface ItemOutcome {
  readonly what: string;
  /** Relative to the cache directory; absent when the item could not even be named. */
  readonly file?: string;
  readonly lookup: Lookup<unknown>;
}

export interface WantedCollateral {
  /** SEV-SNP reports: the VCEK of each chip and TCB, the product's ASK/ARK chain and CRL. */
  readonly snpReports?: ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>;
  /** The product of reports that do not name it (version 2), and products whose chain and CRL are wanted. */
  readonly snpProduct?: SnpProduct;
  /** TDX quotes: TCB info for each FMSPC, the PCK CRL of its CA, the QE identity and the root CA CRL. */
  readonly tdxQuotes?: ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>;
  /** GPUs: the driver and VBIOS RIMs each report implies, and OCSP answers for their chains and the RIMs' signers. */
  readonly gpus?: ReadonlyArray<{
    readonly name: string;
    readonly report: Uint8Array;
    readonly certificateChain: string;
  }>;
  /** RIMs by ID. */
  readonly rimIds?: readonly string[];
  readonly endpoints?: Partial<VendorEndpoints>;
  /** Skip OCSP answers (for Manifests with gpu.ocsp.required: false). */
  readonly skipOcsp?: boolean;
  /** Roots of the chains asked about over OCSP; default the pinned NVIDIA roots. */
  readonly gpuAnchors?: GpuOcspAnchors;
}

type Report = (outcome: ItemOutcome) => void;

const failed = (error: string): Lookup<unknown> => ({ status: 'failed', error });

/**
 * Looks up every item `wanted` names, calling `report` as each one completes (for progress), and
 * returns all outcomes. Items shared by several inputs are looked up once.
 */
export async function lookUpWanted(
  store: CollateralStore,
  wanted: WantedCollateral,
  report: Report = () => {},
): Promise<ItemOutcome[]> {
  const endpoints = { ...VENDOR_ENDPOINTS, ...wanted.endpoints };
  const outcomes: ItemOutcome[] = [];
  const seen = new Set<string>();
  const done = (o: ItemOutcome): void => {
    outcomes.push(o);
    report(o);
  };
  const once = async (
    item: { what: string; file: string },
    lookup: () => Promise<Lookup<unknown>>,
  ): Promise<Lookup<unknown>> => {
    if (seen.has(item.file)) return { status: 'missing', reason: 'already looked up' };
    seen.add(item.file);
    const l = await lookup();
    done({ what: item.what, file: item.file, lookup: l });
    return l;
  };

  const jobs: Array<Promise<unknown>> = [];
  // AMD: sequential per report (KDS rate-limits hard), reports one after the other.
  jobs.push(
    (async () => {
      const products = new Map<string, { product: SnpProduct; signer: KdsSigner }>();
      if (wanted.snpProduct && (wanted.snpReports ?? []).length === 0)
        products.set(`${wanted.snpProduct}/vcek`, { product: wanted.snpProduct, signer: 'vcek' });
      for (const { name, bytes } of wanted.snpReports ?? []) {
        let report: SnpReport;
        try {
          report = parseSnpReport(bytes);
        } catch (err) {
          done({ what: `the VCEK for ${name}`, lookup: failed(`not an SEV-SNP report: ${errorMessage(err)}`) });
          continue;
        }
        const product =
          (report.cpuid ? productFromCpuid(report.cpuid.family, report.cpuid.model) : null) ?? wanted.snpProduct;
        const signer: KdsSigner = decodeKeyInfo(report.keyInfo).signingKey === 'vlek' ? 'vlek' : 'vcek';
        if (!product) {
          done({
            what: `the VCEK for ${name}`,
            lookup: failed(`the report (version ${report.version}) does not name its product: pass --snp-product`),
          });
          continue;
        }
        products.set(`${product}/${signer}`, { product, signer });
        if (signer === 'vlek') {
          done({
            what: `the VLEK for ${name}`,
            lookup: failed('KDS does not serve VLEKs to verifiers: it must come in the certificate table'),
          });
        } else if (report.chipId.every((b) => b === 0)) {
          done({
            what: `the VCEK for ${name}`,
            lookup: failed('the report masks CHIP_ID: its VCEK must come in the certificate table'),
          });
        } else {
          await once(snpVcekItem(endpoints, product, report.chipId, report.reportedTcb), () =>
            store.snpVcek(product, report.chipId, report.reportedTcb),
          );
        }
      }
      for (const { product, signer } of products.values()) {
        await once(snpCertChainItem(endpoints, product, signer), () => store.snpCertChain(product, signer));
        await once(snpCrlItem(endpoints, product, signer), () => store.snpCrl(product, signer));
      }
    })(),
  );

  // Intel
  if ((wanted.tdxQuotes ?? []).length > 0)
    jobs.push(
      (async () => {
        const cas = new Set<PckCa>();
        for (const { name, bytes } of wanted.tdxQuotes ?? []) {
          const platform = quotePlatform(bytes);
          if (!platform) {
            done({ what: `the TCB info for ${name}`, lookup: failed('not a TDX quote with a PCK chain') });
            continue;
          }
          if (platform.ca) cas.add(platform.ca);
          else
            done({
              what: `the PCK CRL for ${name}`,
              lookup: failed("the PCK certificate's issuer is neither the platform nor the processor CA"),
            });
          await once(tdxTcbInfoItem(endpoints, platform.fmspc), () => store.tdxTcbInfo(platform.fmspc));
        }
        await once(tdxQeIdentityItem(endpoints), () => store.tdxQeIdentity());
        for (const ca of cas) await once(tdxPckCrlItem(endpoints, ca), () => store.tdxPckCrl(ca));
        await once(tdxRootCrlItem(endpoints), () => store.tdxRootCrl());
      })(),
    );

  // NVIDIA: the RIMs first, then OCSP for the device chains and the signer chains of the RIMs found.
  if ((wanted.gpus ?? []).length > 0 || (wanted.rimIds ?? []).length > 0)
    jobs.push(
      (async () => {
        const ids = new Set<string>(wanted.rimIds ?? []);
        for (const gpu of wanted.gpus ?? []) {
          const implied = gpuRimIds(gpu.report, gpu.certificateChain);
          if (!implied.driver || !implied.vbios)
            done({
              what: `the RIMs for ${gpu.name}`,
              lookup: failed('the report or its certificate chain does not name its driver and VBIOS RIMs'),
            });
          for (const id of [implied.driver, implied.vbios]) if (id) ids.add(id);
        }
        const rims: RimInput[] = [];
        for (const id of ids) {
          if (!isRimId(id)) {
            done({ what: `RIM ${id}`, lookup: failed('not a RIM ID') });
            continue;
          }
          const l = await once(nvidiaRimItem(endpoints, id), () => store.nvidiaRim(id));
          if (l.status === 'found') rims.push({ xml: l.value as string, id });
        }
        if (wanted.skipOcsp || ((wanted.gpus ?? []).length === 0 && rims.length === 0)) return;
        const recording = {
          nvidiaOcsp: (query: Parameters<CollateralStore['nvidiaOcsp']>[0]) => {
            const item = nvidiaOcspItem(endpoints, query);
            return once(item, () => store.nvidiaOcsp(query)) as ReturnType<CollateralStore['nvidiaOcsp']>;
          },
        };
        const chains = (wanted.gpus ?? []).map((g) => ({ uuid: g.name, certificateChain: g.certificateChain }));
        const ocsp = await gpuOcsp(recording, chains, rims, wanted.gpuAnchors);
        for (const note of ocsp.notes)
          if (/does not lead to the pinned roots/.test(note)) done({ what: 'OCSP answers', lookup: failed(note) });
      })(),
    );
  await Promise.all(jobs);
  return outcomes;
}

/**
 * The items a cache directory holds, named from their files, with their lookups through `store`
 * (fetching off): what `attestor collateral check` audits when no evidence is given. OCSP
 * answers are named by issuer key and serial only, so they are audited with the GPU evidence.
 */
export async function cachedItems(store: CollateralStore, report: Report = () => {}): Promise<ItemOutcome[]> {
  const offline = store.offline();
  const files = await listFiles(store.dir);
  const outcomes: ItemOutcome[] = [];
  const add = async (file: string, what: string, lookup: Promise<Lookup<unknown>>): Promise<void> => {
    const o = { what, file, lookup: await lookup };
    outcomes.push(o);
    report(o);
  };
  for (const file of files) {
    for (const [pattern, lookup] of cacheFileKinds(offline)) {
      const m = pattern.exec(file);
      if (!m) continue;
      const found = lookup(m);
      if (found) await add(file, found.what, found.lookup);
      break;
    }
  }
  return outcomes;
}

type FileKind = readonly [
  RegExp,
  (m: RegExpExecArray) => { what: string; lookup: Promise<Lookup<unknown>> } | undefined,
];

/** The cache's file names (layout.ts) and the lookup each stands for. */
function cacheFileKinds(store: CollateralStore): FileKind[] {
  const e = VENDOR_ENDPOINTS;
  const product = (m: RegExpExecArray) => m[1] as SnpProduct;
  const signer = (m: RegExpExecArray): KdsSigner => (m[2] ? 'vlek' : 'vcek');
  return [
    [
      /^snp\/vcek\/(Milan|Genoa|Turin)\/([0-9a-f]+)-([0-9a-f]{16})\.der$/,
      (m) => {
        const chipId = new Uint8Array(64);
        chipId.set(Buffer.from(m[2]!, 'hex').subarray(0, 64));
        if (kdsHwid(chipId, product(m)) !== m[2]) return undefined;
        const tcb = BigInt(`0x${m[3]}`);
        return { what: snpVcekItem(e, product(m), chipId, tcb).what, lookup: store.snpVcek(product(m), chipId, tcb) };
      },
    ],
    [
      /^snp\/cert_chain\/(Milan|Genoa|Turin)(-vlek)?\.pem$/,
      (m) => ({
        what: snpCertChainItem(e, product(m), signer(m)).what,
        lookup: store.snpCertChain(product(m), signer(m)),
      }),
    ],
    [
      /^snp\/crl\/(Milan|Genoa|Turin)(-vlek)?\.der$/,
      (m) => ({ what: snpCrlItem(e, product(m), signer(m)).what, lookup: store.snpCrl(product(m), signer(m)) }),
    ],
    [
      /^tdx\/([0-9a-f]{12})\/tcbinfo\.json$/,
      (m) => ({ what: tdxTcbInfoItem(e, m[1]!).what, lookup: store.tdxTcbInfo(m[1]!) }),
    ],
    [/^tdx\/qeidentity\.json$/, () => ({ what: tdxQeIdentityItem(e).what, lookup: store.tdxQeIdentity() })],
    [
      /^tdx\/pckcrl-(platform|processor)\.der$/,
      (m) => ({ what: tdxPckCrlItem(e, m[1] as PckCa).what, lookup: store.tdxPckCrl(m[1] as PckCa) }),
    ],
    [/^tdx\/rootcrl\.der$/, () => ({ what: tdxRootCrlItem(e).what, lookup: store.tdxRootCrl() })],
    [
      /^nvidia\/rim\/(.+)\.xml$/,
      (m) => (isRimId(m[1]!) ? { what: `RIM ${m[1]}`, lookup: store.nvidiaRim(m[1]!) } : undefined),
    ],
  ];
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && d !== dir) return;
      throw err;
    }
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.isFile() && !e.name.endsWith('.tmp')) out.push(relative(dir, join(d, e.name)));
    }
  };
  await walk(dir);
  return out.sort();
}
